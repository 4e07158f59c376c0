"""`repeated_ngram_mask`: the tokens that would repeat an n-gram of their hypothesis."""

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.decoding.no_repeat import repeated_ngram_mask

# Column 0 the start token (1); generated: 5 6 7 5 6 (row 0), 5 5 5 (row 1).
TOKENS = tf.constant([[1, 5, 6, 7, 5, 6, 0, 0], [1, 5, 5, 5, 0, 0, 0, 0]])


def banned(step, ngram_size, tokens=TOKENS):
    mask = repeated_ngram_mask(tokens, step, ngram_size, 10).numpy()
    assert mask.shape == (len(tokens), 10)
    return [np.flatnonzero(row).tolist() for row in mask]


@pytest.mark.parametrize(
    "ngram_size, expected",
    [
        (1, [5, 6, 7]),  # every token generated so far
        (2, [7]),  # "6 7" was seen after the last token, 6
        (3, [7]),  # "5 6 7" after the last two, "5 6"
        (4, []),  # "7 5 6" never came before
    ],
)
def test_the_next_token_may_not_complete_a_seen_ngram(ngram_size, expected):
    assert banned(5, ngram_size)[0] == expected


def test_only_generated_columns_count():
    # At step 3 row 1 has generated 5 5 5: "5 5" and "5 5 5" are seen; the start token is not
    # part of any n-gram, and the padding after the step is not read.
    assert banned(3, 2)[1] == [5]
    assert banned(3, 3)[1] == [5]
    assert banned(3, 4)[1] == []
    assert banned(0, 1) == [[], []]  # nothing generated yet


def test_a_bad_size_is_refused():
    with pytest.raises(ValueError, match="ngram_size must be a positive int, received 0"):
        repeated_ngram_mask(TOKENS, 3, 0, 10)
