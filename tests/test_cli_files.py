"""Files and folders on the command line: runs are never overwritten by accident, an export
that cannot be loaded is skipped, and every file or folder mistake is one message, exit 2."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab import cli
from kerasnlp_lab.export import autoencoder as exporter
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import workdir as workdir_lib


def run_main(argv):
    """`kerasnlp-lab ARGV...` in this process: its exit code (argparse's too)."""
    try:
        return cli.main([str(arg) for arg in argv])
    except SystemExit as exit:
        return exit.code


def listing(folder):
    """{path: bytes} of every file under `folder`."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_train_refuses_a_folder_with_a_run_and_overwrite_trains_afresh(tmp_path, capfd):
    run = tmp_path / "run"
    train = ["train", "autoencoder", "--preset", "tiny", "--epochs", 1, "--workdir", run]
    assert run_main(train) == 0
    (run / "model.keras").unlink()  # as if interrupted after its first epoch checkpoint
    (run / "notes.txt").write_text("mine")
    before = listing(run)
    capfd.readouterr()

    assert run_main(train) == 2
    assert capfd.readouterr().err.strip().splitlines()[-1] == (
        f"kerasnlp-lab: error: {run} already holds a run (checkpoints/epoch-0001.keras): "
        "continue it with --resume, or delete it and start afresh with --overwrite."
    )
    assert listing(run) == before

    assert run_main([*train, "--overwrite", "--resume"]) == 2
    assert "argument --resume: not allowed with argument --overwrite" in capfd.readouterr().err
    assert listing(run) == before

    assert run_main([*train, "--overwrite", "--seed", 5]) == 0
    out = capfd.readouterr().out
    assert (
        f"--overwrite: deleting the earlier run in {run}: run.json, checkpoints/, history.csv, "
        "logs/.\n" in out
    )
    assert "Training autoencoder (tiny)" in out and "Resuming" not in out
    assert workdir_lib.load_run_description(run)["seed"] == 5
    assert workdir_lib.trained_files(run) == ["model.keras", "checkpoints/epoch-0001.keras"]
    assert (run / "history.csv").read_text().count("\n") == 2  # the header and epoch 0
    assert (run / "notes.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A run folder, exports with broken newer versions, an image, a preset of another model,
    and a plain file (a path under it cannot be a folder, even for root)."""
    root = tmp_path_factory.mktemp("files")
    model = autoencoder.build_autoencoder(autoencoder.get_config("tiny"))
    model.optimizer.build(model.trainable_variables)  # saved as a trained run's would be
    run = str(root / "run")
    workdir_lib.save_run_description(
        run,
        model_name="autoencoder",
        preset="tiny",
        dataset="local_fashion_mnist",
        config=autoencoder.get_config("tiny"),
    )
    workdir_lib.save_model(run, model)
    good = exporter.export_model(model, str(root / "saved_models"))  # version 1
    shutil.copytree(good, root / "saved_models" / "autoencoder" / "2")
    (root / "saved_models" / "autoencoder" / "2" / "saved_model.pb").write_bytes(b"\x00corrupt")
    (root / "saved_models" / "autoencoder" / "3").mkdir()  # empty
    (root / "broken" / "autoencoder" / "1").mkdir(parents=True)
    image = root / "shirt.png"
    tf.io.write_file(str(image), tf.io.encode_png(np.full((28, 28, 1), 255, np.uint8)))
    preset = root / "char_preset"
    preset.mkdir()
    (preset / "config.json").write_text("{}")
    (preset / "metadata.json").write_text('{"model": "char_generator"}')
    (root / "a_file").write_text("not a folder")
    return {
        "root": root,
        "run": run,
        "saved_models": root / "saved_models",
        "broken": root / "broken",
        "image": image,
        "preset": preset,
        "file": root / "a_file",
        "missing": root / "missing",
    }


def test_in_process_predict_falls_back_to_the_newest_loadable_version(files, capfd):
    predict = ["predict", "autoencoder", files["image"], "--saved-models", files["saved_models"]]
    assert run_main(predict) == 0
    captured = capfd.readouterr()
    assert '"reconstructions"' in captured.out
    [line] = [line for line in captured.err.splitlines() if line.startswith("kerasnlp-lab:")]
    assert line.startswith("kerasnlp-lab: versions 3 (OSError: SavedModel file does not exist at:")
    assert ", 2 (OSError: Cannot parse file" in line
    assert line.endswith(" of autoencoder cannot be loaded; using version 1.")


ERROR_CASES = {
    "train into a path under a file": (
        ["train", "autoencoder", "--preset", "tiny", "--workdir", "{file}/run"],
        "--workdir {file}/run: expected a folder this user can create, got {file}, a file.",
    ),
    "train into a folder that holds a run": (
        ["train", "autoencoder", "--preset", "tiny", "--workdir", "{run}"],
        "{run} already holds a run (model.keras): continue it with --resume, or delete it and "
        "start afresh with --overwrite.",
    ),
    "train --resume in a missing folder": (
        ["train", "autoencoder", "--resume", "--workdir", "{missing}"],
        "Nothing to resume in {missing}: no earlier run there.",
    ),
    "train --resume and --overwrite": (
        ["train", "autoencoder", "--resume", "--overwrite"],
        "argument --overwrite: not allowed with argument --resume",
    ),
    "fine-tune a preset of another model": (
        ["train", "autoencoder", "--resume", "{preset}", "--epochs", "5", "--workdir", "{root}/ft"],
        "{preset} holds a 'char_generator' preset, not 'autoencoder'.",
    ),
    "fine-tune a preset into a folder that holds a run": (
        ["train", "autoencoder", "--resume", "{preset}", "--epochs", "5", "--workdir", "{run}"],
        "{run} already holds a run (model.keras): fine-tune {preset} into another --workdir, "
        "or continue that run with --resume alone.",
    ),
    "a preset name of another model": (
        ["train", "char_generator", "--preset", "deep"],
        "Unknown char_generator preset 'deep': expected one of",
    ),
    "evaluate a preset of another model": (
        ["evaluate", "autoencoder", "--workdir", "{preset}"],
        "{preset} holds a 'char_generator' preset, not 'autoencoder'.",
    ),
    "evaluate a missing folder": (
        ["evaluate", "autoencoder", "--workdir", "{missing}"],
        "No trained autoencoder in {missing}: run `kerasnlp-lab train autoencoder",
    ),
    "evaluate into a path under a file": (
        ["evaluate", "autoencoder", "--workdir", "{run}", "--output-dir", "{file}/out"],
        "--output-dir {file}/out: expected a folder this user can create, got {file}, a file.",
    ),
    "export a missing folder": (
        ["export", "autoencoder", "--workdir", "{missing}", "--saved-models", "{root}/sm"],
        "No trained autoencoder in {missing}",
    ),
    "export into a path under a file": (
        ["export", "autoencoder", "--workdir", "{run}", "--saved-models", "{file}/sm"],
        "--saved-models {file}/sm/autoencoder: expected a folder this user can create, "
        "got {file}, a file.",
    ),
    "models into a path under a file": (
        ["models", "--saved-models", "{file}/sm"],
        "--saved-models {file}/sm: expected a folder this user can create, got {file}, a file.",
    ),
    "bleu-by-length into a path under a file": (
        ["bleu-by-length", "attention_nmt", "--output", "{file}/bleu.json"],
        "--output {file}: expected a folder this user can create, got {file}, a file.",
    ),
    "predict from a missing folder": (
        ["predict", "autoencoder", "{image}", "--saved-models", "{missing}"],
        "No exported autoencoder in {missing}: run `kerasnlp-lab export autoencoder` first.",
    ),
    "predict when no version loads": (
        ["predict", "autoencoder", "{image}", "--saved-models", "{broken}"],
        "No version of autoencoder in {broken} can be loaded: expected a SavedModel in one of "
        "its version folders, got version 1 (OSError: SavedModel file does not exist at:",
    ),
    "predict with a signature the export lacks": (
        ["predict", "autoencoder", "{image}", "--saved-models", "{saved_models}"]
        + ["--signature", "nope"],
        "Version 1 of autoencoder has no signature 'nope'; it has decode, encode, serving_default.",
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_a_file_or_folder_mistake_is_one_message_and_exit_2(case, files, capfd):
    argv, message = ERROR_CASES[case]
    code = run_main([arg.format(**files) for arg in argv])
    err = capfd.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if message.format(**files) in line]
    assert line.startswith(("kerasnlp-lab: error: ", "kerasnlp-lab train: error: "))
