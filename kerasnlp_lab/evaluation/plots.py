"""Figures shared by the models (matplotlib, PNG files, no screen needed).

Readability rule (docs/README.md, checked by tests/test_docs.py): every figure is saved at
`DPI` and none of its text is smaller than `MIN_FONT_POINTS`, so text is at least
MIN_FONT_POINTS * DPI / 72 = 12.5 pixels high in the PNG. A figure a page shows inline is
at most `PAGE_WIDTH` pixels wide, so a 900-pixel column shows it at full size: text shown
at width W is `points * DPI / 72 * min(1, PAGE_WIDTH / W)` pixels high, never below 12.5.
Wider figures (the full attention grids) are only linked, and open at their own size.
"""

import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.text import Text  # noqa: E402

DPI = 100
MIN_FONT_POINTS = 9.0
PAGE_WIDTH = 900  # pixels: the width of a page's column


def small_texts(figure):
    """The visible, non-empty texts of a drawn figure smaller than MIN_FONT_POINTS:
    [(text, points)]."""
    figure.canvas.draw()  # makes the tick labels
    return [
        (text.get_text(), text.get_fontsize())
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_POINTS
    ]


def save_figure(figure, path):
    """Writes `figure` as a PNG at DPI and closes it; returns the path.

    Raises ValueError (and writes nothing) if a text is smaller than MIN_FONT_POINTS.
    """
    small = small_texts(figure)
    if small:
        plt.close(figure)
        shown = ", ".join(f"{text!r} ({points:g} pt)" for text, points in small[:5])
        raise ValueError(
            f"Expected every text of {os.path.basename(path)} at {MIN_FONT_POINTS:g} pt or "
            f"more; received {len(small)} smaller: {shown}."
        )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_loss_curves(history_csv, path, title):
    """Training and validation loss per epoch, from the CSVLogger file of a run."""
    with open(history_csv) as file:
        rows = list(csv.DictReader(file))
    epochs = [int(row["epoch"]) + 1 for row in rows]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, [float(row["loss"]) for row in rows], marker="o", label="train")
    if rows and "val_loss" in rows[0]:
        axes.plot(epochs, [float(row["val_loss"]) for row in rows], marker="o", label="validation")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.legend()
    return save_figure(figure, path)
