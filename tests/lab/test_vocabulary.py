"""The vocabulary-size experiment's report: what each run measured, gathered into one table."""

import json

import pytest

from kerasnlp_lab.cli import main
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import vocabulary


def scores(bleu, chrf, seconds, repetitive):
    return {"bleu": bleu, "chrf": chrf, "seconds": seconds, "repetitive_outputs": repetitive}


def fake_run(folder, tokenizer, sizes, bleu):
    """A finished, evaluated run folder with the files the report reads."""
    folder.mkdir()
    config = {"tokenizer": tokenizer, "source_vocab_size": sizes[0], "target_vocab_size": sizes[1]}
    (folder / "run.json").write_text(json.dumps({"config": config}))
    for side, size in zip(("source", "target"), sizes, strict=True):
        vocabulary_file = {"vocabulary": [f"t{i}" for i in range(size - 10)]}
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


def test_report_gathers_each_runs_files_into_json_and_a_table(tmp_path):
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
    }
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
