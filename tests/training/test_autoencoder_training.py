"""Autoencoder training: a killed run resumes to the weights of an uninterrupted one."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import autoencoder as training
from kerasnlp_lab.training import checkpoints
from kerasnlp_lab.training import workdir as workdir_lib
from tests.training.interrupted import kill_and_resume


def test_killed_run_resumes_to_the_weights_of_a_straight_run(tmp_path, capsys):
    """Killed mid-epoch 2 of 3 (16 steps an epoch): weights, Adam state and learning rate
    come back to those of the straight run."""
    catalog.load_images(split="train")  # prepared here once, not by both runs at a time
    args = ("autoencoder", "--preset", "tiny", "--epochs", 3, "--seed", 3)
    # Resumed without --seed: the run's stored seed 3 keeps the data order.
    # Resumed in a new process, as a user resumes (the other models resume in this one).
    differences, _, resumed = kill_and_resume(
        tmp_path, args, (1, 5), {"train_examples": 2048}, resume_in_new_process=True
    )
    assert max(differences.values()) <= 1e-6, max(differences.items(), key=lambda i: i[1])
    assert differences["last/learning_rate"] == 0
    # tiny: 784-64-32-64-784, kernels and biases, in the final model and the last checkpoint
    assert len([name for name in differences if "/model/" in name]) == 2 * 8
    with open(resumed / "history.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [0, 1, 2]

    # Resuming a finished run trains no more.
    model = training.train(workdir=str(resumed), resume=True)
    assert "Already trained for 3 epochs; nothing to do." in capsys.readouterr().out
    assert model.optimizer.iterations.numpy() == 3 * 16


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
