"""docs/attention.md: scaled dot-product attention, its masks, and the release Transformer's
encoder self-attention and cross-attention on a verse."""

import keras
import numpy as np

from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.evaluation.transformer import FIXED_VERSE, attention_figures
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.layers.multi_head_self_attention import MultiHeadSelfAttention

MASKS_PNG = "attention_masks.png"
TRANSFORMER_PREFIX = "transformer_release_"
# A toy batch of one: four tokens and two padding slots, random embeddings (seeded).
MASK_TOKENS = ("En", "el", "principio", "creó", "[PAD]", "[PAD]")
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
    """One heatmap per mask, the weights written in the cells."""
    figure, axes = plots.plt.subplots(1, len(weights), figsize=(4.2 * len(weights), 4))
    for axis, (title, matrix) in zip(axes, weights.items(), strict=True):
        axis.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
        for row in range(matrix.shape[0]):
            for column in range(matrix.shape[1]):
                axis.text(
                    column,
                    row,
                    f"{matrix[row, column]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[row, column] < 0.5 else "black",
                )
        axis.set_xticks(range(len(MASK_TOKENS)), MASK_TOKENS, rotation=90, fontsize=8)
        axis.set_yticks(range(len(MASK_TOKENS)), MASK_TOKENS, fontsize=8)
        axis.set_xlabel("key (attended)")
        axis.set_title(title, fontsize=10)
    axes[0].set_ylabel("query (attending)")
    return plots.save_figure(figure, path)


def make(lab):
    """The masks figure and the Transformer's two attention figures on Genesis 1:1."""
    masks = plot_masks(masked_weights(), lab.figure(MASKS_PNG))
    _, serving = exporter.load_serving(lab.folders[exporter.MODEL_NAME])
    maps = attention_figures(serving, FIXED_VERSE, lab.figures_dir, prefix=TRANSFORMER_PREFIX)
    return [masks, maps["encoder_self_attention"], maps["cross_attention"]], {}
