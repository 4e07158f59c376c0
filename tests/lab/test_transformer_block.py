"""The Transformer block experiment (docs/transformer_block.md): its schedules, metrics,
calibration, table, and a few steps of its training loop."""

import math
import pathlib
import re

import numpy as np
import pytest

from kerasnlp_lab import cli
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import transformer_block as block
from kerasnlp_lab.losses import MaskedSparseCrossentropy
from kerasnlp_lab.models import transformer
from tests.data.test_translation_pipeline import write_toy_tsv

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def test_warm_up_rises_to_its_peak_and_no_warm_up_starts_there():
    rates = block.learning_rates(64, 100, 400)
    assert rates.shape == (400,)
    assert rates[0] == pytest.approx(64**-0.5 * 100**-1.5)  # step 1 of the ramp
    assert int(rates.argmax()) == 99 and rates[99] == pytest.approx((64 * 100) ** -0.5)
    assert rates[399] == pytest.approx(64**-0.5 * 400**-0.5)
    flat = block.learning_rates(64, 100, 400, warmup=False)
    assert np.allclose(flat[:100], (64 * 100) ** -0.5)
    assert np.allclose(flat[99:], rates[99:])


def test_reliability_bins_and_expected_calibration_error():
    bins = block.reliability_bins([0.05, 0.15, 0.15, 0.95, 1.0], [0, 1, 0, 1, 1], num_bins=10)
    assert [entry["tokens"] for entry in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1] == pytest.approx(
        {"low": 0.1, "high": 0.2, "tokens": 2, "confidence": 0.15, "accuracy": 0.5}
    )
    assert bins[2]["confidence"] is None and bins[2]["accuracy"] is None
    assert bins[9]["confidence"] == pytest.approx(0.975)  # a confidence of 1 is in the last bin
    # 1/5 · |0 − 0.05| + 2/5 · |0.5 − 0.15| + 2/5 · |1 − 0.975|
    assert block.expected_calibration_error(bins) == pytest.approx(0.16)


def test_token_statistics_skip_padding():
    probabilities = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.25, 0.25]]])
    targets = np.array([[1, 2, 0]])  # the last position is padding
    tokens = block.token_statistics(np.log(probabilities), targets)
    assert np.allclose(tokens["true_log_prob"], np.log([0.2, 0.6]))
    assert np.allclose(tokens["confidence"], [0.7, 0.6])
    assert tokens["correct"].tolist() == [False, True]


def test_the_cross_entropy_metric_is_the_unsmoothed_loss():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    targets = np.array([[3, 1, 0, 0], [6, 2, 5, 0]])
    metric = block.MaskedCrossEntropy()
    metric.update_state(targets, logits)
    plain = float(MaskedSparseCrossentropy(0.0)(targets, logits))
    assert float(metric.result()) == pytest.approx(plain, rel=1e-6)
    smoothed = float(MaskedSparseCrossentropy(0.1)(targets, logits))
    assert smoothed != pytest.approx(plain, rel=1e-3)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(
        [log_probs[0, 0, 3], log_probs[0, 1, 1], *log_probs[1, [0, 1, 2], [6, 2, 5]]]
    )
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


def test_each_setting_changes_what_it_names():
    base = transformer.get_config("small", **block.EXPERIMENT)
    made = {
        name: block.setting_config(base, **changes) for name, (_, changes) in block.SETTINGS.items()
    }
    assert made["release"] == (base, True)
    assert (base.norm_first, base.label_smoothing, base.model_dim) == (True, 0.1, 64)
    post_norm = transformer.get_config("small", **block.EXPERIMENT, norm_first=False)
    assert made["post_norm"] == (post_norm, True)
    assert made["no_warmup"] == (base, False)
    assert made["no_smoothing"][0].label_smoothing == 0.0
    assert made["post_norm_no_warmup"] == (post_norm, False)
    assert tuple(block.SETTINGS) == cli.TRANSFORMER_BLOCK_SETTINGS
    assert tuple(block.SETTINGS)[:4] == block.DEFAULT_SETTINGS


def test_the_command_line_reaches_the_experiment():
    args = cli.build_parser().parse_args(
        ["transformer-block", "--settings", "release", "post_norm_no_warmup", "--steps", "100"]
    )
    assert (args.settings, args.steps, args.seed) == (["release", "post_norm_no_warmup"], 100, 0)
    assert args.output == cli.TRANSFORMER_BLOCK_JSON == f"docs/{block.RESULTS_FILE}"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["transformer-block", "--settings", "pre_norm"])


def fake_run(label, norm_first, warmup, smoothing, last_loss, final):
    return {
        "label": label,
        "norm_first": norm_first,
        "warmup": warmup,
        "label_smoothing": smoothing,
        "steps": [10, 20],
        "train_cross_entropy": [6.0, last_loss],
        "final": final,
        "seconds": 101.4,
    }


def test_the_results_table_shows_each_setting():
    results = {
        "dataset": "sword_parallel/spa_eng",
        "seed": 0,
        "steps": 20,
        "record_every": 10,
        "config": block.EXPERIMENT,
        "vocabulary_sizes": [4000, 3000],
        "train_pairs": 8000,
        "validation_tokens": 14787,
        "cpu_count": 2,
        "seconds": 690.0,
        "settings": {
            "release": fake_run(
                "release recipe",
                True,
                True,
                0.1,
                4.12345,
                {"cross_entropy": 4.5, "accuracy": 0.25, "mean_confidence": 0.2, "ece": 0.0312},
            ),
            "post_norm": fake_run(
                "post-norm",
                False,
                False,
                0.0,
                math.inf,
                {"cross_entropy": 9.1, "accuracy": 0.01, "mean_confidence": 0.9, "ece": 0.8},
            ),
        },
    }
    section = block.results_section(results)
    lines = section.splitlines()
    assert lines[0].startswith("| setting | norm | warm-up | smoothing | train CE, steps 11–20 |")
    assert lines[2:4] == [
        "| release recipe | pre | yes | 0.1 | 4.123 | 4.500 | 0.250 | 0.200 | 0.031 | 101 |",
        "| post-norm | post | no | 0.0 | inf | 9.100 | 0.010 | 0.900 | 0.800 | 101 |",
    ]
    assert "first 500 validation pairs (14,787 target tokens)" in section
    assert "20 steps of 64 pairs from seed 0" in section
    assert "took 11.5 minutes on 2 CPU cores" in section


def committed_section():
    text = (DOCS / "transformer_block.md").read_text(encoding="utf-8")
    return re.search(r"<!-- generated: results -->\n(.*?)\n<!-- generated: end -->", text, re.S)[1]


def test_the_page_table_is_the_one_its_json_gives():
    results = block.read_results(str(DOCS / block.RESULTS_FILE))
    assert committed_section() == block.results_section(results)
    assert list(results["settings"]) == list(block.DEFAULT_SETTINGS)
    for run in results["settings"].values():
        assert run["steps"][-1] == results["steps"]
        tokens = sum(entry["tokens"] for entry in run["final"]["bins"])
        assert tokens == results["validation_tokens"]


def test_a_diverged_run_stops_at_once():
    recorder = block.Recorder(record_every=10)
    recorder.set_model(type("Model", (), {"stop_training": False})())
    recorder.on_epoch_end(0, {"loss": 5.0})
    assert not recorder.model.stop_training
    recorder.on_epoch_end(1, {"loss": math.nan})
    assert recorder.model.stop_training
    assert [row["step"] for row in recorder.rows] == [10, 20]


def test_the_experiment_loop_on_a_few_steps(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=300)
    results = block.run_experiment(dataset, quick=True, steps=2, settings=["no_warmup"])
    run = results["settings"]["no_warmup"]
    assert (run["label"], run["norm_first"], run["warmup"], run["label_smoothing"]) == (
        "no warm-up",
        True,
        False,
        0.1,
    )
    assert run["steps"] == run["validation_steps"] == [2]
    assert all(math.isfinite(value) for value in run["train_cross_entropy"] + run["train_loss"])
    final = run["final"]
    assert final["tokens"] == results["validation_tokens"] > 0
    assert sum(entry["tokens"] for entry in final["bins"]) == final["tokens"]
    assert 0.0 <= final["accuracy"] <= 1.0 and 0.0 <= final["ece"] <= 1.0
    # An untrained model over a vocabulary of V words is near log V, here a few nats.
    assert 0.5 * math.log(results["vocabulary_sizes"][1]) < final["cross_entropy"] < 10.0
    with pytest.raises(UserError, match="multiple of 2"):
        block.run_experiment(dataset, quick=True, steps=3)
