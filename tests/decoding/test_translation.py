"""`translate`: greedy and beam search through the translator interface, banned ids."""

import numpy as np
import tensorflow as tf

from kerasnlp_lab.decoding.beam import repeat_beams
from kerasnlp_lab.decoding.translation import translate

START_ID, END_ID, BANNED_ID = 2, 3, 4


class FixedScores:
    """A translator whose every step scores id 4 best, then 5, then [END]."""

    model = None

    def encode(self, source_ids):
        return {"source_mask": tf.not_equal(source_ids, 0)}  # (B, S)

    def initial_decoder_state(self, encoded):
        return {}

    def encoded_for_beams(self, encoded, beam_size):
        return repeat_beams(encoded, beam_size)

    def per_row_encoded(self, encoded):
        return encoded

    def decode_step(self, tokens, step, decoder_state, encoded):
        scores = tf.constant([[0.0, 0.0, 0.0, 1.0, 9.0, 5.0]])  # (1, V)
        return tf.tile(scores, [tf.shape(tokens)[0], 1]), decoder_state


def test_banned_ids_are_never_generated_greedy_or_beam():
    source_ids = tf.constant([[5, 6, 0], [7, 0, 0]])
    for beam_size in (1, 3):
        options = dict(start_id=START_ID, end_id=END_ID, max_length=4, beam_size=beam_size)
        free = translate(FixedScores(), source_ids, **options)
        banned = translate(FixedScores(), source_ids, banned_ids=(BANNED_ID,), **options)
        np.testing.assert_array_equal(free, [[4, 4, 4, 4]] * 2)
        np.testing.assert_array_equal(banned, [[5, 5, 5, 5]] * 2)


def test_several_banned_ids_leave_the_next_best():
    source_ids = tf.constant([[5, 6, 0]])
    for beam_size in (1, 3):
        options = dict(start_id=START_ID, end_id=END_ID, max_length=3, beam_size=beam_size)
        tokens = translate(FixedScores(), source_ids, banned_ids=(4, 5), **options)
        np.testing.assert_array_equal(tokens, [[END_ID, 0, 0]])


def test_no_repeat_ngram_size_bans_repeated_ngrams_greedy_and_beam():
    source_ids = tf.constant([[5, 6, 0], [7, 0, 0]])
    options = dict(start_id=START_ID, end_id=END_ID, max_length=4)
    # n = 1: no token twice; 4, then 5, then [END] (beam: the same, the best of them all).
    for beam_size in (1, 3):
        tokens = translate(
            FixedScores(), source_ids, beam_size=beam_size, no_repeat_ngram_size=1, **options
        )
        np.testing.assert_array_equal(tokens, [[4, 5, END_ID, 0]] * 2)
    # n = 2: "4 4" once, so the third token is 5, and "5 4" is new.
    tokens = translate(FixedScores(), source_ids, no_repeat_ngram_size=2, **options)
    np.testing.assert_array_equal(tokens, [[4, 4, 5, 4]] * 2)


def test_no_repeat_ngram_size_traces_in_a_graph():
    search = tf.function(
        lambda source_ids: translate(
            FixedScores(),
            source_ids,
            start_id=START_ID,
            end_id=END_ID,
            max_length=4,
            no_repeat_ngram_size=2,
        ),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    np.testing.assert_array_equal(search(tf.constant([[5, 6]])), [[4, 4, 5, 4]])
