"""Training losses (as in `keras.losses`): the padding-masked cross-entropy of the translators.

Target id 0 is padding: it does not count. The loss averages over the real target tokens
of a batch (not over sentences), so long and short sentences weigh by their length, as
in the papers. Under a tf.distribute strategy the batch is the global one: the token count
is summed over the replicas, so N replicas compute the gradient and report the loss one
process would, even when a batch splits unevenly (a bucket's last batch).
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
        loss = ops.sum(losses * mask) / _global_tokens(ops.sum(mask))
        return _reported_as_global(loss, ops.shape(y_true)[0])

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "pad_id": self.pad_id,
        }


def _global_tokens(tokens):
    """max(tokens, 1), with `tokens` summed over the replicas under a tf.distribute strategy.

    Keras sums the replicas' gradients and leaves a scalar loss unscaled, so each replica's
    token sum over the global count adds up to the mean over the global batch's tokens.
    """
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        tokens = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(tokens))
    return ops.maximum(tokens, 1.0)


def _reported_as_global(loss, rows):
    """`loss` with its gradient, valued so that Keras reports the global batch's loss.

    Keras' loss tracker takes each replica's loss times N, weighted by the replica's rows:
    the value loss * global rows / (N * rows) makes that the sum of the replicas' losses
    when a batch splits unevenly too (early stopping compares these values).
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return loss
    rows = ops.cast(rows, "float32")
    global_rows = context.all_reduce(tf.distribute.ReduceOp.SUM, rows)
    scale = global_rows / (context.num_replicas_in_sync * ops.maximum(rows, 1.0))
    return loss + ops.stop_gradient(loss * (scale - 1.0))
