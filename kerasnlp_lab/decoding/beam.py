"""Batched beam search in a `tf.while_loop` with core TensorFlow ops only.

Each row of the batch keeps `beam_size` hypotheses, laid out row-major in one batch of
B * beam_size rows (row b, beam k at b * beam_size + k). The state given to
`next_token_fn` is the initial state repeated per beam, and after each step every state
tensor is reordered with `tf.gather` by the parent beam of each surviving hypothesis:
state tensors must have the batch as their first dimension.

Two pools per row, as in GNMT, OpenNMT and keras-hub: `beam_size` alive hypotheses, and the
`beam_size` best finished ones (ended at `end_id`). At every step the 2 * beam_size best
continuations of the alive hypotheses are scored; those that end go to the finished pool
(kept if they rank among its best), the best `beam_size` that do not end stay alive. So a
finished hypothesis is never evicted by alive ones that later end worse. Finished
hypotheses are ranked by score / GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al.,
2016), length counting generated tokens up to and including the end token; alpha = 0 ranks
by the plain sum of log-probabilities. Alive hypotheses all have the same length, so they
are ranked by their score. The search stops after max_length steps, or once no alive
hypothesis of any row can still overtake its row's best finished one (`rows_decided`); if
it ran max_length steps, the unfinished hypotheses compete too. `beam_search_nbest` returns
the whole pool, best first, and searches until no alive hypothesis can overtake its row's
worst result, so its n-best is exact: the `beam_size` best hypotheses the beam found.
"""

import tensorflow as tf

from kerasnlp_lab.decoding.buffers import batch_free_shapes, initial_tokens, write_at
from kerasnlp_lab.decoding.greedy import call_next_token
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.numerics import LARGE_NEGATIVE

# Log-probability of impossible continuations, and the initial score of the beams that
# duplicate beam 0 before the first step.
_IMPOSSIBLE = LARGE_NEGATIVE
# A score at or below this comes from an impossible continuation: never a result.
_POSSIBLE_ABOVE = _IMPOSSIBLE / 2


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


def rows_decided(alive_scores, length, finished_ranking, max_length, alpha):
    """bool (B,): rows whose best finished hypothesis no alive hypothesis can overtake.

    A log-probability sum only decreases as tokens are added, so an alive hypothesis with
    score s and length n can reach at most s / max(lp(n + 1), lp(max_length)) (lp is
    monotonic in the length): the search of a row can stop once a finished hypothesis
    ranks at least that high, without changing its result.

    Args:
        alive_scores: float32 (B, K) log-probability sums of the alive hypotheses.
        length: int32 scalar, the length of every alive hypothesis.
        finished_ranking: float32 (B, N) length-penalized scores of the finished hypotheses
            the search returns (the best one, or the whole pool): a row is decided once the
            worst of them ranks at least as high.
    """
    best_reachable = tf.reduce_max(alive_scores, axis=1) / tf.maximum(
        length_penalty(length + 1, alpha), length_penalty(max_length, alpha)
    )  # (B,)
    return tf.reduce_min(finished_ranking, axis=1) >= best_reachable


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
):
    """The best hypothesis per row: tokens int32 (B, max_length) and its score float32 (B,).

    Arguments as for `_search`; the search stops as soon as each row's best finished
    hypothesis is decided.
    """
    tokens, scores = _search(
        next_token_fn,
        initial_state,
        batch_size,
        start_id,
        end_id,
        max_length,
        beam_size,
        length_penalty_alpha,
        pad_id,
        decide_all=False,
    )
    return tokens[:, 0], scores[:, 0]


def beam_search_nbest(
    next_token_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    beam_size=4,
    length_penalty_alpha=0.0,
    pad_id=0,
):
    """The `beam_size` best hypotheses per row, best first, by length-penalized log-probability.

    Arguments as for `_search`. Returns tokens int32 (B, beam_size, max_length) and scores
    float32 (B, beam_size). A slot holds no tokens (all `pad_id`) and the score
    `LARGE_NEGATIVE` only when fewer than `beam_size` continuations were possible at all.
    """
    return _search(
        next_token_fn,
        initial_state,
        batch_size,
        start_id,
        end_id,
        max_length,
        beam_size,
        length_penalty_alpha,
        pad_id,
        decide_all=True,
    )


def _search(
    next_token_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    beam_size,
    length_penalty_alpha,
    pad_id,
    decide_all,
):
    """The pool of `beam_size` hypotheses per row, best first (see the module docstring).

    Args:
        next_token_fn: `(tokens, step, state) -> (logits, new_state)` as for
            `greedy_search`, called on the B * beam_size alive rows.
        initial_state: nested structure of tensors (B, ...), or () for none; repeated per
            beam and reordered by parent beam after each step. What never changes during
            decoding (e.g. encoder outputs) is better closed over by `next_token_fn`,
            repeated once with `repeat_beams`: a row's beams share their source, so it
            needs no reordering.
        batch_size: B, an int or an int32 scalar tensor.
        start_id, end_id, pad_id: token ids.
        max_length: the most tokens generated per row (the end token included).
        beam_size: hypotheses kept per row, alive and finished (a Python int >= 1).
        length_penalty_alpha: alpha of the GNMT length penalty; 0 for raw log-prob sums.
        decide_all: search until every hypothesis of the returned pool is decided, not only
            the best.

    Returns:
        tokens int32 (B, beam_size, max_length): the hypotheses, end token included, padded
        with `pad_id` after it; scores float32 (B, beam_size): log-probability / length
        penalty, descending.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise UserError(f"beam_size must be a positive int, received {beam_size!r}")
    num_candidates = 2 * beam_size  # at most beam_size of them end: beam_size stay alive
    flat_size = batch_size * beam_size
    tokens = initial_tokens(flat_size, start_id, max_length, pad_id)  # (B*K, 1 + L)
    width = tokens.shape[1] or tf.shape(tokens)[1]  # 1 + L, static when known
    # Before the first step all beams of a row are the same: only beam 0 may expand.
    first_scores = tf.constant([0.0] + [_IMPOSSIBLE] * (beam_size - 1))  # (K,)
    scores = tf.tile(first_scores[None, :], [batch_size, 1])  # (B, K)
    finished_tokens = tf.reshape(tokens, [batch_size, beam_size, width])  # (B, K, 1 + L)
    finished_scores = tf.zeros([batch_size, beam_size])  # (B, K)
    finished_ranking = tf.fill([batch_size, beam_size], -float("inf"))  # (B, K)
    state = repeat_beams(initial_state, beam_size)
    row_offsets = tf.range(batch_size)[:, None] * beam_size  # (B, 1)

    def not_done(step, tokens, scores, finished_tokens, finished_scores, finished_ranking, state):
        returned = finished_ranking if decide_all else finished_ranking[:, :1]
        rows_done = rows_decided(scores, step, returned, max_length, length_penalty_alpha)
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(rows_done)))

    def one_step(step, tokens, scores, finished_tokens, finished_scores, finished_ranking, state):
        logits, state = call_next_token(next_token_fn, tokens, step, state)
        log_probs = tf.nn.log_softmax(logits)  # (B*K, V)
        vocab_size = tf.shape(log_probs)[1]
        candidate_scores = tf.reshape(scores, [-1, 1]) + log_probs  # (B*K, V)
        candidate_scores = tf.reshape(candidate_scores, [-1, beam_size * vocab_size])  # (B, K*V)
        top_scores, best = tf.math.top_k(candidate_scores, k=num_candidates)  # (B, 2K)
        parents = best // vocab_size + row_offsets  # (B, 2K) flat alive rows
        next_tokens = best % vocab_size  # (B, 2K)
        candidate_tokens = write_at(
            tf.gather(tokens, tf.reshape(parents, [-1])), step + 1, tf.reshape(next_tokens, [-1])
        )  # (B*2K, 1 + L)
        candidate_tokens = tf.reshape(candidate_tokens, [batch_size, num_candidates, width])
        ends = tf.equal(next_tokens, end_id)  # (B, 2K)
        possible = top_scores > _POSSIBLE_ABOVE  # (B, 2K)

        # The finished pool: its best K among itself and the candidates that end now.
        ranking = top_scores / length_penalty(step + 1, length_penalty_alpha)  # (B, 2K)
        ranking = tf.where(ends & possible, ranking, -float("inf"))
        pool_ranking = tf.concat([finished_ranking, ranking], axis=1)  # (B, 3K)
        finished_ranking, kept = tf.math.top_k(pool_ranking, k=beam_size)  # (B, K)
        finished_scores = tf.gather(
            tf.concat([finished_scores, top_scores], axis=1), kept, batch_dims=1
        )  # (B, K)
        finished_tokens = tf.gather(
            tf.concat([finished_tokens, candidate_tokens], axis=1), kept, batch_dims=1
        )  # (B, K, 1 + L)

        # The alive pool: the best K candidates that do not end.
        alive_scores = tf.where(ends, _IMPOSSIBLE + top_scores, top_scores)  # (B, 2K)
        scores, alive = tf.math.top_k(alive_scores, k=beam_size)  # (B, K)
        tokens = tf.reshape(
            tf.gather(candidate_tokens, alive, batch_dims=1), [flat_size, width]
        )  # (B*K, 1 + L)
        state = gather_rows(state, tf.reshape(tf.gather(parents, alive, batch_dims=1), [-1]))
        return step + 1, tokens, scores, finished_tokens, finished_scores, finished_ranking, state

    loop_vars = (
        tf.constant(0, tf.int32),
        tokens,
        scores,
        finished_tokens,
        finished_scores,
        finished_ranking,
        state,
    )
    step, tokens, scores, finished_tokens, finished_scores, finished_ranking, _ = tf.while_loop(
        not_done, one_step, loop_vars, shape_invariants=batch_free_shapes(loop_vars)
    )

    # After max_length steps the unfinished hypotheses (of length max_length) compete too.
    alive_ranking = scores / length_penalty(step, length_penalty_alpha)  # (B, K)
    alive_competes = tf.logical_and(step >= max_length, scores > _POSSIBLE_ABOVE)  # (B, K)
    alive_ranking = tf.where(alive_competes, alive_ranking, -float("inf"))
    pool_tokens = tf.concat(
        [finished_tokens, tf.reshape(tokens, [batch_size, beam_size, width])], axis=1
    )  # (B, 2K, 1 + L); on equal ranking the finished hypothesis comes first
    ranking, best = tf.math.top_k(tf.concat([finished_ranking, alive_ranking], axis=1), beam_size)
    found = ranking > -float("inf")  # (B, K)
    best_tokens = tf.gather(pool_tokens, best, batch_dims=1)[:, :, 1:]  # (B, K, L)
    best_tokens = tf.where(found[:, :, None], best_tokens, pad_id)
    return best_tokens, tf.where(found, ranking, _IMPOSSIBLE)
