"""`kerasnlp-lab evaluate transformer_translator`: the attention NMT's metrics, same test set.

On the test split (its first `eval_examples` pairs when the config caps them): sacreBLEU
BLEU and chrF of the greedy and beam translations against the raw references, the
teacher-forcing loss and token accuracy, the training tokens/second, the loss curves,
and two attention figures for a fixed verse (backbone "ours"): the encoder self-attention
and the decoder cross-attention over its greedy translation, one panel per layer and head.
"""

import os

import numpy as np
import tensorflow as tf

from kerasnlp_lab.evaluation import plots, translation
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import transformer as training
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = transformer.MODEL_NAME
ENCODER_ATTENTION_PNG = "encoder_self_attention.png"
CROSS_ATTENTION_PNG = "cross_attention.png"
FIXED_VERSE = "En el principio creó Dios los cielos y la tierra."  # Genesis 1:1


def _tokens(vectorizer, ids):
    """The readable tokens of the non-padding ids of one row."""
    return [
        token.decode("utf-8")
        for token, token_id in zip(
            vectorizer.ids_to_tokens(ids).numpy(), np.asarray(ids), strict=True
        )
        if token_id != 0
    ]


def plot_attention_grid(maps, row_tokens, column_tokens, path, title):
    """One heatmap per layer (rows) and head (columns): maps is a list of `(H, T, S)`."""
    num_layers, num_heads = len(maps), maps[0].shape[0]
    size = max(2.5, 0.28 * max(len(row_tokens), len(column_tokens)) + 1.0)
    figure, axes = plots.plt.subplots(
        num_layers, num_heads, figsize=(size * num_heads, size * num_layers), squeeze=False
    )
    for layer, layer_maps in enumerate(maps):
        for head in range(num_heads):
            axis = axes[layer, head]
            weights = layer_maps[head][: len(row_tokens), : len(column_tokens)]
            axis.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
            axis.set_xticks(range(len(column_tokens)), column_tokens, rotation=90, fontsize=6)
            axis.set_yticks(range(len(row_tokens)), row_tokens, fontsize=6)
            axis.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return plots.save_figure(figure, path)


def attention_figures(serving, text, folder, prefix=""):
    """{encoder_self_attention, cross_attention} PNG paths for one source text.

    The files are `prefix` + ENCODER_ATTENTION_PNG and `prefix` + CROSS_ATTENTION_PNG.
    """
    source_ids = serving.source_ids(tf.constant([text], tf.string))  # (1, S)
    tokens = serving.translate_ids(source_ids)  # (1, L)
    start = tf.fill([1, 1], serving.target_vectorizer.start_id)
    target_in = tf.concat([start, tokens[:, :-1]], axis=1)  # (1, L): what the decoder read
    encoder_maps, cross_maps = serving.model.attention_maps(source_ids, target_in)
    source_tokens = _tokens(serving.source_vectorizer, source_ids[0])
    generated = _tokens(serving.target_vectorizer, tokens[0])
    translated = serving.target_vectorizer.detokenize(tokens)[0].numpy().decode("utf-8")
    return {
        "encoder_self_attention": plot_attention_grid(
            [np.asarray(m[0]) for m in encoder_maps],
            source_tokens,
            source_tokens,
            os.path.join(folder, prefix + ENCODER_ATTENTION_PNG),
            f"Encoder self-attention: {text}",
        ),
        "cross_attention": plot_attention_grid(
            [np.asarray(m[0]) for m in cross_maps],
            generated,
            source_tokens,
            os.path.join(folder, prefix + CROSS_ATTENTION_PNG),
            f"Cross-attention: {text} -> {translated}",
        ),
    }


def evaluate(workdir="runs/transformer_translator", limit=None, output_dir=None):
    """Returns the test metrics of the trained run in `workdir` and writes the figures.

    `limit` evaluates the first `limit` examples of the test split only (the fast check of
    a release preset); figures and metrics.json go to `output_dir` (default: the run's
    folder; for a preset, runs/presets/MODEL).
    """
    run, serving = exporter.load_serving(workdir)
    config = translation.limit_examples(transformer.config_from_dict(run["config"]), limit)
    output_dir = workdir_lib.outputs_dir(workdir, MODEL_NAME, output_dir)
    metrics, _ = translation.evaluate_translator(
        run,
        serving,
        config,
        workdir,
        output_dir,
        "transformer_translator: label-smoothed cross-entropy",
    )
    metrics["backbone"] = config.backbone
    throughput = training.read_throughput(workdir)
    if throughput:
        metrics["training_tokens_per_second"] = throughput[-1]["tokens_per_second"]
    if config.backbone == "ours":
        metrics["figures"].update(attention_figures(serving, FIXED_VERSE, output_dir))
    return translation.write_metrics(metrics, output_dir)
