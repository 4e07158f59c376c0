"""docs/positional_encoding.md: the sinusoid table of the release Transformer, the dot-product
similarity of positions, and the rotation that moves every position by the same offset."""

import numpy as np

from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.lab.context import markdown_table, run_description
from kerasnlp_lab.layers.positional_encoding import sinusoid_table
from kerasnlp_lab.models import transformer

TABLE_PNG = "positional_encoding.png"
SHOWN_POSITIONS = (0, 30, 60)
OFFSETS = (1, 5, 20, 50)
MAX_WAVELENGTH = 10000.0


def frequencies(depth, max_wavelength=MAX_WAVELENGTH):
    """The angular frequency w_i of each sin/cos pair of columns (2i, 2i+1): (depth // 2,)."""
    return 1.0 / np.power(max_wavelength, np.arange(0, depth, 2) / depth)


def offset_matrix(offset, depth, max_wavelength=MAX_WAVELENGTH):
    """M_k (depth, depth): PE(p + k) = M_k PE(p) for every position p.

    A rotation by the angle k w_i in each (sin, cos) pair of columns:
    sin((p+k)w) = cos(kw) sin(pw) + sin(kw) cos(pw),
    cos((p+k)w) = -sin(kw) sin(pw) + cos(kw) cos(pw).
    """
    matrix = np.zeros((depth, depth))
    for pair, angle in enumerate(offset * frequencies(depth, max_wavelength)):
        sin, cos = 2 * pair, 2 * pair + 1
        matrix[sin, sin], matrix[sin, cos] = np.cos(angle), np.sin(angle)
        matrix[cos, sin], matrix[cos, cos] = -np.sin(angle), np.cos(angle)
    return matrix


def offset_errors(table, offsets):
    """{k: max over p and dimensions of |PE(p + k) - M_k PE(p)|}."""
    depth = table.shape[1]
    return {
        offset: float(
            np.abs(table[offset:] - table[:-offset] @ offset_matrix(offset, depth).T).max()
        )
        for offset in offsets
        if offset < len(table)
    }


def diagonal_spread(similarity):
    """Max over offsets k of (max - min) of PE(p)·PE(p + k) over p: 0 if only k matters."""
    return max(float(np.ptp(np.diagonal(similarity, offset))) for offset in range(len(similarity)))


def plot(table, similarity, path):
    """The table and the similarity matrix side by side, and below them the similarity
    against the offset from a few positions."""
    figure = plots.plt.figure(figsize=(8.8, 7.6), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(1.15, 1))
    table_axes, similarity_axes = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    offset_axes = figure.add_subplot(grid[1, :])
    image = table_axes.imshow(table, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    table_axes.set_xlabel("dimension (even: sin, odd: cos)")
    table_axes.set_ylabel("position p")
    table_axes.set_title(f"PE table {table.shape}")
    figure.colorbar(image, ax=table_axes, fraction=0.06, label="PE(p, dimension)")
    image = similarity_axes.imshow(similarity, cmap="viridis", aspect="auto")
    similarity_axes.set_xlabel("position q")
    similarity_axes.set_ylabel("position p")
    similarity_axes.set_title("PE(p) · PE(q)")
    figure.colorbar(image, ax=similarity_axes, fraction=0.06, label="dot product")
    for position in SHOWN_POSITIONS:
        if position < len(table):
            offsets = np.arange(len(table)) - position
            offset_axes.plot(offsets, similarity[position], label=f"p = {position}")
    offset_axes.set_xlabel("offset q - p")
    offset_axes.set_ylabel("PE(p) · PE(q)")
    offset_axes.set_title("PE(p) · PE(q) against the offset: the curves coincide")
    offset_axes.legend(fontsize=9)
    offset_axes.grid(alpha=0.3)
    return plots.save_figure(figure, path)


def make(lab):
    """The figure and the offset table for the release Transformer's sizes."""
    config = transformer.config_from_dict(
        run_description(lab.folders[transformer.MODEL_NAME])["config"]
    )
    length, depth = transformer.max_positions(config), config.model_dim
    table = sinusoid_table(length, depth, MAX_WAVELENGTH)  # (L, D)
    similarity = table @ table.T  # (L, L)
    errors = offset_errors(table, OFFSETS)
    rows = [(offset, f"{error:.1e}") for offset, error in errors.items()]
    header = ("offset k", "largest error of M_k PE(p) as PE(p+k), over all p and dimensions")
    section = (
        f"{markdown_table(header, rows)}\n\n"
        f"Positions 0–{length - 1}, depth {depth} (the release Transformer's `max_length` "
        f"and `model_dim`), float64. The similarity PE(p)·PE(q) depends on q − p only: along "
        f"every diagonal of the matrix it varies by at most {diagonal_spread(similarity):.1e}; "
        f"PE(p)·PE(p) = {similarity[0, 0]:.0f} = depth / 2 for every p."
    )
    return [plot(table, similarity, lab.figure(TABLE_PNG))], {"offsets": section}
