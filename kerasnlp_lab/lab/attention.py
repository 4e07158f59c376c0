"""docs/attention.md: scaled dot-product attention, its masks, and the release Transformer's
encoder self-attention and cross-attention on the verse of docs/bahdanau_attention.md (the
first pair of the test split): the few heads the page discusses, large, and every layer and
head in two linked grids."""

import keras
import numpy as np

from kerasnlp_lab.evaluation import plots, translation
from kerasnlp_lab.evaluation.transformer import (
    CROSS_ATTENTION_PNG,
    CROSS_AXES,
    ENCODER_ATTENTION_PNG,
    attention_of,
    plot_attention_grid,
    plot_attention_heads,
)
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.layers.multi_head_self_attention import MultiHeadSelfAttention

MASKS_PNG = "attention_masks.png"
TRANSFORMER_PREFIX = "transformer_release_"
ENCODER_HEADS_PNG = TRANSFORMER_PREFIX + "encoder_heads.png"
CROSS_HEADS_PNG = TRANSFORMER_PREFIX + "cross_heads.png"
# The heads the page discusses, 1-based (layer, head).
ENCODER_HEADS = ((1, 2), (2, 5), (1, 8), (4, 6))
CROSS_HEADS = ((1, 7), (2, 1), (3, 7), (4, 7))
# A toy batch of one: four tokens and two padding slots, random embeddings (seeded).
MASK_TOKENS = ("Y", "esto", "decía", "dando", "[PAD]", "[PAD]")
MASK_REAL_TOKENS = 4
MASK_WIDTH = 16
MASK_SEED = 0


def masked_weights():
    """{title: attention weights (T, T)} of one random head under each kind of mask."""
    keras.utils.set_random_seed(MASK_SEED)
    inputs = np.random.default_rng(MASK_SEED).normal(size=(1, len(MASK_TOKENS), MASK_WIDTH))
    inputs = inputs.astype("float32")  # (1, T, D)
    real = np.arange(len(MASK_TOKENS)) < MASK_REAL_TOKENS
    query_mask = real[np.newaxis]  # (1, T)
    layer = MultiHeadSelfAttention(num_heads=1, key_dim=MASK_WIDTH)
    cases = {
        "no mask": {},
        "padding mask": {"query_mask": query_mask},
        "padding + causal mask": {"query_mask": query_mask, "use_causal_mask": True},
    }
    return {
        title: np.asarray(layer(inputs, return_attention_scores=True, **masks)[1])[0, 0]
        for title, masks in cases.items()
    }  # (T, T) each


def plot_masks(weights, path):
    """One heatmap per mask, the weights written in the cells, one colour bar."""
    figure, axes = plots.plt.subplots(
        1, len(weights), figsize=(8.8, 3.6), layout="constrained", squeeze=False
    )
    for axis, (title, matrix) in zip(axes[0], weights.items(), strict=True):
        image = axis.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
        for row in range(matrix.shape[0]):
            for column in range(matrix.shape[1]):
                axis.text(
                    column,
                    row,
                    f"{matrix[row, column]:.2f}".removeprefix("0"),  # .23: fits the cell
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if matrix[row, column] < 0.5 else "black",
                )
        axis.set_xticks(range(len(MASK_TOKENS)), MASK_TOKENS, rotation=90)
        axis.set_yticks(range(len(MASK_TOKENS)), MASK_TOKENS)
        axis.set_xlabel("key (attended)")
        axis.set_title(title, fontsize=10)
    axes[0, 0].set_ylabel("query (attending)")
    figure.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    return plots.save_figure(figure, path)


def shown_heads(heads, maps):
    """`heads` that `maps` (a list of (H, ...) per layer) has; in a smaller model (the tests'
    tiny one) each is clipped to its last layer and head, without repeats."""
    clipped = [(min(layer, len(maps)), min(head, maps[0].shape[0])) for layer, head in heads]
    return list(dict.fromkeys(clipped))


def make(lab):
    """The masks figure; the Transformer's heads discussed and its two full grids, on the
    first verse of the test split; the `verse` section."""
    masks = plot_masks(masked_weights(), lab.figure(MASKS_PNG))
    run, serving = exporter.load_serving(lab.folders[exporter.MODEL_NAME])
    sources, references = translation.read_pairs(run["dataset"], "test", 1)
    read = attention_of(serving, sources[0])
    source, generated = read["source_tokens"], read["generated"]
    figures = [
        masks,
        plot_attention_heads(
            read["encoder"],
            shown_heads(ENCODER_HEADS, read["encoder"]),
            source,
            source,
            lab.figure(ENCODER_HEADS_PNG),
            "Encoder self-attention, four heads",
        ),
        plot_attention_heads(
            read["cross"],
            shown_heads(CROSS_HEADS, read["cross"]),
            generated,
            source,
            lab.figure(CROSS_HEADS_PNG),
            "Cross-attention, four heads",
            axes_names=CROSS_AXES,
        ),
        plot_attention_grid(
            read["encoder"],
            source,
            source,
            lab.figure(TRANSFORMER_PREFIX + ENCODER_ATTENTION_PNG),
            f"Encoder self-attention, every layer and head: {sources[0]}",
        ),
        plot_attention_grid(
            read["cross"],
            generated,
            source,
            lab.figure(TRANSFORMER_PREFIX + CROSS_ATTENTION_PNG),
            f"Cross-attention, every layer and head: {sources[0]} -> {read['translation']}",
            axes_names=CROSS_AXES,
        ),
    ]
    verse = (
        f"Source: {sources[0]}\n\nReference: {references[0]}\n\n"
        f"Greedy translation by the release Transformer: {read['translation']}\n\n"
        f"Source tokens: {' '.join(f'`{token}`' for token in source)}"
    )
    return figures, {"verse": verse}
