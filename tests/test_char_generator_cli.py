"""`kerasnlp-lab` end to end for the character generator: train, evaluate, export, predict.

Predict runs in a process of its own, as a user runs it (the SavedModel must answer there
as the model did in-process); train, evaluate and export run `cli.main` in this process
(tests/test_cli.py runs each command as a subprocess, tests/training/test_distribute.py
trains char_generator in `kerasnlp-lab train` processes)."""

import json

import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import char_generator as evaluation
from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.training import char_generator as training
from tests.cli_runner import call_cli, run_cli
from tests.training.test_char_generator_training import write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    dataset = write_corpus(folder / "words.txt")
    workdir, saved_models = folder / "run", folder / "saved_models"
    train = call_cli(
        "train", "char-generator", "--preset", "tiny", "--dataset", dataset, "--workdir", workdir
    )
    return dataset, workdir, saved_models, train


def test_train_says_what_it_trains(trained):
    dataset, _, _, train = trained
    assert f"Training char_generator (tiny, wide_and_deep head) on {dataset}:" in train.stdout
    assert "2 epochs of 20 steps, batch 32" in train.stdout


def test_evaluate_export_and_predict_agree(trained):
    dataset, workdir, saved_models, _ = trained
    metrics = json.loads(call_cli("evaluate", "char_generator", "--workdir", workdir).stdout)
    assert (metrics["dataset"], metrics["preset"], metrics["head"]) == (
        dataset,
        "tiny",
        "wide_and_deep",
    )
    # Word salad over 13 words: far below log2(vocabulary) ~ 5 bits/char after 40 steps.
    assert 0.5 < metrics["bits_per_char"] < 3.5 and 0.3 < metrics["accuracy"] < 1.0
    sample = metrics["sample"]
    assert (sample["prompt"], sample["seed"], len(sample["text"])) == ("In the beginning", 1, 300)

    exported = call_cli(
        "export", "char_generator", "--workdir", workdir, "--saved-models", saved_models
    )
    assert exported.stdout.strip() == f"Exported char_generator to {saved_models}/char_generator/1"

    args = (
        "predict",
        "char_generator",
        evaluation.SAMPLE_PROMPT,
        "--saved-models",
        saved_models,
        "--num-chars",
        300,
        "--temperature",
        evaluation.SAMPLE_TEMPERATURE,
        "--seed",
        1,
    )
    predicted = run_cli(*args).stdout[:-1]  # print() adds one newline
    assert predicted == sample["text"]  # the SavedModel in another process = in-process


def test_predict_above_the_cap_is_a_user_error():
    with pytest.raises(
        UserError, match=f"Expected --num-chars of at most {exporter.MAX_NUM_CHARS}, got 2001"
    ):
        exporter.predict_inputs(["x"], num_chars=exporter.MAX_NUM_CHARS + 1)


def test_predict_inputs_one_row_per_prompt():
    inputs = exporter.predict_inputs(["a", "é"], num_chars=5, temperature=0.5, seed=3)
    assert inputs["prompt"].tolist() == [b"a", "é".encode()]
    assert inputs["num_chars"].tolist() == [5, 5] and inputs["seed"].dtype.name == "int64"
    assert exporter.format_outputs({"text": [b"one", "\u00e9".encode("utf-8")]}) == "one\n\n\u00e9"


def test_evaluate_without_training_says_what_to_run(tmp_path):
    with pytest.raises(
        UserError,
        match=f"No trained char_generator in {tmp_path}: run `kerasnlp-lab train char_generator",
    ):
        evaluation.evaluate(str(tmp_path))


def test_unknown_dataset_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="Unknown dataset 'nope'"):
        training.train(preset="tiny", dataset="nope", workdir=str(tmp_path))
