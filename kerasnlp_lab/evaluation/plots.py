"""Figures shared by the models (matplotlib, PNG files, no screen needed)."""

import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def save_figure(figure, path):
    """Writes `figure` as a PNG and closes it; returns the path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
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
