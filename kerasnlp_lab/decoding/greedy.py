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
    select_rows=None,
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
        select_rows: None, or `(state, rows) -> state` keeping the rows `rows` (int32
            indices) of a state. Given, the rows that end leave the search: after a step
            in which some row ended, the state keeps only the rows still decoding, and
            `next_token_fn` sees those rows alone (of `tokens` and of the state), so
            finished rows cost nothing. Not with `return_state`.

    Returns:
        tokens int32 (B, max_length): the generated tokens, the end token included; a row
        that ends early is padded with `pad_id`. With `return_state`, (tokens, state).
        The loop stops when every row has produced `end_id`, or after max_length steps.
    """
    if select_rows is not None and return_state:
        raise ValueError("greedy_search: select_rows drops rows of the state; no return_state.")
    tokens = initial_tokens(batch_size, start_id, max_length, pad_id)  # (B, 1 + L)
    finished = tf.zeros([batch_size], tf.bool)  # (B,)
    if select_rows is not None:
        return _greedy_dropping_finished_rows(
            next_token_fn, initial_state, tokens, end_id, max_length, select_rows
        )

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


def _greedy_dropping_finished_rows(
    next_token_fn, initial_state, tokens, end_id, max_length, select_rows
):
    """`greedy_search` with `select_rows`: the loop carries `rows` (A,), the batch rows
    still decoding, and a state of those A rows."""
    rows = tf.range(tf.shape(tokens)[0])  # (A,)

    def not_done(step, tokens, rows, state):
        return tf.logical_and(step < max_length, tf.size(rows) > 0)

    def one_step(step, tokens, rows, state):
        logits, state = call_next_token(next_token_fn, tf.gather(tokens, rows), step, state)
        next_tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (A,)
        positions = tf.stack([rows, tf.fill(tf.shape(rows), step + 1)], axis=1)  # (A, 2)
        tokens = tf.tensor_scatter_nd_update(tokens, positions, next_tokens)
        ended = tf.equal(next_tokens, end_id)  # (A,)

        def drop_ended():
            kept = tf.cast(tf.where(tf.logical_not(ended))[:, 0], tf.int32)  # (A',)
            return tf.gather(rows, kept), select_rows(state, kept)

        rows, state = tf.cond(tf.reduce_any(ended), drop_ended, lambda: (rows, state))
        return step + 1, tokens, rows, state

    loop_vars = (tf.constant(0, tf.int32), tokens, rows, initial_state)
    _, tokens, _, _ = tf.while_loop(
        not_done, one_step, loop_vars, shape_invariants=batch_free_shapes(loop_vars)
    )
    return tokens[:, 1:]  # (B, L)
