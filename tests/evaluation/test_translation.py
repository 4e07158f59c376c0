"""Shared translation scores (sacreBLEU BLEU, chrF, signatures) and the attention heatmap."""

import os

import numpy as np
import pytest

from kerasnlp_lab.evaluation import translation


def test_identical_translations_score_100():
    scores = translation.corpus_scores(["The dog eats bread."], ["The dog eats bread."])
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)


def test_bleu_of_a_partial_match_by_hand():
    # 1- to 4-gram precisions 5/6, 3/5, 2/4, 1/3; same length, so no brevity penalty.
    scores = translation.corpus_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert scores["bleu"] == pytest.approx(expected, abs=0.01)


def test_signatures_say_how_each_score_was_computed():
    scores = translation.corpus_scores(["a b c d"], ["a b c d"])
    assert scores["bleu_signature"].startswith(
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:"
    )
    assert scores["bleu_lowercase_signature"].startswith("nrefs:1|case:lc|")
    assert scores["chrf_signature"].startswith(
        "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:"
    )


def test_lowercase_bleu_forgives_case_only():
    scores = translation.corpus_scores(["the lord is my shepherd"], ["The LORD is my shepherd"])
    assert scores["bleu_lowercase"] == pytest.approx(100.0)
    assert scores["bleu"] < 50.0


def test_one_hypothesis_per_reference():
    with pytest.raises(
        ValueError, match="Expected one hypothesis per reference, got 1 hypotheses and 2"
    ):
        translation.corpus_scores(["a"], ["a", "b"])


def test_attention_heatmap_is_a_png(tmp_path):
    weights = np.eye(4, 5, dtype=np.float32)
    path = translation.plot_attention(
        weights,
        ["[START]", "el", "perro", ".", "[END]"],
        ["the", "dog", ".", "[END]"],
        str(tmp_path / "attention.png"),
        title="El perro.",
    )
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 5_000


class FakeSearch:
    """A serving whose beam search with setting `key` (a length penalty or an n-gram ban) gives
    `outputs[key]`."""

    def __init__(self, outputs, key=None):
        self.outputs, self.key = outputs, key

    def with_decoding(self, length_penalty=None, no_repeat_ngram_size=None):
        return FakeSearch(
            self.outputs, no_repeat_ngram_size if length_penalty is None else length_penalty
        )

    def translate_texts(self, texts, beam=False, batch_size=64):
        assert beam and len(texts) == len(self.outputs[self.key])
        return self.outputs[self.key]


def test_the_length_penalty_sweep_scores_each_alphas_beam_search():
    references = ["the dog eats bread .", "who is it ?"]
    outputs = {
        0.0: ["the dog eats .", "who ?"],
        0.6: ["the dog eats bread .", "who is it ?"],
        1.0: ["the dog eats bread . the dog eats bread . the dog eats bread .", "who is it ?"],
    }
    sweep = translation.length_penalty_sweep(FakeSearch(outputs), ["a", "b"], references)
    assert [row["alpha"] for row in sweep] == [0.0, 0.6, 1.0]
    assert sweep[1] == {
        "alpha": 0.6,
        "bleu": 100.0,
        "chrf": 100.0,
        "length_ratio": 1.0,
        "repetitive_outputs": 0,
    }
    assert (sweep[0]["length_ratio"], sweep[0]["repetitive_outputs"]) == (0.667, 0)
    assert (sweep[2]["length_ratio"], sweep[2]["repetitive_outputs"]) == (2.111, 1)
    assert translation.best_length_penalty(sweep) == 0.6


def test_the_best_length_penalty_is_the_smallest_among_equal_scores():
    sweep = [{"alpha": 1.0, "bleu": 5.0}, {"alpha": 0.6, "bleu": 5.0}, {"alpha": 0.0, "bleu": 4.9}]
    assert translation.best_length_penalty(sweep) == 0.6


def test_the_no_repeat_sweep_scores_each_bans_beam_search():
    references = ["the dog eats bread .", "who is it ?"]
    outputs = {
        0: ["the dog eats bread . the dog eats bread . the dog eats bread .", "who is it ?"],
        3: ["the dog eats bread .", "who is it ?"],
        4: ["the dog eats bread . the dog", "who is it ?"],
    }
    sweep = translation.no_repeat_sweep(FakeSearch(outputs), ["a", "b"], references)
    assert [row["no_repeat_ngram_size"] for row in sweep] == [0, 3, 4]
    assert [row["repetitive_outputs"] for row in sweep] == [1, 0, 0]
    assert sweep[1]["bleu"] == 100.0
    assert translation.best_no_repeat(sweep) == 3


def test_no_ban_is_kept_unless_it_scores_higher():
    sweep = [
        {"no_repeat_ngram_size": 0, "bleu": 5.0},
        {"no_repeat_ngram_size": 3, "bleu": 5.0},
        {"no_repeat_ngram_size": 4, "bleu": 4.9},
    ]
    assert translation.best_no_repeat(sweep) == 0
