"""The release models: presets made from finished runs, SavedModels made from presets.

`make_preset` turns a finished run into `presets/<model>/` and records its test metrics on
the whole test split and on a fixed subset (what the fast test re-checks). `make_models`
exports every preset as the next version of `saved_models/<model>/`, with
`assets.extra/release.json` (the preset's metadata and a fingerprint of preset + code), skipping
a model whose newest version already carries the same fingerprint, so `make models` takes
seconds when nothing changed. A version folder is never rewritten: a new one appears with one
rename, and only then are the versions beyond the newest `keep_versions` deleted (never one that
models.config pins), so a server keeps serving the previous version until the new one is loaded,
and can roll back to it.
"""

import hashlib
import importlib
import json
import os
import shutil
import tempfile

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import models_config
from kerasnlp_lab.export.models_config import KEEP_VERSIONS
from kerasnlp_lab.export.saved_model import existing_versions
from kerasnlp_lab.models import MODEL_MODULES, MODEL_NAMES
from kerasnlp_lab.paths import PRESETS, SAVED_MODELS
from kerasnlp_lab.training import presets
from kerasnlp_lab.training import workdir as workdir_lib

RELEASE_FILE = "release.json"
# The fixed test subset whose metrics a fast test recomputes exactly: the first examples.
SUBSET_LIMITS = {
    "autoencoder": 1_000,  # images
    "char_generator": 20_000,  # characters
    "attention_nmt": 100,  # sentence pairs
    "transformer_translator": 100,
}
TRANSLATORS = ("attention_nmt", "transformer_translator")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _module(package, model_name):
    return importlib.import_module(f"kerasnlp_lab.{package}.{MODEL_MODULES[model_name]}")


def _without_figures(metrics):
    return {key: value for key, value in metrics.items() if key != "figures"}


def choose_decoding(model_name, workdir):
    """The decoding settings of a release translator, chosen on the validation split (its first
    `eval_examples` pairs) with beam search: the alpha of `translation.LENGTH_PENALTIES` with
    the highest BLEU, then at that alpha the n-gram ban of `translation.NO_REPEAT_NGRAM_SIZES`
    with the highest BLEU (none unless one scores higher). Returns ({length_penalty,
    no_repeat_ngram_size}, {"length_penalty_selection": record, "no_repeat_selection": record}).
    """
    from kerasnlp_lab.evaluation import translation  # TensorFlow: imported when needed

    run, serving = _module("export", model_name).load_serving(workdir)
    config = run["config"]
    sources, references = translation.read_pairs(
        run["dataset"], "validation", config["eval_examples"]
    )
    batch_size = config["batch_size"]
    sweep = translation.length_penalty_sweep(serving, sources, references, batch_size=batch_size)
    alpha = translation.best_length_penalty(sweep)
    serving = serving.with_decoding(length_penalty=alpha)
    # No ban at the chosen alpha is the alpha sweep's own run: only the bans are decoded.
    unbanned = next(row for row in sweep if row["alpha"] == alpha)
    bans = [{"no_repeat_ngram_size": 0, **{k: v for k, v in unbanned.items() if k != "alpha"}}]
    bans += translation.no_repeat_sweep(
        serving, sources, references, translation.NO_REPEAT_NGRAM_SIZES[1:], batch_size
    )
    size = translation.best_no_repeat(bans)
    common = {"split": "validation", "pairs": len(sources), "beam_size": serving.beam_size}
    records = {
        "length_penalty_selection": {
            **common,
            "trained_with": config["length_penalty"],
            "chosen": alpha,
            "runs": sweep,
        },
        "no_repeat_selection": {**common, "length_penalty": alpha, "chosen": size, "runs": bans},
    }
    return {"length_penalty": alpha, "no_repeat_ngram_size": size}, records


def make_preset(model_name, workdir, presets_root=PRESETS, command=None):
    """Writes the run of `workdir` as presets/<model>/ with its test metrics; returns them.

    A translator's preset decodes with the settings `choose_decoding` picks on the validation
    split (recorded in metadata.json as `length_penalty_selection` and `no_repeat_selection`)."""
    preset_dir = os.path.join(presets_root, model_name)
    config_changes, extra = {}, {}
    if model_name in TRANSLATORS:
        config_changes, extra = choose_decoding(model_name, workdir)
    presets.write_preset(workdir, preset_dir, model_name, command, extra, config_changes)
    evaluation = _module("evaluation", model_name)
    metrics = _without_figures(evaluation.evaluate(preset_dir))
    presets.add_metrics(preset_dir, "test_metrics", metrics)
    limit = SUBSET_LIMITS[model_name]
    subset = _without_figures(evaluation.evaluate(preset_dir, limit=limit))
    presets.add_metrics(preset_dir, "subset_metrics", {"limit": limit, **subset})
    return metrics


def preset_dirs(presets_root=PRESETS):
    """{model name: preset folder} of the presets present under `presets_root`."""
    found = {}
    for name in MODEL_NAMES:
        folder = os.path.join(presets_root, name)
        if workdir_lib.is_preset(folder):
            found[name] = folder
    return found


def fingerprint(preset_dir):
    """sha256 of the preset's files and of the package's code: what an export depends on."""
    digest = hashlib.sha256()
    roots = [(preset_dir, None), (_PACKAGE_DIR, ".py")]
    for root, suffix in roots:
        for folder, subfolders, files in sorted(os.walk(root)):
            subfolders.sort()
            for name in sorted(files):
                if suffix and not name.endswith(suffix):
                    continue
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as file:
                    digest.update(file.read())
    return digest.hexdigest()


def release_info(saved_models, model_name, version=None):
    """The release.json of saved_models/<model>/<version>/ (default the newest), or None."""
    if version is None:
        version = max(existing_versions(os.path.join(saved_models, model_name)), default=None)
        if version is None:
            return None
    path = os.path.join(saved_models, model_name, str(version), "assets.extra", RELEASE_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def export_preset(model_name, preset_dir, saved_models, keep_versions=KEEP_VERSIONS):
    """Exports a preset as the next version of saved_models/<model>/ unless the newest version
    has its fingerprint, then deletes the versions beyond the newest `keep_versions`.

    Returns (path of the newest version, exported: bool).
    """
    model_dir = os.path.join(saved_models, model_name)
    print_name = f"{model_name} ({preset_dir})"
    stamp = fingerprint(preset_dir)
    newest = max(existing_versions(model_dir), default=0)
    current = release_info(saved_models, model_name, newest) if newest else None
    exported = current is None or current.get("fingerprint") != stamp
    target = os.path.join(model_dir, str(newest + 1 if exported else newest))
    if exported:
        print(f"models: exporting {print_name} to {target}")
        _export_new_version(model_name, preset_dir, saved_models, newest + 1, stamp)
    else:
        print(f"models: {print_name} is up to date in {target}")
    for version in remove_old_versions(saved_models, model_name, keep_versions):
        print(f"models: deleted {os.path.join(model_dir, str(version))}")
    return target, exported


def _export_new_version(model_name, preset_dir, saved_models, version, stamp):
    """Builds the version in a hidden folder of `saved_models`, then renames it into place."""
    with open(os.path.join(preset_dir, workdir_lib.PRESET_METADATA_FILE), encoding="utf-8") as file:
        metadata = json.load(file)
    target = os.path.join(saved_models, model_name, str(version))
    os.makedirs(saved_models, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".release-{model_name}-{version}-", dir=saved_models)
    try:
        built = _module("export", model_name).export(
            workdir=preset_dir, saved_models=staging, version=version
        )
        with open(os.path.join(built, "assets.extra", RELEASE_FILE), "w", encoding="utf-8") as file:
            json.dump({**metadata, "fingerprint": stamp}, file, indent=2, ensure_ascii=False)
        if os.path.exists(target):  # another export got there first; never rewrite a version
            raise UserError(f"{target} appeared while it was being exported: run `models` again.")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_old_versions(saved_models, model_name, keep_versions):
    """Deletes the versions of saved_models/<model>/ beyond the newest `keep_versions`, except
    those models.config pins (a rollback); returns the deleted version numbers."""
    model_dir = os.path.join(saved_models, model_name)
    pinned = models_config.pinned_versions(saved_models, model_name)
    old = [
        version
        for version in existing_versions(model_dir)[:-keep_versions]
        if version not in pinned
    ]
    for version in old:
        # Renamed away first, so a server never sees half a version folder.
        retired = tempfile.mkdtemp(prefix=f".retired-{version}-", dir=model_dir)
        os.rename(os.path.join(model_dir, str(version)), os.path.join(retired, "version"))
        shutil.rmtree(retired)
    return old


def make_models(presets_root=PRESETS, saved_models=SAVED_MODELS, keep_versions=KEEP_VERSIONS):
    """`make models`: every preset exported when out of date; returns {model: newest version}."""
    found = preset_dirs(presets_root)
    if not found:
        raise UserError(
            f"No release presets under {presets_root}/: expected folders like "
            f"{presets_root}/transformer_translator/ with config.json and metadata.json."
        )
    paths = {
        name: export_preset(name, folder, saved_models, keep_versions)[0]
        for name, folder in found.items()
    }
    models_config.write_models_config(saved_models)
    return paths
