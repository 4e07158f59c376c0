"""Training the Transformer translator (tiny preset, toy corpus): files, resume, backbones."""

import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import fit, translation
from kerasnlp_lab.training import transformer as training
from kerasnlp_lab.training import workdir as workdir_lib
from tests.data.test_translation_pipeline import write_toy_tsv


def history_rows(workdir):
    with open(os.path.join(workdir, fit.HISTORY_FILE)) as file:
        return list(csv.DictReader(file))


def test_train_then_resume_to_more_epochs(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=300)
    workdir = str(tmp_path / "run")
    first = training.train(preset="tiny", dataset=dataset, epochs=1, workdir=workdir)
    steps_per_epoch = int(first.optimizer.iterations.numpy())
    for name in (
        "model.keras",
        "run.json",
        pipeline.SOURCE_VOCABULARY_FILE,
        pipeline.TARGET_VOCABULARY_FILE,
        translation.TOKEN_EFFICIENCY_FILE,
        training.THROUGHPUT_FILE,
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    run = workdir_lib.load_run_description(workdir)
    assert (run["model"], run["preset"], run["config"]["backbone"]) == (
        "transformer_translator",
        "tiny",
        "ours",
    )
    vocabulary = pipeline.load_vectorizers(workdir)[1].vocabulary

    model = training.train(dataset=dataset, epochs=2, workdir=workdir, resume=True)
    rows = history_rows(workdir)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert {"val_loss", "masked_accuracy", "val_masked_accuracy"} <= set(rows[0])
    assert pipeline.load_vectorizers(workdir)[1].vocabulary == vocabulary
    assert model.layers[-1].units == len(vocabulary)
    throughput = training.read_throughput(workdir)
    assert [entry["epoch"] for entry in throughput] == [0, 1]
    assert all(entry["tokens_per_second"] > 0 for entry in throughput)
    # The optimizer (and its warm-up schedule) continues where the first run stopped.
    assert model.optimizer.iterations.numpy() == 2 * steps_per_epoch > 0


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
