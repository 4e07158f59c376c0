"""Shared pytest set-up: quiet TensorFlow and a private TFDS data dir for the session."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Datasets are prepared once per test session into a fresh folder (subprocesses inherit it),
# so the tests never depend on, or write into, the user's ~/tensorflow_datasets.
os.environ.setdefault("TFDS_DATA_DIR", tempfile.mkdtemp(prefix="kerasnlp-lab-tfds-"))
