"""BLEU per source-length bucket: exact boundaries, sacreBLEU on each subset, the JSON file."""

import json

import pytest
from sacrebleu.metrics import BLEU, CHRF

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import length_buckets


def sentence(words):
    return " ".join(f"w{index}" for index in range(words))


def test_bucket_labels():
    assert length_buckets.BUCKET_LABELS == ("≤10", "11–20", "21–30", "31–40", "41+")


@pytest.mark.parametrize(
    ("words", "bucket"),
    [(0, 0), (1, 0), (10, 0), (11, 1), (20, 1), (21, 2), (30, 2), (31, 3), (40, 3), (41, 4)],
)
def test_bucket_boundaries_are_exact(words, bucket):
    assert length_buckets.bucket_index(words) == bucket
    assert length_buckets.source_words(sentence(words)) == words


def test_words_are_whitespace_separated_with_punctuation_attached():
    assert length_buckets.source_words("  Y dijo Dios: Sea la luz:\ty fué la luz. ") == 10


def test_each_bucket_scores_as_sacrebleu_on_its_own_subset():
    sources = [sentence(5), sentence(15), sentence(12), sentence(45), sentence(10)]
    references = [
        "the dog eats bread",
        "the king drinks water from the well",
        "and god said let there be light",
        "in the beginning god created the heavens and the earth",
        "a b c d",
    ]
    hypotheses = [
        "the dog eats the bread",
        "the king drinks water",
        "and god said let there be light",
        "in the beginning god made heaven and earth",
        "a b c d",
    ]
    buckets = length_buckets.bucket_scores(sources, references, hypotheses)
    assert [bucket["pairs"] for bucket in buckets] == [2, 2, 0, 0, 1]
    for bucket, rows in zip(buckets, ([0, 4], [1, 2], [], [], [3]), strict=True):
        if not rows:
            assert (bucket["bleu"], bucket["chrf"], bucket["length_ratio"]) == (None,) * 3
            continue
        hyps, refs = [hypotheses[row] for row in rows], [[references[row] for row in rows]]
        expected = BLEU().corpus_score(hyps, refs)
        assert bucket["bleu"] == round(expected.score, 2)
        assert bucket["chrf"] == round(CHRF().corpus_score(hyps, refs).score, 2)
        assert bucket["length_ratio"] == round(expected.sys_len / expected.ref_len, 3)
    assert buckets[1]["bleu"] < 100.0 and buckets[1]["length_ratio"] < 1.0  # too short


def test_mismatched_lists_are_refused():
    with pytest.raises(ValueError, match="Expected as many sources, references and hypotheses"):
        length_buckets.bucket_scores(["a"], ["a", "b"], ["a"])


def test_only_translators_are_measured():
    with pytest.raises(UserError, match="for the translators"):
        length_buckets.evaluate("autoencoder", "presets/autoencoder")


def test_results_accumulate_one_entry_per_label(tmp_path):
    path = str(tmp_path / "docs" / "bottleneck.json")
    first = {"label": "attention_nmt/bahdanau", "bleu": 28.5}
    length_buckets.write_result(first, path)
    length_buckets.write_result({"label": "attention_nmt/none", "bleu": 20.0}, path)
    length_buckets.write_result({"label": "attention_nmt/bahdanau", "bleu": 29.0}, path)
    length_buckets.write_result({"label": "x", "bleu": 1.0}, path, label="renamed")
    with open(path, encoding="utf-8") as file:
        stored = json.load(file)
    assert stored["buckets"] == list(length_buckets.BUCKET_LABELS)
    assert list(stored["runs"]) == ["attention_nmt/bahdanau", "attention_nmt/none", "renamed"]
    assert stored["runs"]["attention_nmt/bahdanau"]["bleu"] == 29.0
    assert stored["runs"]["renamed"]["label"] == "renamed"
    assert length_buckets.read_results(str(tmp_path / "missing.json")) == {}
