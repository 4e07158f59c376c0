"""Autoencoder training: a killed run resumes to the weights of an uninterrupted one."""

import csv
import json
import os
import signal
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import autoencoder as training
from kerasnlp_lab.training import checkpoints
from kerasnlp_lab.training import workdir as workdir_lib
from tests.cli_runner import run_cli, start_cli

EPOCHS = 4
TRAIN_ARGS = ("train", "autoencoder", "--preset", "tiny", "--epochs", EPOCHS, "--seed", 3)


def completed_epochs(workdir):
    found = checkpoints.completed_checkpoints(os.path.join(workdir, "checkpoints"))
    return found[-1][0] if found else 0


def wait_for(condition, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run_cli(*TRAIN_ARGS, "--workdir", straight)

    process = start_cli(*TRAIN_ARGS, "--workdir", interrupted)
    wait_for(lambda: completed_epochs(interrupted) >= 1 or process.poll() is not None)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]
    done = completed_epochs(interrupted)
    assert 1 <= done < EPOCHS
    assert not os.path.exists(interrupted / "model.keras")

    # Resumed without --seed: the run's stored seed 3 keeps the data order.
    resumed = run_cli(
        "train", "autoencoder", "--epochs", EPOCHS, "--workdir", interrupted, "--resume"
    )
    assert f"Resuming from epoch {done} of {EPOCHS}" in resumed.stdout
    with open(interrupted / "history.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == list(range(EPOCHS))

    expected = keras.saving.load_model(straight / "model.keras").get_weights()
    actual = keras.saving.load_model(interrupted / "model.keras").get_weights()
    assert len(actual) == len(expected) == 8  # tiny: 784-64-32-64-784, kernels and biases
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_denoising_run_trains_on_noisy_inputs(tmp_path):
    model = training.train(preset="tiny", epochs=1, noise=0.3, workdir=str(tmp_path))
    with open(tmp_path / "run.json") as file:
        assert json.load(file)["config"]["noise_std"] == 0.3
    assert model.output_shape == (None, 28, 28)


def test_resume_needs_an_earlier_run(tmp_path):
    with pytest.raises(UserError, match="Nothing to resume in"):
        training.train(preset="tiny", workdir=str(tmp_path), resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "epoch-0001.keras").write_bytes(b"not a zip file")
    with pytest.raises(UserError, match=r"epoch-0001.keras is corrupt and cannot be resumed"):
        checkpoints.restore(str(tmp_path))


def test_noisy_inputs_are_seeded_clipped_and_targets_clean():
    images = tf.random.uniform((4, 28, 28))
    transform = training.noisy_inputs(0.5, seed=7)
    noisy, clean = transform((images, images), 2, tf.constant(5, tf.int64))
    again, _ = transform((images, images), 2, tf.constant(5, tf.int64))
    other, _ = transform((images, images), 3, tf.constant(5, tf.int64))
    np.testing.assert_array_equal(clean, images)
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, other)
    assert float(tf.reduce_min(noisy)) >= 0.0 and float(tf.reduce_max(noisy)) <= 1.0
    assert 0.1 < float(tf.reduce_mean(tf.abs(noisy - images))) < 0.5


def test_resume_refuses_another_noise(tmp_path):
    workdir_lib.save_run_description(
        str(tmp_path),
        model_name="autoencoder",
        preset="tiny",
        dataset="local_fashion_mnist",
        config=autoencoder.get_config("tiny"),
    )
    with pytest.raises(UserError) as error:
        training.train(workdir=str(tmp_path), resume=True, noise=0.5)
    assert str(error.value) == (
        f"--resume continues the run in {tmp_path} with noise_std 0.0; got noise_std 0.5."
    )


def test_resume_refuses_another_seed(tmp_path):
    workdir_lib.save_run_description(
        str(tmp_path),
        model_name="autoencoder",
        preset="tiny",
        dataset="local_fashion_mnist",
        config=autoencoder.get_config("tiny"),
        seed=3,
    )
    with pytest.raises(UserError) as error:
        training.train(workdir=str(tmp_path), resume=True, seed=4)
    assert (
        str(error.value) == f"--resume continues the run in {tmp_path} with seed 3; got --seed 4."
    )
