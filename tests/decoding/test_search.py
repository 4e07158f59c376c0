"""Greedy and beam search on toy next-token functions with known answers."""

import itertools

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.decoding import beam_search, greedy_search, length_penalty, write_at
from kerasnlp_lab.errors import UserError
from tests.decoding.conftest import (
    A,
    B,
    BEST_SEQUENCE,
    END,
    GREEDY_SEQUENCE,
    MARKOV_LOGITS,
    PAD,
    START,
    VOCAB_SIZE,
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
        per_row_markov_fn(tables), tf.range(len(tables)), len(tables), START, END,
        max_length=6, beam_size=beam_size,
    )
    theirs = keras_hub_beam_search(tables, max_length=6, beam_size=beam_size)
    assert ours.numpy()[0].tolist() == padded(BEST_SEQUENCE, 6)
    assert ours.numpy().tolist() == np.asarray(theirs).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_beam_size_one_equals_greedy(seed):
    logits = random_markov_logits(seed, vocab_size=8)
    greedy = greedy_search(markov_fn(logits), (), 3, START, END, max_length=7)
    beam, scores = beam_search(markov_fn(logits), (), 3, START, END, max_length=7, beam_size=1)
    assert beam.numpy().tolist() == greedy.numpy().tolist()
    sequence = [token for token in greedy.numpy()[0].tolist() if token != PAD]
    np.testing.assert_allclose(scores.numpy(), [markov_log_prob(logits, sequence)] * 3, rtol=1e-5)


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
        markov_fn(logits), (), 1, START, END, max_length, beam_size=vocab_size ** (max_length - 1),
        length_penalty_alpha=alpha,
    )
    best_score, best_sequence = brute_force_best(logits, max_length, alpha)
    assert tokens.numpy()[0].tolist() == padded(best_sequence, max_length)
    np.testing.assert_allclose(scores.numpy()[0], best_score, rtol=1e-5)


def test_length_penalty_is_gnmt():
    np.testing.assert_allclose(length_penalty(1, 1.0).numpy(), 1.0)
    np.testing.assert_allclose(length_penalty(7, 0.6).numpy(), 2.0 ** 0.6, rtol=1e-6)
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


def step_counting(next_token_fn):
    """`next_token_fn` whose state (N,) int32 counts the steps run."""

    def next_token(tokens, step, steps):
        logits, _ = next_token_fn(tokens, step, ())
        return logits, steps + 1

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
    tokens, scores, steps_run = beam_search(
        step_counting(markov_fn(logits)), tf.zeros([1], tf.int32), 1, START, END, 10,
        beam_size=2, length_penalty_alpha=alpha, return_state=True,
    )
    assert tokens.numpy().tolist() == [expected]
    assert steps_run.numpy().tolist() == [steps]


def countdown_state(lengths, max_length):
    lengths = tf.constant(lengths, tf.int32)
    history = tf.zeros([tf.shape(lengths)[0], max_length + 1], tf.int32)
    return {"inner": {"length": lengths}, "history": history}


COUNTDOWN_EXPECTED = [
    [END, PAD, PAD, PAD, PAD, PAD],
    [A, A, END, PAD, PAD, PAD],
    [A, A, A, A, END, PAD],
]


def test_rows_finish_at_different_steps_and_the_state_follows_them():
    state = countdown_state([0, 2, 4], max_length=6)
    next_token = recording(countdown_next_token)
    greedy, greedy_state = greedy_search(next_token, state, 3, START, END, 6, return_state=True)
    beam, _, beam_state = beam_search(
        next_token, state, 3, START, END, 6, beam_size=3, return_state=True
    )
    assert greedy.numpy().tolist() == COUNTDOWN_EXPECTED
    assert beam.numpy().tolist() == COUNTDOWN_EXPECTED
    # The loop ran 5 steps (the longest row): history columns 0..4 are START and the
    # tokens chosen at steps 0..3.
    for tokens, final_state in [(greedy, greedy_state), (beam, beam_state)]:
        history = final_state["history"].numpy()
        assert history.shape == (3, 7)
        assert history[:, 0].tolist() == [START] * 3
        assert history[:, 1:5].tolist() == tokens.numpy()[:, :4].tolist()
        assert final_state["inner"]["length"].numpy().tolist() == [0, 2, 4]


def test_beam_state_is_reordered_with_its_hypothesis():
    # The best hypothesis (B, END) comes from beam 1 after the first step: a state left
    # in place would hold the first token of beam 0 (A).
    state = {"inner": (), "history": tf.zeros([2, 6], tf.int32)}
    tokens, _, final_state = beam_search(
        recording(markov_fn(MARKOV_LOGITS)), state, 2, START, END, 5, beam_size=2,
        return_state=True,
    )
    assert tokens.numpy().tolist() == [padded(BEST_SEQUENCE, 5)] * 2
    assert final_state["history"].numpy()[:, :2].tolist() == [[START, B]] * 2


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
            countdown_next_token, state, batch_size, START, END, self.max_length,
            beam_size=3, length_penalty_alpha=0.6,
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
