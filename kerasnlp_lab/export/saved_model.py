"""Writing a SavedModel version atomically into a TF Serving model base path."""

import os
import shutil
import tempfile

import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import models_config, warmup
from kerasnlp_lab.export.batching_params import DEFAULT_BATCHING, write_batching_params
from kerasnlp_lab.paths import make_folder


def existing_versions(model_dir):
    """The version numbers already under `model_dir` (numeric folder names)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir) if name.isdigit())


def next_version(model_dir):
    """One more than the highest version under `model_dir` (1 for a new model)."""
    return max(existing_versions(model_dir), default=0) + 1


def track_signature_variables(module, signatures):
    """Tracks, on `module`, the tf.Variables the signatures read.

    A Keras 3 variable is a wrapper around a tf.Variable. Saved through the wrapper alone, the
    SavedModel's restore op fills the wrapper's copy, while the functions read the inner variable:
    `tf.saved_model.load` maps one to the other, but TF Serving's loader (a Session over the
    MetaGraph) answers "Could not find variable ...". Keras' own ExportArchive tracks the inner
    variables for the same reason.
    """
    variables = {}
    for function in signatures.values():
        for variable in function.variables:
            variables.setdefault(id(variable), variable)
    module.signature_variables = list(variables.values())


def write_version(
    module,
    signatures,
    *,
    saved_models,
    name,
    version=None,
    warmup_requests=(),
    batching_parameters=DEFAULT_BATCHING,
):
    """Saves `module` as saved_models/<name>/<version>/ and refreshes models.config.

    The SavedModel, its warmup file and its batching parameters are written into a hidden
    temporary folder beside the target and renamed into place, so a server watching the folder
    never sees half a version, and a failed export leaves nothing behind.

    Args:
        module: the tf.Module to save (it tracks the model's variables and tables).
        signatures: {signature name: concrete function}.
        saved_models: the TF Serving model base path.
        name: the model's TF Serving name.
        version: the version number; default the next free one.
        warmup_requests: (signature name, {input name: array}) pairs for
            assets.extra/tf_serving_warmup_requests.
        batching_parameters: {BatchingParameters field: int} for batching_params.pbtxt, TF
            Serving's per-model batching parameters.

    Returns:
        The path of the new version folder.
    """
    model_dir = os.path.join(saved_models, name)
    version = version or next_version(model_dir)
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target):
        raise UserError(
            f"{target} already exists: pass another --version, or leave it out to use "
            f"the next free one ({next_version(model_dir)})."
        )
    make_folder(model_dir, "--saved-models")
    partial = tempfile.mkdtemp(prefix=f".partial-{version}-", dir=model_dir)
    track_signature_variables(module, signatures)
    try:
        tf.saved_model.save(module, partial, signatures=signatures)
        warmup.write_warmup_requests(partial, name, warmup_requests)
        write_batching_params(partial, batching_parameters)
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    models_config.write_models_config(saved_models)
    return target
