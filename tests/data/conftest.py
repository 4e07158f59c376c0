"""Fixtures for the data tests: the offline corpora prepared once per session into a tmp dir."""

import time

import pytest
import tensorflow_datasets as tfds

from kerasnlp_lab.data import catalog

OFFLINE_BUILDERS = (
    "sword_text/kjv",
    "sword_text/web",
    "sword_parallel/spa_eng",
    "local_fashion_mnist",
)


def prepare_all(data_dir):
    """Prepare every offline builder into ``data_dir``; returns {name: seconds}."""
    seconds = {}
    for name in OFFLINE_BUILDERS:
        start = time.perf_counter()
        tfds.builder(name, data_dir=str(data_dir)).download_and_prepare()
        seconds[name] = time.perf_counter() - start
    return seconds


@pytest.fixture(scope="session")
def offline_files_present():
    """Skip (naming the packages) when the Debian data files are not installed."""
    reasons = [catalog.missing_offline_message(name) for name in catalog.OFFLINE]
    reasons = [reason for reason in reasons if reason]
    if reasons:
        pytest.skip("; ".join(reasons))


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory, offline_files_present):
    """A TFDS data dir holding all offline corpora, prepared once for the session."""
    tfds.disable_progress_bar()
    data_dir = tmp_path_factory.mktemp("tfds_prepared")
    seconds = prepare_all(data_dir)
    print("\nprepare seconds:", {name: round(value, 1) for name, value in seconds.items()})
    return str(data_dir)
