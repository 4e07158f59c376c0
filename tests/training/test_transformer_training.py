"""Training the Transformer translator (tiny preset, toy corpus): files, exact resume, backbones."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import transformer as training
from kerasnlp_lab.training import translation
from kerasnlp_lab.training import workdir as workdir_lib
from tests.data.test_translation_pipeline import write_toy_tsv
from tests.training.interrupted import history, kill_and_resume


def test_killed_run_resumes_to_the_weights_of_a_straight_run(tmp_path):
    """Killed mid-epoch 2 of 3 (two steps an epoch): weights, Adam state, the dropout
    masks and the warm-up schedule's learning rate come back to those of the straight run."""
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=300)
    args = ("transformer_translator", "--preset", "tiny", "--dataset", dataset, "--epochs", 3)
    overrides = {"train_examples": 64, "eval_examples": 32, "bucket_width": 40, "dropout": 0.1}
    differences, straight, resumed = kill_and_resume(tmp_path, args, (1, 0), overrides)
    assert max(differences.values()) <= 1e-6, max(differences.items(), key=lambda i: i[1])
    assert differences["last/learning_rate"] == 0

    rows = history(resumed)
    for got, want in zip(rows, history(straight), strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    assert rows[2]["loss"] < rows[1]["loss"] < rows[0]["loss"]
    assert {"val_loss", "masked_accuracy", "val_masked_accuracy"} <= set(rows[0])
    model = keras.saving.load_model(resumed / "model.keras")
    assert model.optimizer.iterations.numpy() == 3 * 2  # the warm-up schedule went on
    assert model.layers[-1].units == len(pipeline.load_vectorizers(str(resumed))[1].vocabulary)
    for name in (
        "run.json",
        pipeline.SOURCE_VOCABULARY_FILE,
        pipeline.TARGET_VOCABULARY_FILE,
        translation.TOKEN_EFFICIENCY_FILE,
        training.THROUGHPUT_FILE,
    ):
        assert os.path.exists(os.path.join(straight, name)), name
    run = workdir_lib.load_run_description(str(resumed))
    assert (run["model"], run["preset"], run["config"]["backbone"]) == (
        "transformer_translator",
        "tiny",
        "ours",
    )
    throughput = training.read_throughput(str(resumed))
    assert [entry["epoch"] for entry in throughput] == [0, 1, 2]
    assert all(entry["tokens_per_second"] > 0 for entry in throughput)


def test_resume_refuses_another_backbone_and_missing_runs(tmp_path):
    with pytest.raises(UserError, match="Nothing to resume"):
        training.train(preset="tiny", workdir=str(tmp_path), resume=True)
    workdir_lib.save_run_description(
        str(tmp_path),
        model_name="transformer_translator",
        preset="tiny",
        dataset="tsv:x",
        config=transformer.get_config("tiny"),
    )
    with pytest.raises(UserError, match="with backbone 'ours'; got backbone 'keras_hub'"):
        training.train(workdir=str(tmp_path), resume=True, backbone="keras_hub")


def test_count_tokens_reads_the_decoder_input_without_the_last_target_token():
    examples = tf.data.Dataset.from_tensor_slices(
        (
            np.array([[2, 5, 3, 0], [2, 3, 0, 0]], np.int32),
            np.array([[2, 7, 8, 3], [2, 3, 0, 0]], np.int32),
        )
    )
    assert training.count_tokens(examples) == (3 + 3) + (2 + 1)


def test_token_throughput_keeps_earlier_epochs_when_resuming(tmp_path):
    path = str(tmp_path / training.THROUGHPUT_FILE)
    with open(path, "w") as file:
        json.dump(
            [
                {"epoch": 0, "seconds": 2.0, "tokens_per_second": 50.0},
                {"epoch": 1, "seconds": 9.0, "tokens_per_second": 1.0},
            ],
            file,
        )
    callback = training.TokenThroughput(tokens_per_epoch=1000, path=path)
    callback.on_epoch_begin(1)
    callback.on_test_begin()
    callback.on_epoch_end(1)
    entries = training.read_throughput(str(tmp_path))
    assert [entry["epoch"] for entry in entries] == [0, 1]
    assert entries[0]["tokens_per_second"] == 50.0
    assert entries[1]["tokens_per_second"] > 1000  # one epoch in well under a second
