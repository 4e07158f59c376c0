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


def _tokens(vectorizer, ids):
    """The readable tokens of the non-padding ids of one row."""
    return [
        token.decode("utf-8")
        for token, token_id in zip(vectorizer.ids_to_tokens(ids).numpy(), ids.numpy(), strict=True)
        if token_id != vectorizer.pad_id
    ]


def read_attention(serving, sources):
    """[(weights (L, S), source tokens (S), generated tokens (L))] of the greedy translations.

    The source tokens are [START] words [END]; the generated ones end with [END].
    """
    source_ids = serving.source_ids(tf.constant(sources, tf.string))  # (B, S)
    tokens = serving.translate_ids(source_ids)  # (B, L)
    weights = serving.attention_weights(source_ids, tokens).numpy()  # (B, L, S)
    rows = []
    for row in range(len(sources)):
        source_tokens = _tokens(serving.source_vectorizer, source_ids[row])
        target_tokens = _tokens(serving.target_vectorizer, tokens[row])
        rows.append(
            (weights[row, : len(target_tokens), : len(source_tokens)], source_tokens, target_tokens)
        )
    return rows


def attention_heatmaps(serving, sources, folder, names=None):
    """One attention heatmap PNG per source text, from its greedy translation.

    `names`: the file names (default attention_1.png, attention_2.png, ...).
    """
    names = names or [f"attention_{row + 1}.png" for row in range(len(sources))]
    return [
        translation.plot_attention(
            weights, source_tokens, target_tokens, os.path.join(folder, name), title=source[:80]
        )
        for source, name, (weights, source_tokens, target_tokens) in zip(
            sources, names, read_attention(serving, sources), strict=True
        )
    ]


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
