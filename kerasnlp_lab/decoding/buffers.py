"""Fixed-shape buffers for decoding loops: writing one step without XLA ops.

`keras.ops.slice_update` emits `XlaDynamicUpdateSlice` on the TensorFlow backend, which
stock TF Serving cannot run; `write_at` does the same update with a core `SelectV2`.
"""

import tensorflow as tf


def write_at(buffer, index, values):
    """`buffer` with `buffer[:, index] = values`, as a new tensor.

    Args:
        buffer: tensor (B, T, ...) of known rank.
        index: int32 scalar (tensor or int), the position along axis 1.
        values: tensor (B, ...) matching `buffer` without axis 1; cast to its dtype.

    Returns:
        A tensor of the shape and dtype of `buffer`. An index outside [0, T) writes nothing.
    """
    buffer = tf.convert_to_tensor(buffer)
    values = tf.cast(values, buffer.dtype)
    at_index = tf.equal(tf.range(tf.shape(buffer)[1]), index)  # (T,)
    at_index = tf.reshape(at_index, [1, -1] + [1] * (buffer.shape.rank - 2))  # (1, T, 1, ...)
    return tf.where(at_index, tf.expand_dims(values, 1), buffer)


def initial_tokens(batch_size, start_id, max_length, pad_id):
    """The token buffer (B, 1 + max_length): `start_id` in column 0, `pad_id` after it."""
    start = tf.fill([batch_size, 1], tf.cast(start_id, tf.int32))  # (B, 1)
    padding = tf.fill([batch_size, max_length], tf.cast(pad_id, tf.int32))  # (B, L)
    return tf.concat([start, padding], axis=1)  # (B, 1 + L)


def batch_free_shapes(structure):
    """`tf.while_loop` shape invariants: each tensor's shape with its first axis unknown,
    and every axis of size 0 unknown too.

    Loop variables then keep their shapes whether or not an op inside the loop (a gather,
    a top_k) loses the static batch size; an axis that starts empty may grow (a key/value
    cache that holds one more position after each step).
    """

    def batch_free(tensor):
        shape = tf.convert_to_tensor(tensor).shape
        if shape.rank in (None, 0):
            return shape
        return tf.TensorShape([None] + [None if size == 0 else size for size in shape[1:]])

    return tf.nest.map_structure(batch_free, structure)
