"""Release presets from a finished run: what they hold, and fine-tuning from one."""

import datetime
import json
import os
import shutil

import keras
import numpy as np
import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import autoencoder as training
from kerasnlp_lab.training import presets
from kerasnlp_lab.training import workdir as workdir_lib

STEPS_PER_EPOCH = 32  # tiny: 4,096 images in batches of 128
IMAGES = np.random.default_rng(8).uniform(0, 1, (4, 28, 28)).astype("float32")


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """A tiny autoencoder trained 1 epoch (seed 6) and written as a preset."""
    root = tmp_path_factory.mktemp("preset")
    run = root / "run"
    training.train(preset="tiny", epochs=1, seed=6, workdir=str(run))
    folder = root / "autoencoder"
    presets.write_preset(str(run), str(folder), "autoencoder", "kerasnlp-lab train ...")
    return run, folder


def test_a_preset_holds_config_weights_and_metadata(preset):
    run, folder = preset
    assert sorted(os.listdir(folder)) == ["config.json", "metadata.json", "model.weights.h5"]
    with open(folder / "metadata.json") as file:
        metadata = json.load(file)
    assert (metadata["model"], metadata["preset"], metadata["seed"]) == ("autoencoder", "tiny", 6)
    assert metadata["config_overrides"] == {"epochs": 1}
    assert metadata["training"]["epochs"] == 1
    assert metadata["training"]["steps"] == STEPS_PER_EPOCH
    assert metadata["training"]["kept_weights"] == {"final_epoch": 1}
    with open(run / "run.json") as file, open(folder / "config.json") as config:
        assert json.load(config) == json.load(file)["config"]
    _, trained = workdir_lib.load_run(str(run), "autoencoder")
    _, rebuilt = workdir_lib.load_run(str(folder), "autoencoder")
    np.testing.assert_array_equal(rebuilt(IMAGES), trained(IMAGES))


def test_fine_tuning_a_preset_continues_its_steps(preset, tmp_path):
    _, folder = preset
    assert presets.start_from_preset(str(folder), str(tmp_path), "autoencoder") == 1
    with open(tmp_path / "run.json") as file:
        assert json.load(file)["fine_tuned_from"]["preset"] == str(folder)
    model = training.train(workdir=str(tmp_path), resume=True, epochs=2)
    assert int(model.optimizer.iterations.numpy()) == 2 * STEPS_PER_EPOCH
    run, _ = workdir_lib.load_run(str(tmp_path), "autoencoder")
    record = presets.training_record(str(tmp_path), run, model)
    assert (record["epochs"], record["kept_weights"]) == (2, {"final_epoch": 2})
    with open(folder / "metadata.json") as file:
        earlier_minutes = json.load(file)["training"]["wall_time_minutes"]
    assert record["fine_tuned_from"] == {
        "preset": str(folder),
        "epochs": 1,
        "wall_time_minutes": earlier_minutes,
    }
    _, original = workdir_lib.load_run(str(folder), "autoencoder")
    assert np.abs(model(IMAGES).numpy() - original(IMAGES).numpy()).max() > 1e-4
    saved = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(saved(IMAGES), model(IMAGES), atol=1e-6)


def test_fine_tuning_refuses_a_folder_that_is_not_a_preset(tmp_path):
    with pytest.raises(UserError, match="is not a release preset"):
        presets.start_from_preset(str(tmp_path), str(tmp_path / "run"), "autoencoder")


def test_the_wall_time_leaves_out_the_pauses_before_each_resume(preset, tmp_path):
    run_folder, _ = preset
    copy = tmp_path / "run"
    shutil.copytree(run_folder, copy)
    finished = os.path.getmtime(copy / workdir_lib.MODEL_FILE)
    run = json.loads((copy / workdir_lib.RUN_FILE).read_text())
    started = datetime.datetime.fromtimestamp(finished - 3 * 3600, datetime.timezone.utc)
    run["started"] = started.isoformat(timespec="seconds")
    run[workdir_lib.PAUSED_MINUTES] = 110.0
    (copy / workdir_lib.RUN_FILE).write_text(json.dumps(run))
    run, model = workdir_lib.load_run(str(copy), "autoencoder")
    assert presets.training_record(str(copy), run, model)["wall_time_minutes"] == 70.0
