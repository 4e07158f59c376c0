"""Training the attention NMT (tiny preset, toy corpus): files written, resume, errors."""

import csv
import json
import os

import pytest

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import attention_nmt as training
from kerasnlp_lab.training import checkpoints, fit, translation
from kerasnlp_lab.training import workdir as workdir_lib
from tests.data.test_translation_pipeline import write_toy_tsv


def history_rows(workdir):
    with open(os.path.join(workdir, fit.HISTORY_FILE)) as file:
        return list(csv.DictReader(file))


def completed_epochs(workdir):
    found = checkpoints.completed_checkpoints(os.path.join(workdir, checkpoints.CHECKPOINT_DIR))
    return found[-1][0] if found else 0


def test_train_writes_the_run_and_resume_restores_it(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=300)
    workdir = str(tmp_path / "run")
    training.train(preset="tiny", dataset=dataset, epochs=1, workdir=workdir)
    for name in (
        "model.keras",
        "run.json",
        pipeline.SOURCE_VOCABULARY_FILE,
        pipeline.TARGET_VOCABULARY_FILE,
        translation.TOKEN_EFFICIENCY_FILE,
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    run = workdir_lib.load_run_description(workdir)
    assert (run["model"], run["preset"], run["dataset"]) == ("attention_nmt", "tiny", dataset)
    with open(os.path.join(workdir, translation.TOKEN_EFFICIENCY_FILE)) as file:
        efficiency = json.load(file)
    assert efficiency["fixed_128"] < efficiency["random"] <= efficiency["bucketed"] <= 1.0
    assert completed_epochs(workdir) == 1
    source_vocabulary = pipeline.load_vectorizers(workdir)[0].vocabulary

    # Resuming a finished run restores its checkpoint and vocabularies without training more.
    model = training.train(dataset=dataset, epochs=1, workdir=workdir, resume=True)
    rows = history_rows(workdir)
    assert [row["epoch"] for row in rows] == ["0"]
    assert {"loss", "val_loss", "masked_accuracy", "val_masked_accuracy"} <= set(rows[0])
    assert pipeline.load_vectorizers(workdir)[0].vocabulary == source_vocabulary
    assert completed_epochs(workdir) == 1
    assert model.optimizer.iterations.numpy() > 0  # the optimizer state came back too


def test_resume_without_a_run_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="Nothing to resume"):
        training.train(preset="tiny", workdir=str(tmp_path), resume=True)


def test_resume_with_another_preset_is_refused(tmp_path):
    workdir_lib.save_run_description(
        str(tmp_path),
        model_name="attention_nmt",
        preset="tiny",
        dataset="tsv:x",
        config=training.attention_nmt.get_config("tiny"),
    )
    with pytest.raises(UserError, match="--resume continues the 'tiny' run"):
        training.train(preset="small", workdir=str(tmp_path), resume=True)
