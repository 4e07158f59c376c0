"""`kerasnlp-lab evaluate attention_nmt`: BLEU/chrF (greedy, beam), loss, accuracy, figures.

On the test split (its first `eval_examples` pairs when the config caps them): sacreBLEU
BLEU and chrF of the greedy and beam translations against the raw references, the
teacher-forcing loss and token accuracy, attention heatmaps of the first
`NUM_HEATMAPS` test verses and the loss curves of training.
"""

import os

import tensorflow as tf

from kerasnlp_lab.evaluation import translation
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.models import attention_nmt
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = attention_nmt.MODEL_NAME
NUM_HEATMAPS = 3


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
                serving.source_vectorizer.ids_to_tokens(source_ids[row]).numpy(),
                source_ids[row].numpy(),
                strict=True,
            )
            if token_id != serving.source_vectorizer.pad_id
        ]
        target_tokens = [
            token.decode("utf-8")
            for token, token_id in zip(
                serving.target_vectorizer.ids_to_tokens(tokens[row]).numpy(),
                tokens[row].numpy(),
                strict=True,
            )
            if token_id != serving.target_vectorizer.pad_id
        ]
        paths.append(
            translation.plot_attention(
                weights[row],
                source_tokens,
                target_tokens,
                os.path.join(folder, f"attention_{row + 1}.png"),
                title=source[:80],
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
    metrics, sources = translation.evaluate_translator(
        run, serving, config, workdir, output_dir, "attention_nmt: masked cross-entropy"
    )
    metrics["figures"]["attention"] = attention_heatmaps(
        serving, sources[:NUM_HEATMAPS], output_dir
    )
    return translation.write_metrics(metrics, output_dir)
