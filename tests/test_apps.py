"""The app scripts in apps/: their flags, a tiny autoencoder run end to end, and a clear error."""

import importlib.util
import json
import os
import pathlib

import pytest

from kerasnlp_lab.app import app_parser, run_app

APPS_DIR = pathlib.Path(__file__).resolve().parent.parent / "apps"
DEFAULT_PRESETS = {
    "autoencoder": "classic",
    "char_generator": "small",
    "attention_nmt": "small",
    "transformer_translator": "small",
}


def load_app(model):
    """The script apps/<model>.py as a module (its `main` is not run)."""
    spec = importlib.util.spec_from_file_location(f"apps_{model}", APPS_DIR / f"{model}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model", sorted(DEFAULT_PRESETS))
def test_app_defaults_and_unknown_preset(model):
    parser = load_app(model).build_parser()
    args = parser.parse_args([])
    assert (args.preset, args.dataset, args.epochs, args.seed) == (
        DEFAULT_PRESETS[model],
        "auto",
        None,
        None,
    )
    assert (args.workdir, args.saved_models) == (f"runs/{model}", "saved_models")
    assert (args.resume, args.no_export) == (False, False)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--preset", "enormous"])
    assert exit_info.value.code == 2


def test_app_own_flags():
    autoencoder_args = load_app("autoencoder").build_parser().parse_args(["--noise", "0.3"])
    assert autoencoder_args.noise == 0.3
    transformer = load_app("transformer_translator").build_parser()
    assert transformer.parse_args([]).backbone == "ours"
    assert transformer.parse_args(["--backbone", "keras_hub"]).backbone == "keras_hub"


def test_autoencoder_app_trains_evaluates_and_exports(tmp_path, capsys):
    workdir, saved_models = tmp_path / "run", tmp_path / "saved_models"
    code = load_app("autoencoder").main(
        [
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--workdir",
            str(workdir),
            "--saved-models",
            str(saved_models),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == f"Exported to {saved_models}/autoencoder/1"
    printed = json.loads("\n".join(lines[lines.index("{") : -1]))
    assert set(printed) == {
        "model",
        "preset",
        "dataset",
        "test_images",
        "bce",
        "mse",
        "psnr",
        "figures",
    }
    assert (printed["model"], printed["preset"], printed["test_images"]) == (
        "autoencoder",
        "tiny",
        10_000,
    )
    assert 0.0 < printed["mse"] < 0.2
    with open(workdir / "metrics.json") as file:
        assert json.load(file) == printed
    assert os.path.getsize(saved_models / "autoencoder" / "1" / "saved_model.pb") > 1_000


def test_resume_without_a_run_is_one_error_line(tmp_path, capsys):
    parser = app_parser("doc", "autoencoder", ["tiny", "classic"], "classic", "presets", "datasets")
    args = parser.parse_args(["--resume", "--workdir", str(tmp_path), "--no-export"])
    assert run_app("autoencoder", args) == 2
    captured = capsys.readouterr()
    assert (
        captured.err
        == f"autoencoder: error: Nothing to resume in {tmp_path}: no earlier run there.\n"
    )
    assert captured.out == ""
