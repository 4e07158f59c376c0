"""Training glue shared by the translation models: the padding-masked loss and accuracy.

Target id 0 is padding: it counts neither in the loss nor in the accuracy. Both average
over the real target tokens of a batch (not over sentences), so long and short sentences
weigh by their length, as in the papers.
"""

import keras
from keras import ops

PAD_ID = 0


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of logits (B, T, V) against ids (B, T), averaged over non-pad tokens.

    Args:
        label_smoothing: mass moved from the true class to a uniform distribution over
            the vocabulary (0.1 in the Transformer paper; 0 is plain cross-entropy).
        pad_id: the id that marks padding.
    """

    def __init__(self, label_smoothing=0.0, pad_id=PAD_ID, name="masked_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        log_probs = ops.log_softmax(logits, axis=-1)  # (B, T, V)
        true_log_probs = ops.take_along_axis(log_probs, y_true[..., None], axis=-1)[..., 0]  # (B, T)
        losses = -true_log_probs
        if self.label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)  # (B, T)
            losses = (1.0 - self.label_smoothing) * losses + self.label_smoothing * uniform
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")  # (B, T)
        return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "pad_id": self.pad_id}


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
