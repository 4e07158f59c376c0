"""Shared pytest set-up: quiet TensorFlow, a private TFDS data dir, and markers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
