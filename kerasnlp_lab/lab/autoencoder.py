"""docs/autoencoder.md: reconstructions, the code space, a line between two codes, denoising."""

import tempfile

import numpy as np
import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.evaluation.autoencoder import (
    plot_codes,
    plot_reconstructions,
    reconstruction_metrics,
)
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import autoencoder as training
from kerasnlp_lab.training import workdir as workdir_lib
from kerasnlp_lab.training.autoencoder import MODEL_NAME, load_pixels

RECONSTRUCTIONS_PNG = "autoencoder_release_reconstructions.png"
CODES_PNG = "autoencoder_codes_pca.png"
INTERPOLATION_PNG = "autoencoder_interpolation.png"
DENOISING_PNG = "autoencoder_denoising.png"
NUM_SHOWN = 8
# The two ends of each interpolated line: (first image of class a, first image of class b).
INTERPOLATED_CLASSES = ((0, 1), (7, 5))  # T-shirt/top -> Trouser, Sneaker -> Sandal
INTERPOLATION_STEPS = 9
NOISE_STDS = (0.1, 0.2, 0.4)
NOISE_SEED = 0
# The comparison: the `deep` preset trained briefly on noisy inputs (clean targets).
DENOISER_PRESET, DENOISER_EPOCHS, DENOISER_NOISE = "deep", 5, 0.2


def interpolate(start, end, steps):
    """`steps` points on the line from `start` to `end` (both included): (steps, ...)."""
    weights = np.linspace(0.0, 1.0, steps).reshape((steps,) + (1,) * np.ndim(start))
    return (1.0 - weights) * start + weights * end


def add_noise(images, std, seed=NOISE_SEED):
    """Images plus seeded Gaussian noise, clipped to [0, 1] (as `train --noise` does)."""
    noise = tf.random.stateless_normal(tf.shape(images), seed=[seed, 0]) * std
    return tf.clip_by_value(images + noise, 0.0, 1.0).numpy()


def plot_rows(rows, row_titles, path, column_labels=None):
    """A grid of 28x28 images, one titled row per entry of `rows` ((N, 28, 28) each), and a
    label under each column of the last row if `column_labels` are given."""
    count = len(rows[0])
    figure, axes = plots.plt.subplots(
        len(rows), count, figsize=(count * 0.9, len(rows) * 1.15 + 0.2), squeeze=False
    )
    figure.subplots_adjust(wspace=0.05, hspace=0.4)
    for row, (images, title) in enumerate(zip(rows, row_titles, strict=True)):
        for column in range(count):
            axes[row, column].imshow(images[column], cmap="gray", vmin=0.0, vmax=1.0)
            axes[row, column].axis("off")
        axes[row, 0].set_title(title, loc="left", fontsize=9)
    for column, label in enumerate(column_labels or ()):
        axis = axes[-1, column]
        axis.text(0.5, -0.12, label, transform=axis.transAxes, ha="center", va="top")
    return plots.save_figure(figure, path)


def interpolation_figure(model, images, labels, names, path):
    """Decoded points on the line between two codes, above the same blend done on pixels."""
    encoder, decoder = autoencoder.encoder_of(model), autoencoder.decoder_of(model)
    rows, titles = [], []
    for first, last in INTERPOLATED_CLASSES:
        ends = images[[int(np.argmax(labels == first)), int(np.argmax(labels == last))]]
        codes = encoder.predict(ends, verbose=0)  # (2, 32)
        line = interpolate(codes[0], codes[1], INTERPOLATION_STEPS)  # (steps, 32)
        rows.append(decoder.predict(line, verbose=0))  # (steps, 28, 28)
        titles.append(f"decode(code line): {names[first]} -> {names[last]}")
        rows.append(interpolate(ends[0], ends[1], INTERPOLATION_STEPS))
        titles.append("the same blend of pixels")
    steps = INTERPOLATION_STEPS - 1
    labels = ["t = 0", *(f"{k}/{steps}" for k in range(1, steps)), "t = 1"]
    return plot_rows(rows, titles, path, column_labels=labels)


def train_denoiser(lab, dataset):
    """A denoising autoencoder trained briefly (`train autoencoder --noise`) in a temporary run."""
    with tempfile.TemporaryDirectory() as workdir:
        return training.train(
            preset=lab.pick(DENOISER_PRESET, "tiny"),
            dataset=dataset,
            epochs=lab.pick(DENOISER_EPOCHS, 1),
            workdir=workdir,
            seed=0,
            noise=DENOISER_NOISE,
        )


def denoising(models, images, path):
    """Noisy inputs over each model's reconstructions: the figure and the PSNR table rows."""
    rows, titles, table = [], [], []
    for std in (0.0, *NOISE_STDS):
        noisy = add_noise(images, std) if std else images
        row = [std, f"{reconstruction_metrics(images, noisy)['psnr']:.2f}" if std else "∞"]
        if std:
            rows.append(noisy[:NUM_SHOWN])
            titles.append(f"input + noise (std {std})")
        for name, model in models.items():
            reconstructed = model.predict(noisy, batch_size=1024, verbose=0)
            row.append(f"{reconstruction_metrics(images, reconstructed)['psnr']:.2f}")
            if std:
                rows.append(reconstructed[:NUM_SHOWN])
                titles.append(f"reconstructed by the {name}")
        table.append(row)
    return plot_rows(rows, titles, path), table


def make(lab):
    """The page's figures and its `denoising` table."""
    run, model = workdir_lib.load_run(lab.folders[MODEL_NAME], MODEL_NAME)
    test, count = load_pixels(run["dataset"], "test", lab.pick(5000, 300))
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    labels = np.array([label for _, label in test.as_numpy_iterator()])
    names = catalog.label_names(run["dataset"])
    reconstructions = model.predict(images[:NUM_SHOWN], verbose=0)
    codes = autoencoder.encoder_of(model).predict(images, batch_size=1024, verbose=0)
    models = {"release model": model, "denoising model": train_denoiser(lab, run["dataset"])}
    shown = lab.pick(1000, 100)
    denoising_png, table = denoising(models, images[:shown], lab.figure(DENOISING_PNG))
    figures = [
        plot_reconstructions(images[:NUM_SHOWN], reconstructions, lab.figure(RECONSTRUCTIONS_PNG)),
        plot_codes(codes, labels, lab.figure(CODES_PNG), label_names=names),
        interpolation_figure(model, images, labels, names, lab.figure(INTERPOLATION_PNG)),
        denoising_png,
    ]
    header = ("noise std", "noisy input", *(f"{name}'s reconstruction" for name in models))
    return figures, {
        "denoising": f"{markdown_table(header, table)}\n\nPSNR in dB against the clean "
        f"image, first {shown:,} test images of {run['dataset']}, noise seed {NOISE_SEED}. "
        f"Release model: `{run['preset']}`, {run['config']['epochs']} epochs on clean "
        f"images; denoising model: `{lab.pick(DENOISER_PRESET, 'tiny')}` trained "
        f"{lab.pick(DENOISER_EPOCHS, 1)} epochs with input noise {DENOISER_NOISE}."
    }
