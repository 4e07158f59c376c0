"""Seeded sampling of the next token, for a whole batch at once (same seed, same text)."""

import tensorflow as tf

# splitmix64 (Steele, Lea and Flood 2014): a counter-based generator, so each row's random
# numbers are a pure function of its (seed, step, token id), computed for the whole batch
# at once with elementwise uint64 ops (wrapping arithmetic).
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MIX = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))
_FINAL_SHIFT = 31
_FLOAT_BITS = 24  # the top bits of a hash that make a float32 in (0, 1)


def _mix(x):
    """splitmix64's finalizer: a uint64 bijection that scatters every input bit."""
    x = x + tf.constant(_GOLDEN_GAMMA, tf.uint64)
    for shift, multiplier in _MIX:
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift, tf.uint64)))
        x = x * tf.constant(multiplier, tf.uint64)
    return tf.bitwise.bitwise_xor(
        x, tf.bitwise.right_shift(x, tf.constant(_FINAL_SHIFT, tf.uint64))
    )


def uniform_noise(seed, step, num_ids):
    """float32 (B, num_ids) in (0, 1): a pure function of each row's seed, the step and the
    column, independent of the other rows of the batch.

    Args:
        seed: int64 (B,).
        step: int64 scalar.
        num_ids: int32 scalar.
    """
    row = _mix(tf.bitwise.bitwise_xor(tf.cast(seed, tf.uint64), _mix(tf.cast(step, tf.uint64))))
    columns = tf.cast(tf.range(num_ids), tf.uint64) * tf.constant(_GOLDEN_GAMMA, tf.uint64)
    bits = _mix(row[:, None] + columns[None, :])  # (B, V)
    top = tf.bitwise.right_shift(bits, tf.constant(64 - _FLOAT_BITS, tf.uint64))
    return (tf.cast(top, tf.float32) + 0.5) * (2.0**-_FLOAT_BITS)  # (B, V), never 0 or 1


def sample_categorical(logits, temperature, seed, step, forbidden_ids=()):
    """One token per row, sampled from softmax(logits / temperature).

    Gumbel-max: the argmax of `logits / temperature - log(-log(u))` with u uniform noise
    from `uniform_noise`, seeded per row by (seed, step): a row's token depends only on its
    logits, temperature, seed and the step, never on the other rows of the batch, and the
    same request always gives the same text. The whole batch takes a fixed number of
    elementwise ops (no loop over rows).

    Args:
        logits: float (B, V).
        temperature: float scalar or (B,). A row with temperature <= 0 takes the argmax
            (greedy); small positive temperatures approach it.
        seed: int64 scalar or (B,), one seed per row.
        step: int scalar, the decoding step (the second half of each row's seed).
        forbidden_ids: Python ints never returned (e.g. the padding and OOV ids); at
            least one id must stay allowed.

    Returns:
        int32 (B,) token ids.

    Reference:
        Gumbel-max trick: Maddison, Tarlow and Minka, "A* Sampling", 2014,
        https://arxiv.org/abs/1411.0030
    """
    logits = tf.cast(logits, tf.float32)  # (B, V)
    batch_size, num_ids = tf.shape(logits)[0], tf.shape(logits)[1]
    if forbidden_ids:
        vocab_ids = tf.range(num_ids)  # (V,)
        forbidden = tf.reduce_any(tf.equal(vocab_ids[:, None], list(forbidden_ids)), axis=1)
        logits = tf.where(forbidden[None, :], float("-inf"), logits)
    temperature = tf.broadcast_to(tf.cast(temperature, tf.float32), [batch_size])  # (B,)
    seed = tf.broadcast_to(tf.cast(seed, tf.int64), [batch_size])  # (B,)

    # With the row maximum at 0, dividing by a tiny temperature gives -inf, never NaN.
    shifted = logits - tf.reduce_max(logits, axis=1, keepdims=True)  # (B, V)
    safe_temperature = tf.where(temperature > 0.0, temperature, 1.0)  # (B,)
    gumbel = -tf.math.log(-tf.math.log(uniform_noise(seed, tf.cast(step, tf.int64), num_ids)))
    sampled = tf.argmax(shifted / safe_temperature[:, None] + gumbel, axis=1, output_type=tf.int32)
    greedy = tf.argmax(logits, axis=1, output_type=tf.int32)  # (B,)
    return tf.where(temperature > 0.0, sampled, greedy)
