"""`kerasnlp-lab evaluate char_generator`: held-out bits per character, accuracy, a sample."""

import dataclasses
import json
import math
import os

import tensorflow as tf

from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.training import char_generator as training
from kerasnlp_lab.training import fit
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = char_generator.MODEL_NAME
METRICS_FILE = "metrics.json"
LOSS_CURVES_PNG = "loss_curves.png"
SAMPLE_PROMPT = "In the beginning"
SAMPLE_CHARS = 300
SAMPLE_TEMPERATURE = 0.8
SAMPLE_SEED = 1


def bits_per_char(cross_entropy_nats):
    """Mean cross-entropy in nats per character -> bits per character."""
    return cross_entropy_nats / math.log(2)


def sample(
    serving,
    prompt=SAMPLE_PROMPT,
    num_chars=SAMPLE_CHARS,
    temperature=SAMPLE_TEMPERATURE,
    seed=SAMPLE_SEED,
):
    """The continuation of `prompt` by the generation function the export serves."""
    outputs = serving.generate(
        prompt=tf.constant([prompt]),
        num_chars=tf.constant([num_chars], tf.int32),
        temperature=tf.constant([temperature], tf.float32),
        seed=tf.constant([seed], tf.int64),
    )
    return outputs["text"][0].numpy().decode("utf-8")


def evaluate(workdir="runs/char_generator", limit=None, output_dir=None):
    """Test-split (held-out books) bits/char and accuracy, and a fixed-seed sample.

    `limit` evaluates the first `limit` characters of the test split only (the fast check of
    a release preset); figures and metrics.json go to `output_dir` (default: the run's
    folder; for a preset, runs/presets/MODEL).
    """
    run, serving = exporter.load_serving(workdir)
    config = char_generator.config_from_dict(run["config"])
    if limit is not None:
        config = dataclasses.replace(config, eval_chars=min(limit, config.eval_chars or limit))
    output_dir = workdir_lib.outputs_dir(workdir, MODEL_NAME, output_dir)
    test, count = training.split_examples(
        run["dataset"], "test", serving.vocabulary, config, config.eval_chars
    )
    results = serving.model.evaluate(
        test.batch(training.EVALUATION_BATCH_SIZE), verbose=0, return_dict=True
    )
    metrics = {
        "model": MODEL_NAME,
        "preset": run["preset"],
        "dataset": run["dataset"],
        "head": config.head,
        "test_chars": count * config.sequence_length,
        "bits_per_char": round(bits_per_char(results["loss"]), 4),
        "accuracy": round(results["accuracy"], 4),
        "sample": {
            "prompt": SAMPLE_PROMPT,
            "temperature": SAMPLE_TEMPERATURE,
            "seed": SAMPLE_SEED,
            "text": sample(serving),
        },
    }
    history = os.path.join(workdir, fit.HISTORY_FILE)
    if os.path.exists(history):
        metrics["figures"] = {
            "loss_curves": plots.plot_loss_curves(
                history,
                os.path.join(output_dir, LOSS_CURVES_PNG),
                "char_generator: cross-entropy (nats/char)",
            )
        }
    with open(os.path.join(output_dir, METRICS_FILE), "w", encoding="utf-8") as file:
        json.dump(metrics, file, indent=2, ensure_ascii=False)
    return metrics
