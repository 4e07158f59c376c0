"""`kerasnlp-lab train autoencoder`: tf.data input, resumable epochs, the trained model."""

import keras
import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.data.epochs import epoch_seed, seeded_tensor_epochs, steps_per_epoch
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import distribute, fit
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = autoencoder.MODEL_NAME
MODEL = autoencoder
VOCABULARY_FILES = ()  # what a preset copies beside the weights
# What a run writes beside the model, checkpoints and logs (--overwrite deletes them too).
OUTPUT_FILES = ()


def image_splits(config):
    """TFDS split strings of the training and validation parts of the train split."""
    boundary = 100 - config.validation_fraction_percent
    return f"train[:{boundary}%]", f"train[{boundary}%:]"


def load_pixels(dataset, split, limit=None):
    """(dataset of float32 images (28, 28) in [0, 1], their labels, number of examples)."""
    examples = catalog.load_images(dataset, split)
    if limit is not None:
        examples = examples.take(limit)
    examples = examples.map(
        lambda example: (tf.cast(example["image"], tf.float32) / 255.0, example["label"]),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).cache()
    count = int(examples.reduce(0, lambda count, _: count + 1))
    return examples, count


def noisy_inputs(noise_std, seed):
    """A batch transform of (images, targets): noise on the images, seeded by (seed, epoch,
    step)."""

    def transform(batch, epoch, step):
        images, targets = batch
        noise_seed = tf.stack([tf.cast(epoch_seed(seed, epoch), tf.int64), step])
        noise = tf.random.stateless_normal(tf.shape(images), seed=noise_seed) * noise_std
        return tf.clip_by_value(images + noise, 0.0, 1.0), targets

    return transform


def build_for_run(config, workdir):
    """The compiled model of a run's config (the autoencoder needs nothing from `workdir`)."""
    return autoencoder.build_autoencoder(config)


def train(
    preset=None,
    dataset="auto",
    epochs=None,
    workdir="runs/autoencoder",
    resume=False,
    seed=None,
    noise=None,
    strategy="default",
    overwrite=False,
):
    """Trains the autoencoder and writes the model, checkpoints and logs to `workdir`.

    `strategy` is a `distribute.STRATEGIES` name; only the chief writes `workdir`. A new run
    into a folder that holds a run is refused unless `overwrite` (`distribute.start_run`).
    """
    cluster, output, resume, (preset, dataset, config, seed) = distribute.start_run(
        strategy,
        workdir,
        resume,
        overwrite,
        model=autoencoder,
        kind="images",
        preset=preset,
        dataset=dataset,
        epochs=epochs,
        seed=seed,
        noise_std=noise,
    )
    workdir_lib.save_run_description(
        output,
        model_name=MODEL_NAME,
        preset=preset,
        dataset=dataset,
        config=config,
        seed=seed,
        resume=resume,
    )
    train_split, validation_split = image_splits(config)
    train_images, num_train = load_pixels(dataset, train_split, config.train_examples)
    validation_images, _ = load_pixels(dataset, validation_split)
    # Seeded after loading: preparing a dataset for the first time draws random numbers too.
    keras.utils.set_random_seed(seed)
    train_pixels = next(iter(train_images.map(lambda image, label: image).batch(num_train)))
    transform = noisy_inputs(config.noise_std, seed) if config.noise_std > 0 else None
    print(
        f"Training autoencoder ({preset}) on {dataset}: {num_train} images, "
        f"{config.epochs} epochs, batch {config.batch_size}"
        + (f", input noise {config.noise_std}" if transform else "")
        + f"; {cluster.describe()}"
    )
    model = fit.fit_resumable(
        lambda: build_for_run(config, workdir),
        lambda first_epoch: seeded_tensor_epochs(
            (train_pixels, train_pixels),  # (inputs, targets)
            batch_size=config.batch_size,
            seed=seed,
            first_epoch=first_epoch,
            epochs=config.epochs,
            transform=transform,
        ),
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch(num_train, config.batch_size),
        workdir=workdir,
        resume=resume,
        validation_data=validation_images.map(lambda image, label: (image, image))
        .batch(1024)
        .prefetch(tf.data.AUTOTUNE),
        cluster=cluster,
    )
    workdir_lib.save_model(output, model)
    return model
