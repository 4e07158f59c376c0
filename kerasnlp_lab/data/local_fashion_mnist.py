"""TFDS builder `local_fashion_mnist`: Fashion-MNIST from the IDX files of a Debian package.

The Debian package ``dataset-fashion-mnist`` installs the four gzipped IDX files in
``/usr/share/datasets/fashion-mnist``; ``$KERASNLP_LAB_FASHION_MNIST_DIR`` points elsewhere.
Features and splits match TFDS's own ``fashion_mnist`` (60,000 train / 10,000 test), so
the two are interchangeable.
"""

import gzip
import os
import struct

import numpy as np
import tensorflow_datasets as tfds

from kerasnlp_lab.errors import DataUnavailableError

FASHION_MNIST_DIR_ENV = "KERASNLP_LAB_FASHION_MNIST_DIR"
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DEBIAN_PACKAGE = "dataset-fashion-mnist"

# split -> (images file, labels file)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


def fashion_mnist_dir():
    """The folder that should hold the IDX files ($KERASNLP_LAB_FASHION_MNIST_DIR or Debian's)."""
    return os.environ.get(FASHION_MNIST_DIR_ENV) or DEBIAN_FASHION_MNIST_DIR


def missing_files():
    """Paths of the IDX files that are not there (empty when all four are present)."""
    folder = fashion_mnist_dir()
    paths = [os.path.join(folder, name) for pair in IDX_FILES.values() for name in pair]
    return [path for path in paths if not os.path.isfile(path)]


def missing_files_message():
    """One sentence naming the missing files and the package that installs them."""
    return (
        "local_fashion_mnist needs the Fashion-MNIST IDX files, "
        f"missing: {', '.join(missing_files())}. "
        f"Install them with: sudo apt-get install {DEBIAN_PACKAGE} "
        f"(or set ${FASHION_MNIST_DIR_ENV} to a folder holding them)."
    )


def read_idx_images(path):
    """uint8 array (N, 28, 28) from a gzipped IDX3 file."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != _IMAGES_MAGIC:
        raise DataUnavailableError(
            f"{path}: expected an IDX image file (magic {_IMAGES_MAGIC}), got magic {magic}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)  # (N, 28, 28)


def read_idx_labels(path):
    """uint8 array (N,) from a gzipped IDX1 file."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic != _LABELS_MAGIC:
        raise DataUnavailableError(
            f"{path}: expected an IDX label file (magic {_LABELS_MAGIC}), got magic {magic}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=8, count=count)


class LocalFashionMnist(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST read from local IDX files; same features and splits as `fashion_mnist`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Images and labels from the Debian package dataset-fashion-mnist."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Fashion-MNIST (Zalando), 28x28 grayscale images in 10 classes, "
                "read from local IDX files."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Local files only.
        if missing_files():
            raise DataUnavailableError(missing_files_message())
        folder = fashion_mnist_dir()
        return {
            split: self._generate_examples(
                os.path.join(folder, images), os.path.join(folder, labels)
            )
            for split, (images, labels) in IDX_FILES.items()
        }

    def _generate_examples(self, images_path, labels_path):
        images = read_idx_images(images_path)
        labels = read_idx_labels(labels_path)
        if len(images) != len(labels):
            raise DataUnavailableError(
                f"{images_path} has {len(images)} images "
                f"but {labels_path} has {len(labels)} labels."
            )
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield index, {"image": image[:, :, None], "label": int(label)}  # (28, 28, 1)
