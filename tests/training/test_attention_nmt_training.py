"""Training the attention NMT (tiny preset, toy corpus): files, exact resume, errors."""

import json
import os

import pytest

from kerasnlp_lab.data import catalog
from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import attention_nmt as training
from kerasnlp_lab.training import checkpoints, translation
from kerasnlp_lab.training import workdir as workdir_lib
from tests.data.test_translation_pipeline import toy_pairs
from tests.training.interrupted import history, kill_and_resume

# Two steps an epoch in one length bucket (one trace), the learning rate halved after every
# epoch whose validation loss did not improve, early stopping after 4 of them; dropout on.
PLATEAU = {
    "train_examples": 64,
    "eval_examples": 32,
    "bucket_width": 40,
    "learning_rate": 0.05,
    "lr_plateau_factor": 0.5,
    "early_stopping_patience": 4,
    "dropout": 0.2,
}


def write_unlearnable_validation_tsv(path, count=600):
    """Toy pairs whose validation targets are words the training split never has: the
    validation loss rises as the model learns, so every epoch after the first is a plateau."""
    with open(path, "w", encoding="utf-8") as file:
        for spanish, english in toy_pairs(count):
            if catalog.hash_split(spanish) == "validation":
                english = " ".join("x" + word for word in english.split())
            file.write(f"{spanish}\t{english}\n")
    return f"tsv:{path}"


def test_killed_run_resumes_to_the_learning_rate_and_weights_of_a_straight_run(tmp_path):
    """Killed mid-epoch 4 (1-based) of 6: the learning rate was halved after epochs 2 and 3,
    the resumed run halves it after epochs 4 and 5 and early stopping ends it after epoch 5,
    as in the straight run. Keras' ReduceLROnPlateau, which forgets its best value on
    resume, skips the halving after epoch 4 (learning rate 0.00625, not 0.003125)."""
    dataset = write_unlearnable_validation_tsv(tmp_path / "toy.tsv")
    args = ("attention_nmt", "--preset", "tiny", "--dataset", dataset, "--epochs", 6)
    differences, straight, resumed = kill_and_resume(tmp_path, args, (3, 0), PLATEAU)

    assert max(differences.values()) <= 1e-6, max(differences.items(), key=lambda i: i[1])
    assert differences["last/learning_rate"] == differences["final/learning_rate"] == 0
    rows = history(straight)
    assert [row["learning_rate"] for row in rows] == pytest.approx(
        [0.05, 0.05, 0.025, 0.0125, 0.00625]  # the rate each epoch trained with
    )
    assert [row["val_loss"] > rows[0]["val_loss"] for row in rows] == [False] + [True] * 4
    for got, want in zip(history(resumed), rows, strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    names = sorted(os.listdir(os.path.join(resumed, checkpoints.CHECKPOINT_DIR)))
    assert [name for name in names if name.startswith(("epoch-", "lr_plateau-"))] == [
        "epoch-0005.keras",
        "lr_plateau-0004.json",
        "lr_plateau-0005.json",
    ]

    for name in (
        "model.keras",
        "run.json",
        pipeline.SOURCE_VOCABULARY_FILE,
        pipeline.TARGET_VOCABULARY_FILE,
        translation.TOKEN_EFFICIENCY_FILE,
    ):
        assert os.path.exists(os.path.join(straight, name)), name
    run = workdir_lib.load_run_description(str(resumed))
    assert (run["model"], run["preset"], run["dataset"]) == ("attention_nmt", "tiny", dataset)
    assert run["config"]["lr_plateau_factor"] == 0.5
    with open(os.path.join(straight, translation.TOKEN_EFFICIENCY_FILE)) as file:
        efficiency = json.load(file)
    assert efficiency["fixed_128"] < efficiency["random"] <= efficiency["bucketed"] <= 1.0
    assert {"loss", "val_loss", "masked_accuracy", "val_masked_accuracy"} <= set(rows[0])


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
