"""What a training run leaves in its workdir for `evaluate` and `export` to pick up."""

import dataclasses
import json
import os

import keras

from kerasnlp_lab.data import catalog
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


def resolve_run(workdir, *, model, kind, preset, dataset, epochs, resume, **options):
    """(preset, dataset name, config) of this run: a new one, or the run being resumed.

    Args:
        workdir: the run's folder.
        model: the model's module (`get_config`, `config_from_dict`, `DEFAULT_PRESET`).
        kind: the dataset kind for `catalog.resolve` ("images", "text", "parallel").
        preset, dataset, epochs: the command-line values (None: not given).
        resume: continue the run in `workdir` with its stored preset, dataset and config;
            `epochs` may extend it, while a different preset or option is refused.
        **options: further config fields set on the command line (None: not given).
    """
    if not resume:
        config = model.get_config(preset, epochs=epochs, **options)
        return preset or model.DEFAULT_PRESET, catalog.resolve(kind, dataset), config
    run = load_run_description(workdir)
    if run is None:
        raise UserError(f"Nothing to resume in {workdir}: no earlier run there.")
    if preset is not None and preset != run["preset"]:
        raise UserError(
            f"--resume continues the {run['preset']!r} run in {workdir}; got --preset {preset}."
        )
    config = model.config_from_dict(run["config"])
    for name, value in options.items():
        if value is not None and value != getattr(config, name):
            raise UserError(
                f"--resume continues the run in {workdir} with {name} "
                f"{getattr(config, name)!r}; got {name} {value!r}."
            )
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    return run["preset"], run["dataset"], config
