"""Release presets: a trained run turned into `presets/<model>/`, and runs started from one.

A preset folder (the keras-hub preset spirit) holds `config.json` (the model's config
dataclass), `model.weights.h5` (weights only, no optimizer state), the vocabulary files,
and `metadata.json` (how it was made and what it scores). The model is rebuilt by the
current code from the config and the weights are loaded by name, so a preset survives
code changes that keep the weights' layout; a change of layout must convert the presets.
"""

import csv
import dataclasses
import datetime
import json
import os
import platform
import shutil

import keras

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.paths import make_folder
from kerasnlp_lab.training import checkpoints, fit
from kerasnlp_lab.training import workdir as workdir_lib


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(value, file, indent=2, ensure_ascii=False)
        file.write("\n")


def machine_description():
    """Where a model was trained: OS, CPU count and model, memory, TensorFlow version."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as file:
            names = [
                line.split(":", 1)[1].strip() for line in file if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    memory_gib = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "os": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def training_record(workdir, run, model):
    """What the run in `workdir` did: epochs, steps, kept weights, wall time (from its files).

    The wall time runs from the first start to the final model, less the pauses before each
    --resume (`paused_minutes` of run.json).

    A fine-tuned run counts the preset's epochs too (as its steps do) and says which preset
    it started from, with that preset's own epochs and wall time.
    """
    history_path = os.path.join(workdir, fit.HISTORY_FILE)
    history = []
    if os.path.exists(history_path):
        with open(history_path, newline="") as file:
            history = list(csv.DictReader(file))
    earlier = run.get(workdir_lib.FINE_TUNED_FROM)
    earlier_epochs = earlier["training"].get("epochs", 0) if earlier else 0
    epochs_run = len(history)
    averaged_path = os.path.join(workdir, checkpoints.AVERAGED_EPOCHS_FILE)
    if os.path.exists(averaged_path):
        with open(averaged_path) as file:
            kept = {"averaged_epochs": json.load(file)}
    elif (
        run["config"].get("early_stopping_patience") is not None
        and history
        and "val_loss" in history[0]
    ):
        best = min(range(epochs_run), key=lambda index: float(history[index]["val_loss"]))
        kept = {
            "best_epoch": earlier_epochs + best + 1,
            "why": "the best validation loss (early stopping)",
        }
    else:
        kept = {"final_epoch": earlier_epochs + epochs_run}
    if run.get("started"):  # a resumed run keeps its first start
        started = datetime.datetime.fromisoformat(run["started"])
    else:
        started = datetime.datetime.fromtimestamp(
            os.path.getmtime(os.path.join(workdir, workdir_lib.RUN_FILE)), datetime.timezone.utc
        )
    finished = datetime.datetime.fromtimestamp(
        os.path.getmtime(os.path.join(workdir, workdir_lib.MODEL_FILE)), datetime.timezone.utc
    )
    record = {
        "epochs": earlier_epochs + epochs_run,
        "steps": int(model.optimizer.iterations.numpy()) if model.optimizer else None,
        "kept_weights": kept,
        "final_validation": {
            key: round(float(value), 5)
            for key, value in history[-1].items()
            if key.startswith("val_")
        }
        if history
        else {},
        "wall_time_minutes": round(
            (finished - started).total_seconds() / 60 - run.get(workdir_lib.PAUSED_MINUTES, 0), 1
        ),
        "finished": finished.isoformat(timespec="seconds"),
    }
    if earlier:
        record["fine_tuned_from"] = {
            "preset": earlier["preset"],
            "epochs": earlier_epochs,
            "wall_time_minutes": earlier["training"].get("wall_time_minutes"),
        }
    return record


def config_overrides(module, preset, config_values):
    """The config fields of a run that differ from its named preset."""
    base = dataclasses.asdict(module.get_config(preset))
    return {
        name: value
        for name, value in config_values.items()
        if json.loads(json.dumps(base.get(name))) != value
    }


def write_preset(workdir, preset_dir, model_name, command, extra=None, config_changes=None):
    """Writes the finished run of `workdir` as a release preset in `preset_dir`.

    `extra` adds entries to metadata.json; `config_changes` changes config fields that do not
    touch the weights (e.g. the decoding's length penalty). The folder is written beside its
    final name and renamed into place. Returns the metadata (without test metrics: `evaluate`
    adds them once the preset exists).
    """
    run, model = workdir_lib.load_run(workdir, model_name)
    run = {**run, "config": {**run["config"], **(config_changes or {})}}
    module = workdir_lib.training_module(model_name)
    metadata = {
        "model": model_name,
        "preset": run["preset"],
        "dataset": run["dataset"],
        "config_overrides": config_overrides(module.MODEL, run["preset"], run["config"]),
        "seed": run.get("seed"),
        "command": command,
        "git_commit": run.get("git_commit"),
        "training": training_record(workdir, run, model),
        "machine": machine_description(),
        **(extra or {}),
    }
    partial = preset_dir.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    _write_json(os.path.join(partial, workdir_lib.PRESET_CONFIG_FILE), run["config"])
    for name in module.VOCABULARY_FILES:
        shutil.copyfile(os.path.join(workdir, name), os.path.join(partial, name))
    # The weights alone: a freshly built model (unbuilt optimizer) takes the trained values.
    weights_only = module.build_for_run(module.MODEL.config_from_dict(run["config"]), partial)
    weights_only.set_weights(model.get_weights())
    weights_only.save_weights(os.path.join(partial, workdir_lib.PRESET_WEIGHTS_FILE))
    _write_json(os.path.join(partial, workdir_lib.PRESET_METADATA_FILE), metadata)
    shutil.rmtree(preset_dir, ignore_errors=True)
    os.rename(partial, preset_dir)
    return metadata


def add_metrics(preset_dir, name, metrics):
    """Stores `metrics` under `name` in the preset's metadata.json."""
    path = os.path.join(preset_dir, workdir_lib.PRESET_METADATA_FILE)
    with open(path, encoding="utf-8") as file:
        metadata = json.load(file)
    metadata[name] = metrics
    _write_json(path, metadata)


def start_from_preset(preset_dir, workdir, model_name):
    """Makes `workdir` a run that resumes from the preset's weights (fine-tuning).

    The run gets the preset's config, vocabularies and weights as the checkpoint of its
    last trained epoch, with a fresh optimizer whose step counter continues from the
    preset's steps (so a learning-rate schedule goes on where it was). Returns the
    number of epochs the preset was trained for.
    """
    if not workdir_lib.is_preset(preset_dir):
        raise UserError(f"{preset_dir} is not a release preset (no config.json/metadata.json).")
    if os.path.abspath(preset_dir) == os.path.abspath(workdir):
        raise UserError("Fine-tune into another --workdir: a preset folder is not a run folder.")
    found = workdir_lib.trained_files(workdir)
    if found:
        raise UserError(
            f"{workdir} already holds a run ({', '.join(found)}): fine-tune {preset_dir} into "
            "another --workdir, or continue that run with --resume alone."
        )
    run, model = workdir_lib.load_preset(preset_dir, model_name)
    with open(os.path.join(preset_dir, workdir_lib.PRESET_METADATA_FILE)) as file:
        training = json.load(file).get("training", {})
    module = workdir_lib.training_module(model_name)
    make_folder(workdir, "--workdir")
    for name in module.VOCABULARY_FILES:
        shutil.copyfile(os.path.join(preset_dir, name), os.path.join(workdir, name))
    with open(os.path.join(workdir, workdir_lib.RUN_FILE), "w") as file:
        earlier = {"preset": preset_dir, "training": training}
        json.dump({**run, workdir_lib.FINE_TUNED_FROM: earlier}, file, indent=2)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(training.get("steps") or 0)
    epochs = training.get("epochs") or 0
    checkpoints.clear(workdir)
    checkpoints.save(model, workdir, epochs)
    return epochs
