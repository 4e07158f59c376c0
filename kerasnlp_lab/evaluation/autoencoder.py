"""`kerasnlp-lab evaluate autoencoder`: test BCE, MSE, PSNR, and the three figures."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import fit
from kerasnlp_lab.training import workdir as workdir_lib
from kerasnlp_lab.training.autoencoder import MODEL_NAME, load_pixels

NUM_SHOWN_IMAGES = 10
METRICS_FILE = "metrics.json"
RECONSTRUCTIONS_PNG = "reconstructions.png"
LOSS_CURVES_PNG = "loss_curves.png"
CODES_PNG = "codes_pca.png"


def reconstruction_metrics(images, reconstructions):
    """Mean binary cross-entropy and MSE per pixel, and PSNR in dB averaged over images."""
    images = tf.convert_to_tensor(images, tf.float32)
    reconstructions = tf.convert_to_tensor(reconstructions, tf.float32)
    bce = keras.losses.binary_crossentropy(images, reconstructions)  # (N, 28)
    psnr = tf.image.psnr(images[..., None], reconstructions[..., None], max_val=1.0)  # (N,)
    return {
        "bce": float(tf.reduce_mean(bce)),
        "mse": float(tf.reduce_mean(tf.square(images - reconstructions))),
        "psnr": float(tf.reduce_mean(psnr)),
    }


def principal_components(codes, num_components=2):
    """Projects codes (N, D) on their first principal components: (N, num_components)."""
    centered = codes - codes.mean(axis=0)
    _, _, directions = np.linalg.svd(centered, full_matrices=False)
    return centered @ directions[:num_components].T


def plot_reconstructions(images, reconstructions, path):
    """Originals (top row) over their reconstructions (bottom row)."""
    count = len(images)
    figure, axes = plots.plt.subplots(2, count, figsize=(count, 2.2))
    for column in range(count):
        for row, picture in enumerate((images[column], reconstructions[column])):
            axes[row, column].imshow(picture, cmap="gray", vmin=0.0, vmax=1.0)
            axes[row, column].axis("off")
    axes[0, 0].set_title("original", loc="left", fontsize=9)
    axes[1, 0].set_title("reconstruction", loc="left", fontsize=9)
    return plots.save_figure(figure, path)


def plot_codes(codes, labels, path, label_names=None):
    """The 2-D PCA projection of the codes, coloured by label (named in a legend beside the
    points if given)."""
    points = principal_components(codes)
    figure, axes = plots.plt.subplots(figsize=(7, 5))
    scatter = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=3)
    if label_names is None:
        figure.colorbar(scatter, ax=axes, label="label")
    else:
        handles, _ = scatter.legend_elements()
        present = sorted(set(np.asarray(labels).tolist()))
        axes.legend(
            handles,
            [label_names[label] for label in present],
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            markerscale=1.5,
        )
    axes.set_xlabel("principal component 1")
    axes.set_ylabel("principal component 2")
    axes.set_title(f"{codes.shape[1]}-d codes, first two principal components")
    return plots.save_figure(figure, path)


def evaluate(workdir="runs/autoencoder", limit=None, output_dir=None):
    """Returns the test metrics of the trained model in `workdir` and writes the figures.

    `limit` evaluates the first `limit` images of the test split only (the fast check of
    a release preset); figures and metrics.json go to `output_dir` (default: the run's
    folder; for a preset, runs/presets/MODEL).
    """
    run, model = workdir_lib.load_run(workdir, MODEL_NAME)
    output_dir = workdir_lib.outputs_dir(workdir, MODEL_NAME, output_dir)
    test, count = load_pixels(run["dataset"], "test", limit)
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    labels = np.array([label for _, label in test.as_numpy_iterator()])
    reconstructions = model.predict(images, batch_size=1024, verbose=0)
    codes = autoencoder.encoder_of(model).predict(images, batch_size=1024, verbose=0)
    metrics = {
        "model": MODEL_NAME,
        "preset": run["preset"],
        "dataset": run["dataset"],
        "test_images": count,
        **reconstruction_metrics(images, reconstructions),
    }
    figures = {
        "reconstructions": plot_reconstructions(
            images[:NUM_SHOWN_IMAGES],
            reconstructions[:NUM_SHOWN_IMAGES],
            os.path.join(output_dir, RECONSTRUCTIONS_PNG),
        ),
        "codes_pca": plot_codes(codes, labels, os.path.join(output_dir, CODES_PNG)),
    }
    history = os.path.join(workdir, fit.HISTORY_FILE)
    if os.path.exists(history):
        figures["loss_curves"] = plots.plot_loss_curves(
            history, os.path.join(output_dir, LOSS_CURVES_PNG), "autoencoder: binary cross-entropy"
        )
    metrics["figures"] = figures
    with open(os.path.join(output_dir, METRICS_FILE), "w") as file:
        json.dump(metrics, file, indent=2)
    return metrics
