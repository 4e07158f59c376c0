"""What a training run leaves in its workdir for `evaluate` and `export` to pick up."""

import dataclasses
import json
import os

import keras

from kerasnlp_lab.errors import UserError

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"


def save_run_description(workdir, *, model_name, preset, dataset, config):
    """Writes what a run trains (model, preset, dataset, config), before training starts."""
    os.makedirs(workdir, exist_ok=True)
    run = {
        "model": model_name,
        "preset": preset,
        "dataset": dataset,
        "config": dataclasses.asdict(config),
    }
    with open(os.path.join(workdir, RUN_FILE), "w") as file:
        json.dump(run, file, indent=2)


def save_model(workdir, model):
    """Writes the trained model (atomically) for `evaluate` and `export`."""
    partial = os.path.join(workdir, "partial." + MODEL_FILE)
    model.save(partial)
    os.replace(partial, os.path.join(workdir, MODEL_FILE))


def load_run(workdir, model_name):
    """Returns (run description dict, trained Keras model) of a finished run."""
    run_path = os.path.join(workdir, RUN_FILE)
    model_path = os.path.join(workdir, MODEL_FILE)
    if not (os.path.exists(run_path) and os.path.exists(model_path)):
        raise UserError(
            f"No trained {model_name} in {workdir}: run `kerasnlp-lab train {model_name} "
            f"--workdir {workdir}` first."
        )
    with open(run_path) as file:
        run = json.load(file)
    if run.get("model") != model_name:
        raise UserError(
            f"{workdir} holds a {run.get('model')!r} run, not {model_name!r}."
        )
    try:
        model = keras.saving.load_model(model_path)
    except Exception as error:  # A damaged file can fail in many ways inside Keras.
        raise UserError(f"Cannot load {model_path}: {error}") from None
    return run, model


def load_run_description(workdir):
    """Returns the run description of an earlier (maybe unfinished) run, or None."""
    path = os.path.join(workdir, RUN_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)
