"""Training losses (as in `keras.losses`): the padding-masked cross-entropy of the translators.

Target id 0 is padding: it does not count. The loss averages over the real target tokens
of a batch (not over sentences), so long and short sentences weigh by their length, as
in the papers. Under a tf.distribute strategy the batch is the global one: the token count
is summed over the replicas, so N replicas compute the gradient one process would.
"""

import keras
import tensorflow as tf
from keras import ops

from kerasnlp_lab.text.vectorizer import PAD_ID


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of logits (B, T, V) against ids (B, T), averaged over non-pad tokens.

    Args:
        label_smoothing: mass moved from the true class to a uniform distribution over
            the vocabulary (0.1 in the Transformer paper; 0 is plain cross-entropy).
        pad_id: the id that marks padding.
    """

    def __init__(
        self, label_smoothing=0.0, pad_id=PAD_ID, name="masked_sparse_crossentropy", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        log_probs = ops.log_softmax(logits, axis=-1)  # (B, T, V)
        true_log_probs = ops.take_along_axis(log_probs, y_true[..., None], axis=-1)[
            ..., 0
        ]  # (B, T)
        losses = -true_log_probs
        if self.label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)  # (B, T)
            losses = (1.0 - self.label_smoothing) * losses + self.label_smoothing * uniform
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")  # (B, T)
        return ops.sum(losses * mask) / _tokens_per_replica(ops.sum(mask))

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "pad_id": self.pad_id,
        }


def _tokens_per_replica(tokens):
    """max(tokens, 1) in one process; under N replicas, the global batch's tokens / N.

    Keras divides each replica's loss by N and sums the replicas' gradients, so a replica's
    sum over its tokens divided by (global tokens / N) adds up to the global token mean.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.maximum(tokens, 1.0)
    replicas = context.num_replicas_in_sync
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(tokens))
    return ops.maximum(total, 1.0) / replicas
