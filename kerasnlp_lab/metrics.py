"""Training metrics (as in `keras.metrics`): the padding-masked token accuracy of the
translators."""

import keras
from keras import ops

from kerasnlp_lab.text.vectorizer import PAD_ID


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class MaskedAccuracy(keras.metrics.Metric):
    """The fraction of non-pad target tokens whose argmax prediction is right."""

    def __init__(self, pad_id=PAD_ID, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")  # (B, T)
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")  # (B, T)
        hits = ops.cast(ops.equal(predicted, y_true), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
