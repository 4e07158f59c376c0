"""Autoencoder training throughput: our tf.data pipeline (batches gathered by seeded shuffled
indices, with and without XLA) and a per-example `Dataset.shuffle` pipeline, against the classic
tutorial's `model.fit(x_train, x_train)` on NumPy arrays.

Same model (classic preset), same images, batch size and epochs; one run, printed as
images/second and as ratios over the NumPy way. Tracing is excluded (one warm-up epoch).

    python benchmarks/autoencoder_train.py [--epochs 3] [--images 60000]
"""

import argparse
import time

import keras

from kerasnlp_lab.data.epochs import seeded_epochs, seeded_tensor_epochs, steps_per_epoch
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training.autoencoder import load_pixels


def images_per_second(fit, epochs, count):
    """Runs fit(1) to trace, then times fit(epochs)."""
    fit(1)
    start = time.perf_counter()
    fit(epochs)
    return epochs * count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--dataset", default="auto")
    args = parser.parse_args()

    config = autoencoder.get_config("classic")
    pixels, count = load_pixels(args.dataset, "train", limit=args.images)
    tensor = next(iter(pixels.map(lambda image, label: image).batch(count)))  # (N, 28, 28)
    array = tensor.numpy()
    pairs = pixels.map(lambda image, label: (image, image))

    def numpy_fit():
        model = autoencoder.build_autoencoder(config)
        return lambda epochs: model.fit(
            array, array, batch_size=config.batch_size, epochs=epochs, shuffle=True, verbose=0
        )

    def pipeline_fit(make_epochs, jit_compile=False):
        model = autoencoder.build_autoencoder(config)
        model.jit_compile = jit_compile
        return lambda epochs: model.fit(
            make_epochs(epochs),
            epochs=epochs,
            steps_per_epoch=steps_per_epoch(count, config.batch_size),
            verbose=0,
        )

    def gathered(epochs):
        return seeded_tensor_epochs(
            (tensor, tensor), batch_size=config.batch_size, seed=0, first_epoch=0, epochs=epochs
        )

    def shuffled(epochs):
        return seeded_epochs(
            pairs,
            num_examples=count,
            batch_size=config.batch_size,
            seed=0,
            first_epoch=0,
            epochs=epochs,
        )

    keras.utils.set_random_seed(0)
    results = {
        "NumPy arrays, model.fit(x, x)": images_per_second(numpy_fit(), args.epochs, count),
        "tf.data gathered batches (ours)": images_per_second(
            pipeline_fit(gathered), args.epochs, count
        ),
        "  + jit_compile": images_per_second(pipeline_fit(gathered, True), args.epochs, count),
        "tf.data per-example shuffle": images_per_second(
            pipeline_fit(shuffled), args.epochs, count
        ),
    }
    baseline = results["NumPy arrays, model.fit(x, x)"]
    print(
        f"Autoencoder training (classic preset): {count} images, batch {config.batch_size}, "
        f"{args.epochs} epochs"
    )
    for name, rate in results.items():
        print(f"  {name:32s} {rate:9.0f} images/s   ratio {rate / baseline:5.2f}")


if __name__ == "__main__":
    main()
