"""Greedy and beam search on toy next-token functions with known answers."""

import itertools

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.decoding import (
    beam_search,
    beam_search_nbest,
    greedy_search,
    length_penalty,
    write_at,
)
from kerasnlp_lab.decoding.beam import gather_rows
from kerasnlp_lab.errors import UserError
from tests.decoding.conftest import (
    BEST_SEQUENCE,
    END,
    GREEDY_SEQUENCE,
    LOW,
    MARKOV_LOGITS,
    PAD,
    START,
    VOCAB_SIZE,
    A,
    B,
    C,
    countdown_next_token,
    markov_fn,
    markov_log_prob,
    per_row_markov_fn,
    random_markov_logits,
    recording,
)
from tests.export_checks import saved_model_op_types


def padded(sequence, length):
    return list(sequence) + [PAD] * (length - len(sequence))


def test_greedy_takes_the_locally_best_token():
    tokens = greedy_search(markov_fn(MARKOV_LOGITS), (), 2, START, END, max_length=5)
    assert tokens.dtype == tf.int32
    assert tokens.numpy().tolist() == [padded(GREEDY_SEQUENCE, 5)] * 2


@pytest.mark.parametrize("beam_size", [2, 4])
def test_beam_search_finds_the_best_sequence_that_greedy_misses(beam_size):
    tokens, scores = beam_search(
        markov_fn(MARKOV_LOGITS), (), 2, START, END, max_length=5, beam_size=beam_size
    )
    assert tokens.numpy().tolist() == [padded(BEST_SEQUENCE, 5)] * 2
    expected = markov_log_prob(MARKOV_LOGITS, BEST_SEQUENCE)
    np.testing.assert_allclose(scores.numpy(), [expected] * 2, rtol=1e-6)
    np.testing.assert_allclose(expected, np.log(0.36), rtol=1e-5)


def keras_hub_beam_search(tables, max_length, beam_size):
    """keras_hub's BeamSampler on one Markov table per row (prompt: start id, padding)."""
    next_token = per_row_markov_fn(tables)
    batch_size = len(tables)

    def next(prompt, cache, index):
        # keras_hub fills column `index` with the logits it gets: ours for step index - 1.
        logits, cache = next_token(prompt, index - 1, cache)
        return logits, None, cache

    prompt = tf.concat(
        [tf.fill([batch_size, 1], START), tf.fill([batch_size, max_length], PAD)], axis=1
    )
    sampler = keras_hub.samplers.BeamSampler(num_beams=beam_size)
    table_ids = tf.range(batch_size)
    return sampler(next, prompt, cache=table_ids, index=1, stop_token_ids=[END])[:, 1:]


@pytest.mark.parametrize("beam_size", [2, 3])
def test_beam_search_agrees_with_keras_hub_beam_sampler(beam_size):
    # One row for the hand-made chain, and rows whose random chains make beams of every
    # kind (some rows end at once, others run to max_length, greedy differs from beam).
    tables = [MARKOV_LOGITS] + [random_markov_logits(seed) for seed in range(7)]
    ours, _ = beam_search(
        per_row_markov_fn(tables),
        tf.range(len(tables)),
        len(tables),
        START,
        END,
        max_length=6,
        beam_size=beam_size,
    )
    theirs = keras_hub_beam_search(tables, max_length=6, beam_size=beam_size)
    assert ours.numpy()[0].tolist() == padded(BEST_SEQUENCE, 6)
    assert ours.numpy().tolist() == np.asarray(theirs).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_beam_size_one_is_never_worse_than_greedy(seed):
    # One alive hypothesis follows the greedy path; the finished pool also keeps an ending
    # that was second best at its step, so beam 1 returns greedy's sequence or a better one.
    logits = random_markov_logits(seed, vocab_size=8)
    greedy = greedy_search(markov_fn(logits), (), 3, START, END, max_length=7)
    beam, scores = beam_search(markov_fn(logits), (), 3, START, END, max_length=7, beam_size=1)
    greedy_sequence = [token for token in greedy.numpy()[0].tolist() if token != PAD]
    beam_sequence = [token for token in beam.numpy()[0].tolist() if token != PAD]
    assert beam.numpy().tolist() == [beam.numpy()[0].tolist()] * 3
    np.testing.assert_allclose(
        scores.numpy(), [markov_log_prob(logits, beam_sequence)] * 3, rtol=1e-5
    )
    assert scores.numpy()[0] >= markov_log_prob(logits, greedy_sequence) - 1e-5
    if beam_sequence != greedy_sequence:  # an ending greedy passed by, one step off its path
        assert beam_sequence[-1] == END
        assert beam_sequence[:-1] == greedy_sequence[: len(beam_sequence) - 1]


def brute_force_best(logits, max_length, alpha):
    """Best score / length penalty over every sequence, ended at END or at max_length."""
    best_score, best_sequence = -np.inf, None
    for length in range(1, max_length + 1):
        for sequence in itertools.product(range(len(logits)), repeat=length):
            ended = END in sequence
            if ended and sequence.index(END) != length - 1:
                continue  # not a hypothesis: it ended earlier
            if not ended and length < max_length:
                continue  # an unfinished prefix is not a result
            score = markov_log_prob(logits, sequence) / length_penalty(length, alpha).numpy()
            if score > best_score:
                best_score, best_sequence = score, list(sequence)
    return best_score, best_sequence


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("seed", [10, 11])
def test_a_beam_wide_enough_to_keep_every_hypothesis_is_exact(seed, alpha):
    max_length, vocab_size = 4, 5
    logits = random_markov_logits(seed, vocab_size=vocab_size, scale=1.5)
    tokens, scores = beam_search(
        markov_fn(logits),
        (),
        1,
        START,
        END,
        max_length,
        beam_size=vocab_size ** (max_length - 1),
        length_penalty_alpha=alpha,
    )
    best_score, best_sequence = brute_force_best(logits, max_length, alpha)
    assert tokens.numpy()[0].tolist() == padded(best_sequence, max_length)
    np.testing.assert_allclose(scores.numpy()[0], best_score, rtol=1e-5)


def brute_force_ranking(logits, max_length, alpha):
    """Every hypothesis (ended at END or at max_length) as (score / length penalty, sequence),
    best first."""
    ranked = []
    for length in range(1, max_length + 1):
        for sequence in itertools.product(range(len(logits)), repeat=length):
            ended = END in sequence
            if (ended and sequence.index(END) != length - 1) or (not ended and length < max_length):
                continue
            score = markov_log_prob(logits, sequence) / length_penalty(length, alpha).numpy()
            ranked.append((score, list(sequence)))
    return sorted(ranked, key=lambda pair: -pair[0])


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_wide_enough_to_keep_every_hypothesis_gives_the_exact_nbest(alpha):
    max_length, vocab_size = 4, 5
    logits = random_markov_logits(12, vocab_size=vocab_size, scale=1.5)
    beam_size = vocab_size ** (max_length - 1)
    tokens, scores = beam_search_nbest(
        markov_fn(logits), (), 1, START, END, max_length, beam_size, alpha
    )
    expected = brute_force_ranking(logits, max_length, alpha)[:beam_size]
    np.testing.assert_allclose(scores.numpy()[0], [score for score, _ in expected], rtol=1e-5)
    assert [row for row in tokens.numpy()[0].tolist()[:10]] == [
        padded(sequence, max_length) for _, sequence in expected[:10]
    ]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_nbest_is_ranked_scored_and_led_by_the_beam_search_result(alpha):
    max_length, beam_size = 6, 3
    logits = random_markov_logits(7)
    tables = np.stack([logits, random_markov_logits(8)])
    table_ids = tf.constant([0, 1], tf.int32)
    args = (per_row_markov_fn(tables), table_ids, 2, START, END, max_length, beam_size, alpha)
    tokens, scores = beam_search_nbest(*args)
    best_tokens, best_scores = beam_search(*args)
    assert tokens.shape == (2, beam_size, max_length) and scores.shape == (2, beam_size)
    np.testing.assert_array_equal(tokens.numpy()[:, 0], best_tokens.numpy())
    np.testing.assert_allclose(scores.numpy()[:, 0], best_scores.numpy(), rtol=1e-6)
    for row, table in enumerate(tables):
        assert list(scores.numpy()[row]) == sorted(scores.numpy()[row], reverse=True)
        sequences = set()
        for hypothesis, score in zip(tokens.numpy()[row], scores.numpy()[row], strict=True):
            sequence = [token for token in hypothesis.tolist() if token != PAD]
            sequences.add(tuple(sequence))
            expected = markov_log_prob(table, sequence) / length_penalty(len(sequence), alpha)
            np.testing.assert_allclose(score, expected, rtol=1e-5)
        assert len(sequences) == beam_size  # three different hypotheses


def test_nbest_searches_on_until_its_last_hypothesis_is_decided():
    # B END (0.36) is decided after 2 steps; the n-best goes on until its second hypothesis
    # is decided too (A C END, 0.09, or better).
    best_calls, nbest_calls = [], []
    beam_search(step_counting(markov_fn(MARKOV_LOGITS), best_calls), (), 1, START, END, 8, 2)
    tokens, _ = beam_search_nbest(
        step_counting(markov_fn(MARKOV_LOGITS), nbest_calls), (), 1, START, END, 8, 2
    )
    assert best_calls == [0, 1] and len(nbest_calls) > 2
    assert tokens.numpy()[0, 0, :2].tolist() == BEST_SEQUENCE


def test_length_penalty_is_gnmt():
    np.testing.assert_allclose(length_penalty(1, 1.0).numpy(), 1.0)
    np.testing.assert_allclose(length_penalty(7, 0.6).numpy(), 2.0**0.6, rtol=1e-6)
    np.testing.assert_allclose(length_penalty([3, 9], 0.0).numpy(), [1.0, 1.0])


def test_length_penalty_favours_longer_hypotheses():
    # From START: END 0.55 (short), or A 0.45 then END 1.0 (long). With alpha 3:
    # log 0.55 / 1 = -0.60 < log 0.45 / (7/6) ** 3 = -0.50.
    logits = np.full((VOCAB_SIZE, VOCAB_SIZE), -1e9, np.float32)
    logits[START, END], logits[START, A] = np.log(0.55), np.log(0.45)
    logits[A, END] = 0.0
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    short, _ = beam_search(markov_fn(logits), (), 1, START, END, 3, beam_size=2)
    long, score = beam_search(
        markov_fn(logits), (), 1, START, END, 3, beam_size=2, length_penalty_alpha=3.0
    )
    assert short.numpy().tolist() == [[END, PAD, PAD]]
    assert long.numpy().tolist() == [[A, END, PAD]]
    np.testing.assert_allclose(score.numpy(), [np.log(0.45) / (7 / 6) ** 3], rtol=1e-5)


def step_counting(next_token_fn, calls):
    """`next_token_fn` that appends each step it runs to the list `calls` (eager only)."""

    def next_token(tokens, step, state):
        calls.append(int(step))
        return next_token_fn(tokens, step, state)

    return next_token


@pytest.mark.parametrize(
    "alpha, steps, expected", [(0.0, 1, [END] + [PAD] * 9), (3.0, 10, [A] * 10)]
)
def test_search_stops_once_no_alive_hypothesis_can_win(alpha, steps, expected):
    # From START: END 0.6, or A 0.4 and then A forever. Without a length penalty no A chain
    # can beat END after the first step; with alpha 3, A * 10 scores log 0.4 / (15/6) ** 3.
    logits = np.full((VOCAB_SIZE, VOCAB_SIZE), -1e9, np.float32)
    logits[START, END], logits[START, A] = np.log(0.6), np.log(0.4)
    logits[A, A] = 0.0
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    calls = []
    tokens, _ = beam_search(
        step_counting(markov_fn(logits), calls),
        (),
        1,
        START,
        END,
        10,
        beam_size=2,
        length_penalty_alpha=alpha,
    )
    assert tokens.numpy().tolist() == [expected]
    assert calls == list(range(steps))


# The example of the release-models issue, K = 3, no length penalty. Log-probabilities:
# step 0: A -0.80, B -0.92, END -1.90; step 1: AC = AD = -1.49, BC = BD = -1.61, so three
# alive hypotheses outrank END. Every later token costs more than 0.41, so END stays best:
# a single pool of K (alive and ended together) evicted it at step 1 and returned worse.
D = VOCAB_SIZE
_POOL_TRANSITIONS = {
    START: {A: np.exp(-0.80), B: np.exp(-0.92), END: np.exp(-1.90)},
    A: {C: 0.5, D: 0.5},
    B: {C: 0.5, D: 0.5},
    C: {END: 0.3, C: 0.35, D: 0.35},
    D: {END: 0.3, C: 0.35, D: 0.35},
}


def pool_logits():
    logits = np.full((VOCAB_SIZE + 1, VOCAB_SIZE + 1), -1e9, np.float32)
    for previous, nexts in _POOL_TRANSITIONS.items():
        total = sum(nexts.values())
        for token, probability in nexts.items():
            logits[previous, token] = np.log(probability / total)
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    return logits


def test_a_finished_hypothesis_is_never_evicted_by_alive_ones():
    logits = pool_logits()
    step_one = sorted(
        (markov_log_prob(logits, [first, second]) for first in (A, B) for second in (C, D)),
        reverse=True,
    )
    end_score = markov_log_prob(logits, [END])
    assert min(step_one[:3]) > end_score  # pruning happens: three alive outrank END
    best_score, best_sequence = brute_force_best(logits, max_length=4, alpha=0.0)
    assert best_sequence == [END]
    tokens, scores = beam_search(markov_fn(logits), (), 2, START, END, 4, beam_size=3)
    assert tokens.numpy().tolist() == [padded([END], 4)] * 2
    np.testing.assert_allclose(scores.numpy(), [best_score] * 2, rtol=1e-5)
    np.testing.assert_allclose(best_score, -1.90, atol=1e-2)


def test_a_hypothesis_that_ends_leaves_the_alive_pool():
    # K = 2, alpha 3. Step 0: A .4, END .35, B .25; then A -> END .5 or C .5, B -> C, C -> END.
    # END takes its place in the finished pool, so A and B stay alive, and B C END (.25 over
    # (8/6) ** 3) wins. Were END kept alive too, it would push B out at step 0.
    logits = np.full((VOCAB_SIZE, VOCAB_SIZE), -1e9, np.float32)
    logits[START, [A, END, B]] = np.log([0.4, 0.35, 0.25])
    logits[A, [END, C]] = np.log(0.5)
    logits[B, C] = logits[C, END] = 0.0
    logits[END, PAD] = logits[PAD, PAD] = 0.0
    assert brute_force_best(logits, max_length=3, alpha=3.0)[1] == [B, C, END]
    tokens, scores = beam_search(
        markov_fn(logits), (), 1, START, END, 3, beam_size=2, length_penalty_alpha=3.0
    )
    assert tokens.numpy().tolist() == [[B, C, END]]
    np.testing.assert_allclose(scores.numpy(), [np.log(0.25) / (8 / 6) ** 3], rtol=1e-5)


COUNTDOWN_EXPECTED = [
    [END, PAD, PAD, PAD, PAD, PAD],
    [A, A, END, PAD, PAD, PAD],
    [A, A, A, A, END, PAD],
]


def test_rows_finish_at_different_steps():
    state = {"length": tf.constant([0, 2, 4], tf.int32)}
    greedy = greedy_search(countdown_next_token, state, 3, START, END, 6)
    beam, _ = beam_search(countdown_next_token, state, 3, START, END, 6, beam_size=3)
    assert greedy.numpy().tolist() == COUNTDOWN_EXPECTED
    assert beam.numpy().tolist() == COUNTDOWN_EXPECTED


def test_greedy_state_follows_the_rows():
    state = {
        "inner": {"length": tf.constant([0, 2, 4], tf.int32)},
        "history": tf.zeros([3, 7], tf.int32),
    }
    greedy, final_state = greedy_search(
        recording(countdown_next_token), state, 3, START, END, 6, return_state=True
    )
    # The loop ran 5 steps (the longest row): history columns 0..4 are START and the
    # tokens chosen at steps 0..3.
    history = final_state["history"].numpy()
    assert history[:, 0].tolist() == [START] * 3
    assert history[:, 1:5].tolist() == greedy.numpy()[:, :4].tolist()


def test_rows_that_end_leave_the_greedy_search_with_select_rows():
    seen = []  # the rows next_token_fn sees at each step (eager: one entry per step)

    def next_token(tokens, step, state):
        seen.append(state["row"].numpy().tolist())
        return countdown_next_token(tokens, step, state)

    state = {"length": tf.constant([3, 0, 1, 3], tf.int32), "row": tf.range(4)}
    dropped = greedy_search(
        next_token, state, 4, START, END, 6, select_rows=lambda s, rows: gather_rows(s, rows)
    )
    kept = greedy_search(countdown_next_token, state, 4, START, END, 6)
    assert dropped.numpy().tolist() == kept.numpy().tolist()
    assert kept.numpy().tolist()[:2] == [[A, A, A, END, PAD, PAD], [END] + [PAD] * 5]
    # Row 1 ends at step 0, row 2 at step 1, rows 0 and 3 at step 3.
    assert seen == [[0, 1, 2, 3], [0, 2, 3], [0, 3], [0, 3]]


def growing_history(next_token):
    """`next_token` with a state that grows by one column per step: the tokens read."""

    def with_history(tokens, step, history):
        logits, _ = next_token(tokens, step, ())
        previous = tf.gather(tokens, step, axis=1)[:, None]  # (N, 1)
        return logits, tf.concat([history, previous], axis=1)  # (N, step + 1)

    return with_history


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_state_axis_of_size_zero_grows_step_by_step(beam_size):
    empty = tf.zeros([2, 0], tf.int32)  # (B, 0): the axis that grows
    markov = markov_fn(MARKOV_LOGITS)
    if beam_size == 1:
        tokens, history = greedy_search(
            growing_history(markov), empty, 2, START, END, 5, return_state=True
        )
        assert history.shape == (2, 3)  # the loop ran 3 steps: A, C, END
        assert history.numpy().tolist() == [[START] + GREEDY_SEQUENCE[:2]] * 2
    else:
        tokens, _ = beam_search(growing_history(markov), empty, 2, START, END, 5, beam_size)
        assert tokens.numpy()[:, :2].tolist() == [BEST_SEQUENCE] * 2


def second_order_fn(tables, from_state):
    """Logits of a second-order chain `tables[token before previous, previous]`.

    The token before the previous one is read from the token buffer, or (`from_state`)
    from a state that the function writes itself: that state gives the same answers only
    if beam search reorders it with its hypothesis.
    """
    tables = tf.constant(tables)

    def next_token(tokens, step, before):
        previous = tf.gather(tokens, step, axis=1)  # (N,)
        if not from_state:
            before = tf.gather(tokens, tf.maximum(step - 1, 0), axis=1)  # (N,)
        logits = tf.gather_nd(tables, tf.stack([before, previous], axis=1))  # (N, V)
        return logits, previous

    return next_token


@pytest.mark.parametrize("seed", range(3))
def test_beam_state_is_reordered_with_its_hypothesis(seed):
    rng = np.random.default_rng(seed)
    tables = np.stack([random_markov_logits(int(rng.integers(1000))) for _ in range(VOCAB_SIZE)])
    start = tf.fill([4], START)
    from_tokens, _ = beam_search(second_order_fn(tables, False), start, 4, START, END, 6, 3)
    from_state, _ = beam_search(second_order_fn(tables, True), start, 4, START, END, 6, 3)
    assert from_state.numpy().tolist() == from_tokens.numpy().tolist()


# A chain whose next token depends on the FIRST generated token, which the decoder keeps in
# its state (recorded at step 1, when it first reads that token). Row 0, probabilities:
# step 0: A 0.55, B 0.45. Step 1: after A: A .35, B .3, C .25, END .1; after B: A .55, C .45.
# So BA (.2475), BC (.2025), AA (.1925), AB (.165) are the best four: both alive hypotheses
# descend from beam 1 (B), and beam 0 changes parent. From step 2 on, a first token B says
# END .9 (C .1), a first token A says END .05 (C .95): BAE (.22275) wins. A state left on
# beam 0's old parent (A) makes BA continue instead, and BC END wins. Row 1 is the same
# chain with A and B swapped: its answer is AB END, so the rows differ.
_FIRST_TOKEN_TRANSITIONS = {
    (PAD, START): {A: 0.55, B: 0.45},
    (A, A): {A: 0.35, B: 0.3, C: 0.25, END: 0.1},
    (B, B): {A: 0.55, C: 0.45},
}
_AFTER_FIRST = {A: {END: 0.05, C: 0.95}, B: {END: 0.9, C: 0.1}}
FIRST_TOKEN_EXPECTED = [[B, A, END, PAD, PAD], [A, B, END, PAD, PAD]]


def first_token_tables():
    """(2, V, V, V) logits [row, first token, previous token] -> next token; row 1 swaps A, B."""
    table = np.full((VOCAB_SIZE,) * 3, LOW, np.float32)
    for first, nexts in _AFTER_FIRST.items():
        for previous in (A, B, C):
            for token, probability in nexts.items():
                table[first, previous, token] = np.log(probability)
    for (first, previous), nexts in _FIRST_TOKEN_TRANSITIONS.items():
        table[first, previous] = LOW
        for token, probability in nexts.items():
            table[first, previous, token] = np.log(probability)
    swap = np.arange(VOCAB_SIZE)
    swap[[A, B]] = [B, A]
    return np.stack([table, table[swap][:, swap][:, :, swap]])


def first_token_fn(from_state, seen=None):
    """Next-token function over `first_token_tables`; state {"row", "first"} int32 (N,).

    `from_state`: the first generated token is the one the state recorded (right only if
    beam search reorders the state with its hypothesis); else it is read from the tokens.
    `seen` (eager only) receives the token buffer of every step.
    """
    tables = tf.constant(first_token_tables())

    def next_token(tokens, step, state):
        if seen is not None:
            seen.append(tokens.numpy())
        previous = tf.gather(tokens, step, axis=1)  # (N,)
        if from_state:
            first = tf.where(tf.equal(step, 1), previous, state["first"])  # (N,)
        else:
            first = tf.gather(tokens, tf.minimum(step, 1), axis=1)  # (N,): START at step 0
            first = tf.where(tf.equal(step, 0), tf.fill(tf.shape(first), PAD), first)
        logits = tf.gather_nd(tables, tf.stack([state["row"], first, previous], axis=1))
        return logits, {"row": state["row"], "first": first}  # logits (N, V)

    return next_token


@pytest.mark.parametrize("from_state", [True, False])  # False: the token buffer, a control
def test_a_state_that_picks_the_next_token_follows_its_hypothesis(from_state):
    state = {"row": tf.constant([0, 1]), "first": tf.fill([2], PAD)}
    seen = []
    tokens, scores = beam_search(first_token_fn(from_state, seen), state, 2, START, END, 5, 2)
    # The scenario happens: at step 2 the first alive hypothesis of each row (rows 0 and 2
    # of the B * K = 4) descends from the row's other beam of step 1.
    assert [seen[1][0, 1], seen[2][0, 1]] == [A, B]
    assert [seen[1][2, 1], seen[2][2, 1]] == [B, A]
    assert tokens.numpy().tolist() == FIRST_TOKEN_EXPECTED
    np.testing.assert_allclose(scores.numpy(), [np.log(0.55 * 0.45 * 0.9)] * 2, rtol=1e-5)


# Weights of the prefix hash below: position i of the token buffer counts w_i times.
_HASH_BINS = 61
_HASH_WEIGHTS = np.random.default_rng(0).integers(1, _HASH_BINS, 16).astype(np.int32)


def prefix_hash_fn(tables, from_state):
    """Logits `tables[row, hash of the whole prefix]`, a state-driven decoder's caricature.

    The hash is sum_i w_i tokens[:, i] mod bins over the prefix (START and every generated
    token; PAD, id 0, adds nothing), so every earlier token changes the next distribution.
    `from_state` keeps the running hash in the state, updated with the token of each step
    (right only if beam search reorders it with its hypothesis); else it is recomputed
    from the token buffer. tables (R, bins, V); state {"row", "hash"} int32 (N,).
    """
    tables = tf.constant(tables)
    weights = tf.constant(_HASH_WEIGHTS)

    def next_token(tokens, step, state):
        if from_state:
            latest = tf.gather(tokens, step, axis=1) * tf.gather(weights, step)  # (N,)
            hashed = (state["hash"] + latest) % _HASH_BINS  # (N,)
        else:
            width = tf.shape(tokens)[1]
            hashed = tf.reduce_sum(tokens * weights[:width][None, :], axis=1) % _HASH_BINS
        logits = tf.gather_nd(tables, tf.stack([state["row"], hashed], axis=1))  # (N, V)
        return logits, {"row": state["row"], "hash": hashed}

    return next_token


def parent_changes(seen):
    """How many alive hypotheses of all steps do not descend from the hypothesis in their
    row of the step before: each is a state that beam search must move to another row.

    seen: the token buffer (N, 1 + L) of every step, as `next_token_fn` received it.
    """
    changes = 0
    for step in range(2, len(seen)):
        prefix_before, prefix_now = seen[step - 1][:, :step], seen[step][:, :step]
        changes += int(np.sum(np.any(prefix_now != prefix_before, axis=1)))
    return changes


def recording_tokens(next_token_fn, seen):
    """`next_token_fn` that appends the token buffer of every step to `seen` (eager only)."""

    def next_token(tokens, step, state):
        seen.append(tokens.numpy())
        return next_token_fn(tokens, step, state)

    return next_token


@pytest.mark.parametrize("alpha", [0.0, 0.8])
@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_state_hashing_the_whole_prefix_gives_the_answers_of_the_token_buffer(seed, alpha):
    # 4 rows with their own random tables, so the rows differ, and each row's beams reorder.
    rng = np.random.default_rng(seed)
    rows, max_length, beam_size = 4, 8, 3
    tables = rng.normal(0.0, 1.5, (rows, _HASH_BINS, VOCAB_SIZE)).astype(np.float32)
    tables[:, :, [PAD, START]] = LOW
    tables[:, :, END] -= 4.0  # answers of several tokens, so beams change parents often
    state = {"row": tf.range(rows), "hash": tf.zeros([rows], tf.int32)}
    search = dict(beam_size=beam_size, length_penalty_alpha=alpha)
    seen = []
    from_tokens = beam_search(
        recording_tokens(prefix_hash_fn(tables, False), seen),
        state,
        rows,
        START,
        END,
        max_length,
        **search,
    )
    from_state = beam_search(
        prefix_hash_fn(tables, True), state, rows, START, END, max_length, **search
    )
    answers = from_tokens[0].numpy()
    assert len({tuple(row) for row in answers}) == rows  # the rows say different things
    assert np.sum(answers != PAD) > 3 * rows  # answers of several tokens, not END at once
    assert parent_changes(seen) >= 3  # hypotheses whose state must change rows
    np.testing.assert_array_equal(from_state[0].numpy(), answers)
    np.testing.assert_allclose(from_state[1].numpy(), from_tokens[1].numpy(), rtol=1e-5)


def test_output_never_exceeds_max_length():
    always_a = np.full((VOCAB_SIZE, VOCAB_SIZE), -1e9, np.float32)
    always_a[:, A] = 0.0
    never_ends = markov_fn(always_a)
    greedy = greedy_search(never_ends, (), 2, START, END, max_length=3)
    beam, _ = beam_search(never_ends, (), 2, START, END, max_length=3, beam_size=2)
    assert greedy.numpy().tolist() == [[A, A, A]] * 2
    assert beam.numpy().tolist() == [[A, A, A]] * 2


def test_zero_max_length_gives_empty_rows():
    tokens = greedy_search(markov_fn(MARKOV_LOGITS), (), 2, START, END, max_length=0)
    beam, scores = beam_search(markov_fn(MARKOV_LOGITS), (), 2, START, END, 0, beam_size=2)
    assert tokens.shape == (2, 0) and beam.shape == (2, 0)
    np.testing.assert_allclose(scores.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("beam_size", [0, -1, 2.0])
def test_bad_beam_size_is_a_user_error(beam_size):
    with pytest.raises(UserError, match="beam_size must be a positive int"):
        beam_search(markov_fn(MARKOV_LOGITS), (), 1, START, END, 3, beam_size=beam_size)


def test_logits_with_the_wrong_number_of_rows_are_refused():
    def one_row_per_batch_row(tokens, step, state):  # forgets that beams multiply rows
        return tf.zeros([2, VOCAB_SIZE]), state

    with pytest.raises(tf.errors.InvalidArgumentError, match="one row per row of tokens"):
        beam_search(one_row_per_batch_row, (), 2, START, END, 3, beam_size=3)


def test_write_at_writes_one_position():
    buffer = tf.zeros([2, 4, 3])
    written = write_at(buffer, 2, tf.ones([2, 3]))
    expected = np.zeros([2, 4, 3], np.float32)
    expected[:, 2] = 1.0
    np.testing.assert_array_equal(written.numpy(), expected)
    np.testing.assert_array_equal(write_at(buffer, 4, tf.ones([2, 3])).numpy(), buffer.numpy())


class Decoder(tf.Module):
    """Greedy and beam search over the countdown function, batch size unknown."""

    max_length = 6

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="lengths")])
    def greedy(self, lengths):
        batch_size = tf.shape(lengths)[0]
        state = {"length": lengths}
        return greedy_search(countdown_next_token, state, batch_size, START, END, self.max_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="lengths")])
    def beam(self, lengths):
        batch_size = tf.shape(lengths)[0]
        state = {"length": lengths}
        tokens, scores = beam_search(
            countdown_next_token,
            state,
            batch_size,
            START,
            END,
            self.max_length,
            beam_size=3,
            length_penalty_alpha=0.6,
        )
        return {"tokens": tokens, "scores": scores}


def test_search_runs_in_tf_function_with_unknown_batch_size_and_no_xla_ops(op_types):
    decoder = Decoder()
    for lengths in ([4], [0, 2, 4]):
        expected = [COUNTDOWN_EXPECTED[[0, 2, 4].index(n)] for n in lengths]
        assert decoder.greedy(tf.constant(lengths)).numpy().tolist() == expected
        assert decoder.beam(tf.constant(lengths))["tokens"].numpy().tolist() == expected
    for function in (decoder.greedy, decoder.beam):
        types = op_types(function.get_concrete_function())
        assert "While" in types or "StatelessWhile" in types
        assert not [op for op in types if op.startswith("Xla")]


def test_search_in_a_reloaded_saved_model(tmp_path):
    decoder = Decoder()
    tf.saved_model.save(decoder, str(tmp_path))
    assert not [op for op in saved_model_op_types(str(tmp_path)) if op.startswith("Xla")]
    reloaded = tf.saved_model.load(str(tmp_path))
    lengths = tf.constant([0, 2, 4])
    assert reloaded.greedy(lengths).numpy().tolist() == COUNTDOWN_EXPECTED
    outputs = reloaded.beam(lengths)
    expected = decoder.beam(lengths)
    np.testing.assert_array_equal(outputs["tokens"].numpy(), expected["tokens"].numpy())
    np.testing.assert_allclose(outputs["scores"].numpy(), expected["scores"].numpy())
