"""`kerasnlp-lab` with transformer_translator: train, evaluate, export, predict; --backbone.

Predict runs in a process of its own, as a user runs it; the other commands run `cli.main`
in this process (tests/test_cli.py runs each command as a subprocess, and
tests/training/test_distribute.py trains transformer_translator in `kerasnlp-lab train`
processes)."""

import json
import os

from kerasnlp_lab import cli
from tests.cli_runner import call_cli, run_cli
from tests.data.test_translation_pipeline import write_toy_tsv


def test_backbone_flag_is_parsed_and_refused_for_other_models():
    args = cli.build_parser().parse_args(
        ["train", "transformer-translator", "--backbone", "keras_hub"]
    )
    assert (args.model, args.backbone) == ("transformer_translator", "keras_hub")
    result = call_cli("train", "attention_nmt", "--backbone", "ours", check=False)
    assert result.returncode == 2
    assert "--backbone is for transformer_translator only; attention_nmt has no such setting." in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_transformer_train_evaluate_export_predict(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=300)
    workdir, saved_models = tmp_path / "run", tmp_path / "saved_models"
    train = call_cli(
        "train",
        "transformer_translator",
        "--preset",
        "tiny",
        "--dataset",
        dataset,
        "--workdir",
        workdir,
    )
    assert "Training transformer_translator (tiny) on " + dataset in train.stdout

    evaluated = call_cli("evaluate", "transformer_translator", "--workdir", workdir)
    metrics = json.loads(evaluated.stdout)
    assert (metrics["model"], metrics["backbone"], metrics["dataset"]) == (
        "transformer_translator",
        "ours",
        dataset,
    )
    assert metrics["test_pairs"] > 0 and 0.0 < metrics["test_token_accuracy"] <= 1.0
    for method in ("greedy", "beam"):
        assert 0.0 <= metrics[method]["bleu"] <= 100.0
        assert metrics[method]["bleu_signature"].startswith("nrefs:1|case:mixed")
        assert metrics[method]["chrf_signature"].startswith("nrefs:1|case:mixed")
    assert metrics["beam"]["beam_size"] == 4
    assert metrics["training_tokens_per_second"] > 0
    for name in ("encoder_self_attention", "cross_attention", "loss_curves"):
        assert os.path.getsize(metrics["figures"][name]) > 5_000

    exported = call_cli(
        "export", "transformer_translator", "--workdir", workdir, "--saved-models", saved_models
    )
    assert exported.stdout.strip() == (
        f"Exported transformer_translator to {saved_models}/transformer_translator/1"
    )
    predicted = run_cli(
        "predict",
        "transformer_translator",
        "El perro come pan.",
        "¿Quién?",
        "--signature",
        "beam_search",
        "--saved-models",
        saved_models,
    )
    assert len(predicted.stdout.strip("\n").split("\n")) == 2

    # release: a preset that decodes with the validation sweep's best length penalty.
    presets_root = tmp_path / "presets"
    released = call_cli(
        "release", "transformer_translator", "--workdir", workdir, "--presets", presets_root
    )
    preset = presets_root / "transformer_translator"
    config = json.loads((preset / "config.json").read_text())
    selection = json.loads((preset / "metadata.json").read_text())["length_penalty_selection"]
    assert [row["alpha"] for row in selection["runs"]] == [0.0, 0.6, 1.0]
    assert (selection["split"], selection["beam_size"], selection["trained_with"]) == (
        "validation",
        4,
        1.0,
    )
    best = max(selection["runs"], key=lambda row: (row["bleu"], -row["alpha"]))["alpha"]
    assert config["length_penalty"] == selection["chosen"] == best
    assert json.loads(released.stdout)["beam"]["length_penalty"] == best
    # then the n-gram ban, at that length penalty: none unless one scores higher.
    bans = json.loads((preset / "metadata.json").read_text())["no_repeat_selection"]
    assert [row["no_repeat_ngram_size"] for row in bans["runs"]] == [0, 3, 4]
    assert (bans["split"], bans["length_penalty"]) == ("validation", best)
    chosen = min(bans["runs"], key=lambda row: (-row["bleu"], row["no_repeat_ngram_size"]))
    assert config["no_repeat_ngram_size"] == bans["chosen"] == chosen["no_repeat_ngram_size"]
    assert json.loads(released.stdout)["no_repeat_ngram_size"] == bans["chosen"]


def test_keras_hub_run_cannot_be_exported(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=100)
    workdir = tmp_path / "run"
    call_cli(
        "train",
        "transformer_translator",
        "--preset",
        "tiny",
        "--dataset",
        dataset,
        "--epochs",
        "1",
        "--backbone",
        "keras_hub",
        "--workdir",
        workdir,
    )
    result = call_cli(
        "export",
        "transformer_translator",
        "--workdir",
        workdir,
        "--saved-models",
        tmp_path / "saved_models",
        check=False,
    )
    assert result.returncode == 2
    assert "Only the 'ours' backbone can be exported" in result.stderr
    assert "Traceback" not in result.stderr
