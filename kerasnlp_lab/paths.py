"""Default folders, relative to the working directory (the repository root for `make`), and
making the folders a command writes to."""

import os

from kerasnlp_lab.errors import UserError

SAVED_MODELS = "saved_models"  # TF Serving model base path: <model>/<version>/ + models.config
PRESETS = "presets"  # release presets: <model>/{config.json, model.weights.h5, ...}
DOCS = "docs"  # one page per concept, figures in docs/figures (`kerasnlp-lab figures`)
BOTTLENECK_JSON = "docs/bottleneck.json"  # BLEU per source length (`kerasnlp-lab bleu-by-length`)
VOCABULARY_JSON = "docs/vocabulary.json"  # the vocabulary-size experiment (`vocabulary-report`)


def default_workdir(model):
    """Where a model's checkpoints, logs and plots go unless --workdir says otherwise."""
    return f"runs/{model}"


def make_folder(path, flag):
    """Creates the folder `path` (and its parents) unless it exists; returns `path`.

    A UserError naming the command-line option `flag` says what is in the way when the folder
    cannot be created or written to (a file on the path, no permission, a read-only disk).
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"{flag} {path}: expected a folder this user can create, got {_obstacle(path, error)}."
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: expected a folder this user can write to; it is not.")
    return path


def _obstacle(path, error):
    """What keeps `path` from being a folder: a file on the way, else the OS error."""
    part = path
    while part and not os.path.exists(part):
        part = os.path.dirname(part)
    if part and not os.path.isdir(part):
        return f"{part}, a file"
    return f"{error.strerror} ({error.filename})" if error.filename else str(error)
