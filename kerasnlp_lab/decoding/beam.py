"""Batched beam search in a `tf.while_loop` with core TensorFlow ops only.

Each row of the batch keeps `beam_size` hypotheses, laid out row-major in one batch of
B * beam_size rows (row b, beam k at b * beam_size + k). The state given to
`next_token_fn` is the initial state repeated per beam, and after each step every state
tensor is reordered with `tf.gather` by the parent beam of each surviving hypothesis:
state tensors must have the batch as their first dimension.

A hypothesis ends at `end_id`; after that it continues only with `pad_id`, at no cost, so
its score stays the same. Hypotheses are ranked by score / GNMT length penalty
((5 + length) / 6) ** alpha (Wu et al., 2016), length counting generated tokens up to and
including the end token; alpha = 0 ranks by the plain sum of log-probabilities. Alive and
ended hypotheses compete in one pool at every step. The search stops after max_length
steps, or once no alive hypothesis of any row can still overtake its row's best ended one
(`rows_decided`); if it ran max_length steps, unfinished hypotheses compete too.
"""

import tensorflow as tf

from kerasnlp_lab.decoding.buffers import batch_free_shapes, initial_tokens, write_at
from kerasnlp_lab.decoding.greedy import call_next_token
from kerasnlp_lab.errors import UserError

# Log-probability of impossible continuations, and the initial score of the beams that
# duplicate beam 0 before the first step. Finite, so no inf - inf can make a NaN.
_IMPOSSIBLE = -1e9


def length_penalty(length, alpha):
    """GNMT's length penalty ((5 + length) / 6) ** alpha, float32, elementwise."""
    length = tf.cast(length, tf.float32)
    return tf.pow((5.0 + length) / 6.0, tf.cast(alpha, tf.float32))


def repeat_beams(structure, beam_size):
    """Every tensor of `structure` (B, ...) -> (B * beam_size, ...), each row repeated."""
    return tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), structure)


def gather_rows(structure, indices):
    """Every tensor of `structure` with its rows (first axis) taken at `indices`."""
    return tf.nest.map_structure(lambda x: tf.gather(x, indices), structure)


def rows_decided(scores, lengths, finished, max_length, beam_size, alpha):
    """bool (B,): rows whose best ended hypothesis no alive hypothesis can overtake.

    A log-probability sum only decreases as tokens are added, so an alive hypothesis with
    score s and length n can reach at most s / max(lp(n + 1), lp(max_length)) (lp is
    monotonic in the length): the search of a row can stop once an ended hypothesis ranks
    at least that high, without changing its result.
    """
    ended_ranking = tf.where(finished, scores / length_penalty(lengths, alpha), -float("inf"))
    best_reachable = scores / tf.maximum(
        length_penalty(lengths + 1, alpha), length_penalty(max_length, alpha)
    )
    alive_bound = tf.where(finished, -float("inf"), best_reachable)
    best_ended = tf.reduce_max(tf.reshape(ended_ranking, [-1, beam_size]), axis=1)  # (B,)
    best_alive = tf.reduce_max(tf.reshape(alive_bound, [-1, beam_size]), axis=1)  # (B,)
    return best_ended >= best_alive


def beam_search(
    next_token_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    beam_size=4,
    length_penalty_alpha=0.0,
    pad_id=0,
    return_state=False,
):
    """The best of `beam_size` hypotheses per row, by length-penalized log-probability.

    Args:
        next_token_fn: `(tokens, step, state) -> (logits, new_state)` as for
            `greedy_search`, called on B * beam_size rows.
        initial_state: nested structure of tensors (B, ...), or () for none; repeated per
            beam and reordered by parent beam after each step.
        batch_size: B, an int or an int32 scalar tensor.
        start_id, end_id, pad_id: token ids.
        max_length: the most tokens generated per row (the end token included).
        beam_size: hypotheses kept per row (a Python int >= 1).
        length_penalty_alpha: alpha of the GNMT length penalty; 0 for raw log-prob sums.
        return_state: also return the final state of each row's best hypothesis.

    Returns:
        tokens int32 (B, max_length): the best hypothesis, end token included, padded with
        `pad_id` after it; scores float32 (B,): its log-probability / length penalty.
        With `return_state`, (tokens, scores, state) where the state has B rows.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam_size must be a positive int, received {beam_size!r}")
    flat_size = batch_size * beam_size
    tokens = initial_tokens(flat_size, start_id, max_length, pad_id)  # (B*K, 1 + L)
    # Before the first step all beams of a row are the same: only beam 0 may expand.
    first_scores = tf.constant([0.0] + [_IMPOSSIBLE] * (beam_size - 1))  # (K,)
    scores = tf.tile(first_scores, [batch_size])  # (B*K,)
    lengths = tf.zeros([flat_size], tf.int32)  # (B*K,)
    finished = tf.zeros([flat_size], tf.bool)  # (B*K,)
    state = repeat_beams(initial_state, beam_size)
    row_offsets = tf.range(batch_size)[:, None] * beam_size  # (B, 1)

    def not_done(step, tokens, scores, lengths, finished, state):
        rows_done = rows_decided(
            scores, lengths, finished, max_length, beam_size, length_penalty_alpha
        )
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(rows_done)))

    def one_step(step, tokens, scores, lengths, finished, state):
        logits, state = call_next_token(next_token_fn, tokens, step, state)
        log_probs = tf.nn.log_softmax(logits)  # (B*K, V)
        vocab_size = tf.shape(log_probs)[1]
        # An ended hypothesis has one continuation, pad_id, that costs nothing.
        pad_only = tf.where(tf.equal(tf.range(vocab_size), pad_id), 0.0, _IMPOSSIBLE)  # (V,)
        log_probs = tf.where(finished[:, None], pad_only[None, :], log_probs)
        candidate_scores = scores[:, None] + log_probs  # (B*K, V)
        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # (B*K,)
        penalties = length_penalty(candidate_lengths, length_penalty_alpha)  # (B*K,)
        ranking = candidate_scores / penalties[:, None]  # (B*K, V)
        ranking = tf.reshape(ranking, [-1, beam_size * vocab_size])  # (B, K*V)
        _, best = tf.math.top_k(ranking, k=beam_size)  # (B, K)
        parents = tf.reshape(best // vocab_size + row_offsets, [-1])  # (B*K,)
        next_tokens = tf.reshape(best % vocab_size, [-1])  # (B*K,)

        scores = tf.gather(tf.reshape(candidate_scores, [-1]), parents * vocab_size + next_tokens)
        lengths = tf.gather(candidate_lengths, parents)
        finished = tf.gather(finished, parents)
        tokens, state = gather_rows((tokens, state), parents)
        tokens = write_at(tokens, step + 1, next_tokens)
        finished = tf.logical_or(finished, tf.equal(next_tokens, end_id))
        return step + 1, tokens, scores, lengths, finished, state

    loop_vars = (tf.constant(0, tf.int32), tokens, scores, lengths, finished, state)
    _, tokens, scores, lengths, _, state = tf.while_loop(
        not_done, one_step, loop_vars, shape_invariants=batch_free_shapes(loop_vars)
    )

    final_scores = scores / length_penalty(lengths, length_penalty_alpha)  # (B*K,)
    final_scores = tf.reshape(final_scores, [-1, beam_size])  # (B, K)
    best_beam = tf.argmax(final_scores, axis=1, output_type=tf.int32)  # (B,)
    best_rows = best_beam + row_offsets[:, 0]  # (B,)
    best_tokens = tf.gather(tokens, best_rows)[:, 1:]  # (B, L)
    best_scores = tf.reduce_max(final_scores, axis=1)  # (B,)
    if return_state:
        return best_tokens, best_scores, gather_rows(state, best_rows)
    return best_tokens, best_scores
