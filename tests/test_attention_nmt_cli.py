"""`kerasnlp-lab` train, evaluate, export and predict attention_nmt end to end (tiny, toy
corpus). Predict runs in a process of its own, as a user runs it; train, evaluate and export
run `cli.main` in this process (tests/test_cli.py runs each command as a subprocess, and
tests/training/test_distribute.py trains attention_nmt in `kerasnlp-lab train` processes)."""

import json
import os

from tests.cli_runner import call_cli, run_cli
from tests.data.test_translation_pipeline import write_toy_tsv


def test_attention_nmt_train_evaluate_export_predict(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=600)
    workdir, saved_models = tmp_path / "run", tmp_path / "saved_models"
    train = call_cli(
        "train",
        "attention-nmt",
        "--preset",
        "tiny",
        "--epochs",
        1,
        "--dataset",
        dataset,
        "--workdir",
        workdir,
    )
    assert f"Training attention_nmt (tiny) on {dataset}:" in train.stdout
    assert "token efficiency bucketed" in train.stdout

    metrics = json.loads(call_cli("evaluate", "attention_nmt", "--workdir", workdir).stdout)
    assert (metrics["model"], metrics["preset"], metrics["dataset"]) == (
        "attention_nmt",
        "tiny",
        dataset,
    )
    assert metrics["test_pairs"] > 5
    assert 0.0 < metrics["test_loss"] < 10.0 and 0.0 <= metrics["test_token_accuracy"] <= 1.0
    for method in ("greedy", "beam"):
        assert 0.0 <= metrics[method]["bleu"] <= 100.0
        assert metrics[method]["chrf_signature"].startswith("nrefs:1|")
    assert metrics["beam"]["beam_size"] == 4
    assert len(metrics["figures"]["attention"]) == 3
    for path in metrics["figures"]["attention"] + [metrics["figures"]["loss_curves"]]:
        assert os.path.getsize(path) > 5_000

    exported = call_cli(
        "export", "attention_nmt", "--workdir", workdir, "--saved-models", saved_models
    )
    assert exported.stdout.strip() == f"Exported attention_nmt to {saved_models}/attention_nmt/1"

    predicted = run_cli(
        "predict",
        "attention_nmt",
        "El perro come pan.",
        "El rey bebe agua.",
        "--saved-models",
        saved_models,
        "--signature",
        "beam_search",
    )
    assert predicted.stdout.count("\n") == 2  # one translation per line (maybe empty when tiny)


def test_evaluate_without_training_says_what_to_run(tmp_path):
    result = call_cli("evaluate", "attention_nmt", "--workdir", tmp_path, check=False)
    assert result.returncode == 2
    assert "No trained attention_nmt in" in result.stderr
    assert "Traceback" not in result.stderr
