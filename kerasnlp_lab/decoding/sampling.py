"""Seeded sampling of the next token with stateless random ops (same seed, same text)."""

import tensorflow as tf


def sample_categorical(logits, temperature, seed, step, forbidden_ids=()):
    """One token per row, sampled from softmax(logits / temperature).

    Every row draws with its own stateless seed pair (seed, step), so a row's token depends
    only on its logits, temperature, seed and the step: never on the other rows of the
    batch, and the same request always gives the same text.

    Args:
        logits: float (B, V).
        temperature: float scalar or (B,). A row with temperature <= 0 takes the argmax
            (greedy); small positive temperatures approach it.
        seed: int64 scalar or (B,), one seed per row.
        step: int scalar, the decoding step (the second half of each row's seed pair).
        forbidden_ids: Python ints never returned (e.g. the padding and OOV ids); at
            least one id must stay allowed.

    Returns:
        int32 (B,) token ids.
    """
    logits = tf.cast(logits, tf.float32)  # (B, V)
    batch_size = tf.shape(logits)[0]
    if forbidden_ids:
        vocab_ids = tf.range(tf.shape(logits)[1])  # (V,)
        forbidden = tf.reduce_any(tf.equal(vocab_ids[:, None], list(forbidden_ids)), axis=1)
        logits = tf.where(forbidden[None, :], float("-inf"), logits)
    temperature = tf.broadcast_to(tf.cast(temperature, tf.float32), [batch_size])  # (B,)
    seed = tf.broadcast_to(tf.cast(seed, tf.int64), [batch_size])  # (B,)
    step = tf.cast(step, tf.int64)

    # With the row maximum at 0, dividing by a tiny temperature gives -inf, never NaN.
    shifted = logits - tf.reduce_max(logits, axis=1, keepdims=True)  # (B, V)
    safe_temperature = tf.where(temperature > 0.0, temperature, 1.0)  # (B,)
    scaled = shifted / safe_temperature[:, None]  # (B, V)

    def sample_row(row):
        row_logits, row_seed = row
        sample = tf.random.stateless_categorical(
            row_logits[None, :], 1, seed=tf.stack([row_seed, step]), dtype=tf.int32
        )  # (1, 1)
        return sample[0, 0]

    sampled = tf.map_fn(sample_row, (scaled, seed), fn_output_signature=tf.int32)  # (B,)
    greedy = tf.argmax(logits, axis=1, output_type=tf.int32)  # (B,)
    return tf.where(temperature > 0.0, sampled, greedy)
