"""`kerasnlp-lab evaluate attention_nmt`: BLEU/chrF (greedy, beam), loss, accuracy, figures.

On the test split (its first `eval_examples` pairs when the config caps them): sacreBLEU
BLEU and chrF of the greedy and beam translations against the raw references, the
teacher-forcing loss and token accuracy, attention heatmaps of the first
`NUM_HEATMAPS` test verses and the loss curves of training.
"""

import json
import os

import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.evaluation import plots, translation
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.training import fit, workdir as workdir_lib
from kerasnlp_lab.training import attention_nmt as training

MODEL_NAME = attention_nmt.MODEL_NAME
METRICS_FILE = "metrics.json"
LOSS_CURVES_PNG = "loss_curves.png"
NUM_HEATMAPS = 3


def read_pairs(dataset, split, limit=None):
    """(sources, references) of a split as two lists of Python strings."""
    sources, references = [], []
    for source, target in pipeline.load_pairs(dataset, split, limit).as_numpy_iterator():
        sources.append(source.decode("utf-8"))
        references.append(target.decode("utf-8"))
    return sources, references


def attention_heatmaps(serving, sources, folder):
    """One attention heatmap PNG per source text, from its greedy translation."""
    source_ids = serving.source_ids(tf.constant(sources, tf.string))  # (B, S)
    tokens = serving.translate_ids(source_ids)  # (B, L)
    weights = serving.attention_weights(source_ids, tokens).numpy()  # (B, L, S)
    paths = []
    for row, source in enumerate(sources):
        source_tokens = [
            token.decode("utf-8")
            for token, token_id in zip(
                serving.source_vectorizer.ids_to_tokens(source_ids[row]).numpy(), source_ids[row].numpy()
            )
            if token_id != serving.source_vectorizer.pad_id
        ]
        target_tokens = [
            token.decode("utf-8")
            for token, token_id in zip(
                serving.target_vectorizer.ids_to_tokens(tokens[row]).numpy(), tokens[row].numpy()
            )
            if token_id != serving.target_vectorizer.pad_id
        ]
        paths.append(
            translation.plot_attention(
                weights[row], source_tokens, target_tokens,
                os.path.join(folder, f"attention_{row + 1}.png"), title=source[:80],
            )
        )
    return paths


def evaluate(workdir="runs/attention_nmt", limit=None, output_dir=None):
    """Returns the test metrics of the trained run in `workdir` and writes the figures.

    `limit` evaluates the first `limit` examples of the test split only (the fast check of
    a release preset); figures and metrics.json go to `output_dir` (default: the run's
    folder; for a preset, runs/presets/MODEL).
    """
    run, serving = exporter.load_serving(workdir)
    config = translation.limit_examples(attention_nmt.config_from_dict(run["config"]), limit)
    output_dir = workdir_lib.outputs_dir(workdir, MODEL_NAME, output_dir)
    dataset = run["dataset"]
    sources, references = read_pairs(dataset, "test", config.eval_examples)
    vectorizers = (serving.source_vectorizer, serving.target_vectorizer)
    test_examples = training.split_examples(dataset, "test", vectorizers, config, config.eval_examples)
    loss, accuracy = serving.model.evaluate(
        training.evaluation_batches(test_examples, config), verbose=0
    )
    scores = translation.translation_scores(serving, sources, references, config.batch_size)
    metrics = {
        "model": MODEL_NAME,
        "preset": run["preset"],
        "dataset": dataset,
        "test_pairs": len(sources),
        "test_loss": round(float(loss), 4),
        "test_token_accuracy": round(float(accuracy), 4),
        **scores,
    }
    efficiency_path = os.path.join(workdir, training.TOKEN_EFFICIENCY_FILE)
    if os.path.exists(efficiency_path):
        with open(efficiency_path) as file:
            metrics["token_efficiency"] = {name: round(value, 3) for name, value in json.load(file).items()}
    figures = {"attention": attention_heatmaps(serving, sources[:NUM_HEATMAPS], output_dir)}
    history = os.path.join(workdir, fit.HISTORY_FILE)
    if os.path.exists(history):
        figures["loss_curves"] = plots.plot_loss_curves(
            history, os.path.join(output_dir, LOSS_CURVES_PNG), "attention_nmt: masked cross-entropy"
        )
    metrics["figures"] = figures
    with open(os.path.join(output_dir, METRICS_FILE), "w") as file:
        json.dump(metrics, file, indent=2, ensure_ascii=False)
    return metrics
