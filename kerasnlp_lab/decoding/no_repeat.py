"""The tokens that would repeat an n-gram of a hypothesis (`no_repeat_ngram_size`, as in
CTranslate2, fairseq and Hugging Face's generate), with core TensorFlow ops only.

A hypothesis is the token buffer of `kerasnlp_lab.decoding` (column 0 the start token, columns
1..step the generated ones): the next token, written at column step + 1, may not complete an
n-gram of generated tokens that the hypothesis already holds.
"""

import tensorflow as tf


def repeated_ngram_mask(tokens, step, ngram_size, vocab_size):
    """bool (N, V): True where the next token would repeat an n-gram of its row.

    Args:
        tokens: int32 (N, 1 + L), the hypotheses (see the module docstring).
        step: int32 scalar: columns 1..step hold generated tokens.
        ngram_size: n >= 1, a Python int (1: no token twice).
        vocab_size: V, an int or an int32 scalar.
    """
    if not isinstance(ngram_size, int) or ngram_size < 1:
        raise ValueError(f"ngram_size must be a positive int, received {ngram_size!r}")
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    rows, width = tf.shape(tokens)[0], tf.shape(tokens)[1]
    prefix_length = ngram_size - 1
    # The last n - 1 generated tokens (N, n - 1); clamped columns only occur when no earlier
    # n-gram exists, and then no start position below is valid.
    last = tf.gather(
        tokens, tf.maximum(step - prefix_length + 1 + tf.range(prefix_length), 0), axis=1
    )
    padded = tf.pad(tokens, [[0, 0], [0, ngram_size]], constant_values=-1)  # (N, 1 + L + n)
    # n-grams starting at column j (1 <= j <= step + 1 - n) whose first n - 1 tokens are `last`.
    matches = tf.ones([rows, width], tf.bool)
    for offset in range(prefix_length):
        matches &= tf.equal(padded[:, offset : offset + width], last[:, offset : offset + 1])
    starts = tf.range(width)
    matches &= ((starts >= 1) & (starts <= step + 1 - ngram_size))[tf.newaxis, :]
    following = padded[:, prefix_length : prefix_length + width]  # (N, 1 + L): the n-th tokens
    row_ids = tf.broadcast_to(tf.range(rows)[:, tf.newaxis], [rows, width])
    indices = tf.stack([row_ids, tf.clip_by_value(following, 0, vocab_size - 1)], axis=-1)
    banned = tf.tensor_scatter_nd_max(
        tf.zeros([rows, vocab_size], tf.int32),
        tf.reshape(indices, [-1, 2]),
        tf.reshape(tf.cast(matches, tf.int32), [-1]),
    )  # (N, V)
    return banned > 0
