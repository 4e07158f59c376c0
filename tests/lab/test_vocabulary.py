"""The vocabulary-size experiment's report: what each run measured, gathered into one table."""

import json

import pytest

from kerasnlp_lab.cli import main
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import vocabulary
from kerasnlp_lab.text.vectorizer import RESERVED_TOKENS, WordVectorizer
from kerasnlp_lab.text.wordpiece import WordPieceVectorizer

# (sources, targets) of the fake runs' dataset: "zz", "yy" and "." are in no vocabulary.
SPLITS = {
    "train": (["t1 t2"], ["t3 t4 t5"]),
    "test": (["t1 t2 zz", "t1"], ["t3 t4", "t5 yy ."]),
}
FAKE_DATASET = "tsv:fake.tsv"


@pytest.fixture(autouse=True)
def fake_dataset(monkeypatch):
    """The report reads SPLITS as its runs' dataset; returns the (dataset, split, limit) read."""
    reads = []

    def read_pairs(dataset, split, limit=None):
        reads.append((dataset, split, limit))
        return SPLITS[split]

    monkeypatch.setattr(vocabulary, "read_pairs", read_pairs)
    return reads


def scores(bleu, chrf, seconds, repetitive):
    return {"bleu": bleu, "chrf": chrf, "seconds": seconds, "repetitive_outputs": repetitive}


def fake_run(folder, tokenizer, sizes, bleu):
    """A finished, evaluated run folder with the files the report reads."""
    folder.mkdir()
    config = {
        "tokenizer": tokenizer,
        "source_vocab_size": sizes[0],
        "target_vocab_size": sizes[1],
        "max_source_length": 4,
        "max_target_length": 128,
        "train_examples": None,
    }
    (folder / "run.json").write_text(json.dumps({"dataset": FAKE_DATASET, "config": config}))
    for side, size in zip(("source", "target"), sizes, strict=True):
        tokens = [*RESERVED_TOKENS, *(f"t{i}" for i in range(size - 10 - len(RESERVED_TOKENS)))]
        vocabulary_file = {"vocabulary": tokens}
        (folder / f"{side}_vocabulary.json").write_text(json.dumps(vocabulary_file))
    (folder / "history.csv").write_text("epoch,loss,val_loss\n0,5.0,4.5\n1,4.0,3.61234\n")
    metrics = {
        "test_pairs": 1009,
        "greedy": scores(bleu - 1, 50.0, 30.4, 9),
        "beam": scores(bleu, 52.5, 95.6, 7),
        "repetitive_references": 21,
        "unknown_outputs_unbanned": 0,
        "source_tokens_per_sentence": 33.26,
        "target_tokens_per_sentence": 35.0,
        "source_unknown_word_rate": 0.0296,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return str(folder)


def test_report_gathers_each_runs_files_into_json_and_a_table(tmp_path, fake_dataset):
    runs = [
        fake_run(tmp_path / "words", "words", (12_000, 8_000), 20.5),
        fake_run(tmp_path / "wordpiece_2000", "wordpiece", (2_000, 2_000), 22.25),
    ]
    output = tmp_path / "docs" / "vocabulary.json"
    assert main(["vocabulary-report", *runs, "--output", str(output)]) == 0
    written = json.loads(output.read_text())
    first = written["runs"][0]
    assert first == {
        "run": "words",
        "tokenizer": "words",
        "requested_sizes": [12_000, 8_000],
        "vocabulary_sizes": [11_990, 7_990],
        "epochs": 2,
        "final_val_loss": 3.6123,
        "test_pairs": 1009,
        "greedy": {"bleu": 19.5, "chrf": 50.0, "seconds": 30.4},
        "beam": {"bleu": 20.5, "chrf": 52.5, "seconds": 95.6},
        "repetitive_outputs": {"greedy": 9, "beam": 7, "references": 21},
        "unknown_outputs_unbanned": 0,
        "source_tokens_per_sentence": 33.26,
        "target_tokens_per_sentence": 35.0,
        "source_unknown_word_rate": 0.0296,
        "tokenization": {
            "source": {
                "sentences": 2,
                "words": 4,
                "unseen_words": 1,
                "tokens": 4,
                "unknown_words": 1,
                "split_words": 0,
                "tokens_per_sentence": {
                    "mean": 2.0,
                    "p5": 1,
                    "p25": 1,
                    "p50": 1,
                    "p75": 3,
                    "p95": 3,
                    "max": 3,
                },
                "length_limit": 4,
                "over_length_limit": 1,
            },
            "target": {
                "sentences": 2,
                "words": 5,
                "unseen_words": 2,
                "tokens": 5,
                "unknown_words": 2,
                "split_words": 0,
                "tokens_per_sentence": {
                    "mean": 2.5,
                    "p5": 2,
                    "p25": 2,
                    "p50": 2,
                    "p75": 3,
                    "p95": 3,
                    "max": 3,
                },
                "length_limit": 128,
                "over_length_limit": 0,
            },
        },
    }
    # Each run reads its dataset's test split, and the training pairs it learned from.
    assert fake_dataset[:2] == [(FAKE_DATASET, "test", None), (FAKE_DATASET, "train", None)]
    lines = vocabulary.table(written).splitlines()
    assert len(lines) == 4
    assert lines[3] == (
        "| wordpiece_2000 | 1,990 / 1,990 | 22.25 | 52.50 | 21.25 | 33.3 / 35.0 | 2.96% | 7 "
        "| 30 / 96 |"
    )


def test_a_later_report_adds_runs_and_keeps_the_earlier_ones(tmp_path):
    output = str(tmp_path / "vocabulary.json")
    vocabulary.report([fake_run(tmp_path / "wordpiece_8000", "wordpiece", (8000, 8000), 2)], output)
    vocabulary.report(
        [fake_run(tmp_path / "wordpiece_10000", "wordpiece", (10**4, 10**4), 3)], output
    )
    results = vocabulary.report([fake_run(tmp_path / "words", "words", (100, 100), 1)], output)
    assert [run["run"] for run in results["runs"]] == ["words", "wordpiece_8000", "wordpiece_10000"]
    assert [run["beam"]["bleu"] for run in results["runs"]] == [1, 2, 3]


def test_a_run_without_metrics_says_to_evaluate_it(tmp_path):
    run = fake_run(tmp_path / "words", "words", (100, 100), 1.0)
    (tmp_path / "words" / "metrics.json").unlink()
    with pytest.raises(UserError, match=r"metrics.json not found: train and evaluate the run"):
        vocabulary.summarize(run)


def test_tokenization_statistics_count_unknown_split_and_unseen_words():
    pieces = WordPieceVectorizer(
        ["[PAD]", "[UNK]", "[START]", "[END]", "cre", "##ó", "##o", "c", "##r", "dios", "."]
    )
    texts = ["Creó Dios.", "Cro dios cx"]  # creó: cre ##ó; cro: c ##r ##o; cx: [UNK]
    statistics = vocabulary.tokenization_statistics(pieces, texts, ["Dios creó."], max_length=6)
    assert statistics == {
        "sentences": 2,
        "words": 6,
        "unseen_words": 2,  # cro, cx
        "tokens": 9,
        "unknown_words": 1,
        "split_words": 2,
        "tokens_per_sentence": {
            "mean": 4.5,
            "p5": 4,
            "p25": 4,
            "p50": 4,
            "p75": 5,
            "p95": 5,
            "max": 5,
        },
        "length_limit": 6,
        "over_length_limit": 1,  # 5 pieces + [START] + [END] > 6
    }
    words = WordVectorizer([*RESERVED_TOKENS, "creó", "dios"])
    statistics = vocabulary.tokenization_statistics(words, texts, ["Dios creó."], max_length=6)
    # One token a word; ".", "cro" and "cx" are no words of the vocabulary.
    counts = [statistics[key] for key in ("tokens", "unknown_words", "split_words")]
    assert counts == [6, 3, 0]
