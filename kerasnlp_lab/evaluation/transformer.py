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
# John 12:33, the first pair of the test split of sword_parallel/spa_eng (Reina-Valera 1909,
# its spelling): the verse docs/bahdanau_attention.md and docs/attention.md read.
FIXED_VERSE = "Y esto decía dando á entender de qué muerte había de morir."
ENCODER_AXES = ("key: source token", "query: source token")
CROSS_AXES = ("key: source token", "query: the token this row predicts")
INCHES_PER_TOKEN = 0.2  # a full grid's cell: 20 pixels for a 9-point label (12.5 pixels)


def _tokens(vectorizer, ids):
    """The readable tokens of the non-padding ids of one row."""
    return [
        token.decode("utf-8")
        for token, token_id in zip(
            vectorizer.ids_to_tokens(ids).numpy(), np.asarray(ids), strict=True
        )
        if token_id != 0
    ]


def attention_of(serving, text):
    """The release-style reading of one source text: {source_tokens, generated, translation,
    encoder (a (H, S, S) array per layer), cross (a (H, T, S) array per layer)}.

    The cross-attention row t is the decoder position that reads token t - 1 ([START] for
    t = 0) and predicts generated token t.
    """
    source_ids = serving.source_ids(tf.constant([text], tf.string))  # (1, S)
    tokens = serving.translate_ids(source_ids)  # (1, L)
    start = tf.fill([1, 1], serving.target_vectorizer.start_id)
    target_in = tf.concat([start, tokens[:, :-1]], axis=1)  # (1, L): what the decoder read
    encoder_maps, cross_maps = serving.model.attention_maps(source_ids, target_in)
    source_tokens = _tokens(serving.source_vectorizer, source_ids[0])
    generated = _tokens(serving.target_vectorizer, tokens[0])
    return {
        "source_tokens": source_tokens,
        "generated": generated,
        "translation": serving.target_vectorizer.detokenize(tokens)[0].numpy().decode("utf-8"),
        "encoder": [
            np.asarray(m[0])[:, : len(source_tokens), : len(source_tokens)] for m in encoder_maps
        ],
        "cross": [np.asarray(m[0])[:, : len(generated), : len(source_tokens)] for m in cross_maps],
    }


def _heatmap(axis, weights, row_tokens, column_tokens, rows=True, columns=True):
    """One attention map on the fixed scale 0..1; tick labels on the sides asked for."""
    image = axis.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(len(column_tokens)), column_tokens if columns else [], rotation=90)
    axis.set_yticks(range(len(row_tokens)), row_tokens if rows else [])
    return image


def plot_attention_grid(maps, row_tokens, column_tokens, path, title, axes_names=ENCODER_AXES):
    """Every layer (rows) and head (columns) as one heatmap: `maps` is a list of `(H, T, S)`.

    Tick labels on the left column and the bottom row only, one colour bar (0..1): a large
    figure meant to be opened at its own size (a page links it and shows a few heads).
    """
    num_layers, num_heads = len(maps), maps[0].shape[0]
    panel = max(1.6, INCHES_PER_TOKEN * max(len(row_tokens), len(column_tokens)))
    figure, axes = plots.plt.subplots(
        num_layers,
        num_heads,
        figsize=(panel * num_heads + 2.5, panel * num_layers + 2.0),
        squeeze=False,
        layout="constrained",
    )
    for layer, layer_maps in enumerate(maps):
        for head in range(num_heads):
            axis = axes[layer, head]
            image = _heatmap(
                axis,
                layer_maps[head],
                row_tokens,
                column_tokens,
                rows=head == 0,
                columns=layer == num_layers - 1,
            )
            axis.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=10)
    figure.supxlabel(axes_names[0])
    figure.supylabel(axes_names[1])
    figure.suptitle(title, fontsize=12)
    figure.colorbar(image, ax=axes, shrink=0.5, label="attention weight")
    return plots.save_figure(figure, path)


def plot_attention_heads(
    maps, heads, row_tokens, column_tokens, path, title, axes_names=ENCODER_AXES
):
    """A few heads, large enough for a page: `heads` is a list of 1-based (layer, head) of
    `maps` (a list of `(H, T, S)`), drawn two a row with every tick label, one colour bar.

    Fits plots.PAGE_WIDTH at 9-point labels for sentences of up to about 20 tokens.
    """
    columns = min(2, len(heads))
    rows = -(-len(heads) // columns)
    figure, axes = plots.plt.subplots(
        rows,
        columns,
        figsize=(8.6, 4.1 * rows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for axis, (layer, head) in zip(axes.flat, heads, strict=False):  # spare axes hidden
        image = _heatmap(axis, maps[layer - 1][head - 1], row_tokens, column_tokens)
        axis.set_title(f"layer {layer}, head {head}", fontsize=11)
    for axis in list(axes.flat)[len(heads) :]:
        axis.set_visible(False)
    figure.supxlabel(axes_names[0])
    figure.supylabel(axes_names[1])
    figure.suptitle(title, fontsize=11)
    figure.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return plots.save_figure(figure, path)


def attention_figures(serving, text, folder, prefix=""):
    """{encoder_self_attention, cross_attention} PNG paths for one source text: every
    layer and head of each.

    The files are `prefix` + ENCODER_ATTENTION_PNG and `prefix` + CROSS_ATTENTION_PNG.
    """
    read = attention_of(serving, text)
    return {
        "encoder_self_attention": plot_attention_grid(
            read["encoder"],
            read["source_tokens"],
            read["source_tokens"],
            os.path.join(folder, prefix + ENCODER_ATTENTION_PNG),
            f"Encoder self-attention: {text}",
        ),
        "cross_attention": plot_attention_grid(
            read["cross"],
            read["generated"],
            read["source_tokens"],
            os.path.join(folder, prefix + CROSS_ATTENTION_PNG),
            f"Cross-attention: {text} -> {read['translation']}",
            axes_names=CROSS_AXES,
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
