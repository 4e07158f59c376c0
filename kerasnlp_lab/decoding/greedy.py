"""Batched greedy decoding in a `tf.while_loop` with core TensorFlow ops only."""

import tensorflow as tf

from kerasnlp_lab.decoding.buffers import batch_free_shapes, initial_tokens, write_at


def call_next_token(next_token_fn, tokens, step, state):
    """`next_token_fn(tokens, step, state)`, checking that logits have one row per token row."""
    logits, state = next_token_fn(tokens, step, state)
    tf.debugging.assert_equal(
        tf.shape(logits)[0],
        tf.shape(tokens)[0],
        message="next_token_fn must return logits (N, V) with one row per row of tokens "
        "(N = batch size, times beam size in beam search); received another number of rows",
    )
    return tf.cast(logits, tf.float32), state


def greedy_search(
    next_token_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    pad_id=0,
    return_state=False,
):
    """Picks the most likely next token at every step until each row ends.

    Args:
        next_token_fn: `(tokens, step, state) -> (logits, new_state)`, see the package
            docstring: `tokens` int32 (B, 1 + max_length) holds `start_id` in column 0
            and the token chosen at step i in column i + 1 (`pad_id` beyond `step`);
            `logits` float (B, V) score the token of column `step + 1`.
        initial_state: nested structure of tensors (B, ...), or () for none.
        batch_size: B, an int or an int32 scalar tensor.
        start_id, end_id, pad_id: token ids.
        max_length: the most tokens generated per row (the end token included); an int
            or an int32 scalar tensor.
        return_state: also return the state after the last step.

    Returns:
        tokens int32 (B, max_length): the generated tokens, the end token included; a row
        that ends early is padded with `pad_id`. With `return_state`, (tokens, state).
        The loop stops when every row has produced `end_id`, or after max_length steps.
    """
    tokens = initial_tokens(batch_size, start_id, max_length, pad_id)  # (B, 1 + L)
    finished = tf.zeros([batch_size], tf.bool)  # (B,)

    def not_done(step, tokens, finished, state):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def one_step(step, tokens, finished, state):
        logits, state = call_next_token(next_token_fn, tokens, step, state)
        next_tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B,)
        next_tokens = tf.where(finished, tf.cast(pad_id, tf.int32), next_tokens)
        tokens = write_at(tokens, step + 1, next_tokens)
        finished = tf.logical_or(finished, tf.equal(next_tokens, end_id))
        return step + 1, tokens, finished, state

    loop_vars = (tf.constant(0, tf.int32), tokens, finished, initial_state)
    _, tokens, _, state = tf.while_loop(
        not_done, one_step, loop_vars, shape_invariants=batch_free_shapes(loop_vars)
    )
    tokens = tokens[:, 1:]  # (B, L)
    return (tokens, state) if return_state else tokens
