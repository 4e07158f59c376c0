"""What a training run leaves in its workdir for `evaluate` and `export` to pick up.

A run folder holds `run.json` (model, preset, dataset, config, seed, git commit) and the
trained `model.keras`. A release preset (`presets/<model>/`) holds the same run as
`config.json` (the config dataclass), `model.weights.h5`, the vocabulary files and
`metadata.json`; `load_run` accepts either, so `evaluate`, `export` and `--resume` work on
both.

A folder holds a run when it holds trained weights: the final `model.keras`, an epoch
checkpoint (`checkpoints/epoch-NNNN.keras`) or kept epoch weights (`epoch_weights/`). A new
`train` there is refused (`check_no_run`) unless it is told to `--resume` it or to
`--overwrite` it (`delete_run`). A folder with only a run description (a run stopped before
its first epoch ended) holds nothing trained and takes a new run.
"""

import dataclasses
import datetime
import importlib
import json
import os
import shutil
import subprocess

import keras

from kerasnlp_lab.data import catalog
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.paths import make_folder
from kerasnlp_lab.training import checkpoints

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
PRESET_CONFIG_FILE = "config.json"
PRESET_WEIGHTS_FILE = "model.weights.h5"
PRESET_METADATA_FILE = "metadata.json"
# The run.json key of a run started from a release preset: that preset and its training.
FINE_TUNED_FROM = "fine_tuned_from"
# The run.json key of the minutes a run stood still before its --resumes (not in its wall time).
PAUSED_MINUTES = "paused_minutes"


def git_commit():
    """The commit of the code this package runs from, or None outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=os.path.dirname(__file__),
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def save_run_description(workdir, *, model_name, preset, dataset, config, seed=None, resume=False):
    """Writes what a run trains (model, preset, dataset, config, seed), before training starts.

    Also records when it started (a resumed run keeps its first start), how long it stood
    still between its last checkpoint and each --resume (`paused_minutes`, left out of its
    wall time) and the git commit of the code, for release metadata.
    """
    make_folder(workdir, "--workdir")
    earlier = load_run_description(workdir) if resume else None
    started = (earlier or {}).get("started") or datetime.datetime.now(
        datetime.timezone.utc
    ).isoformat(timespec="seconds")
    paused = (earlier or {}).get(PAUSED_MINUTES, 0.0)
    if earlier:
        paused += checkpoints.minutes_since_last(workdir)
    run = {
        "model": model_name,
        "preset": preset,
        "dataset": dataset,
        "config": dataclasses.asdict(config),
        "seed": seed,
        "started": started,
        PAUSED_MINUTES: round(paused, 1),
        "git_commit": git_commit(),
    }
    if (earlier or {}).get(FINE_TUNED_FROM):
        run[FINE_TUNED_FROM] = earlier[FINE_TUNED_FROM]
    # Atomic: the workers of a restarted multi-worker run read it while the chief writes.
    partial = os.path.join(workdir, "partial." + RUN_FILE)
    with open(partial, "w") as file:
        json.dump(run, file, indent=2)
    os.replace(partial, os.path.join(workdir, RUN_FILE))


def save_model(workdir, model):
    """Writes the trained model (atomically) for `evaluate` and `export`: the run is done."""
    partial = os.path.join(workdir, "partial." + MODEL_FILE)
    model.save(partial)
    os.replace(partial, os.path.join(workdir, MODEL_FILE))
    checkpoints.mark_finished(workdir)


def training_module(model_name):
    """kerasnlp_lab.training.<module> of a model (imported when needed: it imports this one)."""
    from kerasnlp_lab.models import MODEL_MODULES

    return importlib.import_module(f"kerasnlp_lab.training.{MODEL_MODULES[model_name]}")


def is_preset(folder):
    """Whether `folder` holds a release preset (config.json and metadata.json)."""
    return all(
        os.path.exists(os.path.join(folder, name))
        for name in (PRESET_CONFIG_FILE, PRESET_METADATA_FILE)
    )


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"Cannot read {path}: {error}") from None


def load_preset(preset_dir, model_name):
    """(run description, compiled model with the preset's weights) of a release preset."""
    metadata = _read_json(os.path.join(preset_dir, PRESET_METADATA_FILE))
    if metadata.get("model") != model_name:
        raise UserError(
            f"{preset_dir} holds a {metadata.get('model')!r} preset, not {model_name!r}."
        )
    run = {
        "model": model_name,
        "preset": metadata.get("preset"),
        "dataset": metadata.get("dataset"),
        "config": _read_json(os.path.join(preset_dir, PRESET_CONFIG_FILE)),
        "seed": metadata.get("seed"),
    }
    module = training_module(model_name)
    model = module.build_for_run(module.MODEL.config_from_dict(run["config"]), preset_dir)
    weights = os.path.join(preset_dir, PRESET_WEIGHTS_FILE)
    if not os.path.exists(weights):
        raise UserError(
            f"The preset {preset_dir} has no weights file {PRESET_WEIGHTS_FILE}: restore it "
            "(git checkout, or git lfs pull) or rebuild it with `make presets`."
        )
    try:
        model.load_weights(weights)
    except Exception as error:  # A damaged HDF5 file fails in many ways inside h5py/Keras.
        raise UserError(
            f"Cannot load the weights {weights}: the file is damaged or does not match "
            f"the model ({type(error).__name__}: {error})."
        ) from None
    return run, model


def load_run(workdir, model_name):
    """Returns (run description dict, trained Keras model) of a finished run or a preset."""
    if is_preset(workdir):
        return load_preset(workdir, model_name)
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
        raise UserError(f"{workdir} holds a {run.get('model')!r} run, not {model_name!r}.")
    training_module(model_name)  # registers the model's custom layers for deserialization
    try:
        model = keras.saving.load_model(model_path)
    except Exception as error:  # A damaged file can fail in many ways inside Keras.
        raise UserError(f"Cannot load {model_path}: {error}") from None
    return run, model


def outputs_dir(workdir, model_name, output_dir=None):
    """Where `evaluate` writes figures and metrics.json (created): `output_dir`, else the
    run's folder, else (for a release preset, which stays as committed) runs/presets/MODEL."""
    if output_dir is None:
        output_dir = os.path.join("runs", "presets", model_name) if is_preset(workdir) else workdir
    return make_folder(output_dir, "--output-dir")


def trained_files(workdir):
    """The trained weights in `workdir` (relative paths): if any, the folder holds a run."""
    found = [MODEL_FILE] if os.path.exists(os.path.join(workdir, MODEL_FILE)) else []
    found += [
        os.path.relpath(path, workdir)
        for _, path in checkpoints.completed_checkpoints(
            os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
        )
    ]
    if checkpoints.epoch_weights(os.path.join(workdir, checkpoints.EPOCH_WEIGHTS_DIR)):
        found.append(checkpoints.EPOCH_WEIGHTS_DIR + "/")
    return found


def check_no_run(workdir):
    """UserError if `workdir` holds a run, which a new run would replace."""
    found = trained_files(workdir)
    if found:
        raise UserError(
            f"{workdir} already holds a run ({', '.join(found)}): continue it with --resume, "
            "or delete it and start afresh with --overwrite."
        )


def run_outputs(model_name):
    """What `train MODEL` writes into its run folder, and so what --overwrite deletes."""
    from kerasnlp_lab.training import fit  # imported when needed: it imports this module

    return (
        RUN_FILE,
        MODEL_FILE,
        checkpoints.CHECKPOINT_DIR,
        checkpoints.EPOCH_WEIGHTS_DIR,
        checkpoints.AVERAGED_EPOCHS_FILE,
        fit.HISTORY_FILE,
        fit.TENSORBOARD_DIR,
        *training_module(model_name).OUTPUT_FILES,
    )


def delete_run(workdir, model_name):
    """Deletes the `run_outputs` found in `workdir`, saying so in one line; keeps other files."""
    found = [
        name for name in run_outputs(model_name) if os.path.lexists(os.path.join(workdir, name))
    ]
    if not found:
        return
    shown = [name + "/" if os.path.isdir(os.path.join(workdir, name)) else name for name in found]
    print(f"--overwrite: deleting the earlier run in {workdir}: {', '.join(shown)}.")
    for name in found:
        path = os.path.join(workdir, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except OSError as error:
            raise UserError(
                f"--overwrite cannot delete {path}: {error.strerror} ({error.filename})."
            ) from None


def load_run_description(workdir):
    """Returns the run description of an earlier (maybe unfinished) run, or None."""
    path = os.path.join(workdir, RUN_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)


DEFAULT_SEED = 0


def resolve_run(workdir, *, model, kind, preset, dataset, epochs, resume, seed=None, **options):
    """(preset, dataset name, config, seed) of this run: a new one, or the run being resumed.

    Args:
        workdir: the run's folder.
        model: the model's module (`get_config`, `config_from_dict`, `DEFAULT_PRESET`).
        kind: the dataset kind for `catalog.resolve` ("images", "text", "parallel").
        preset, dataset, epochs, seed: the command-line values (None: not given).
        resume: continue the run in `workdir` with its stored preset, dataset, config and
            seed; `epochs` may extend it, while a different preset, option or seed is
            refused.
        **options: further config fields set on the command line (None: not given).
    """
    if not resume:
        config = model.get_config(preset, epochs=epochs, **options)
        seed = DEFAULT_SEED if seed is None else seed
        return preset or model.DEFAULT_PRESET, catalog.resolve(kind, dataset), config, seed
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
    stored_seed = run.get("seed")
    if seed is not None and stored_seed is not None and seed != stored_seed:
        raise UserError(
            f"--resume continues the run in {workdir} with seed {stored_seed}; got --seed {seed}."
        )
    if seed is None:
        seed = DEFAULT_SEED if stored_seed is None else stored_seed
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    return run["preset"], run["dataset"], config, seed
