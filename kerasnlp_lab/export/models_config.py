"""saved_models/models.config: the ModelServerConfig that TF Serving reads, from disk.

Each model serves its newest version; a model's entry already in the file is kept as it is, so a
rollback (ROLLBACK) survives the next export.
"""

import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasnlp_lab.errors import UserError

CONFIG_FILE = "models.config"
# Where the official tensorflow/serving image sees saved_models/ (`-v $PWD/saved_models:/models`).
CONTAINER_BASE_PATH = "/models"
KEEP_VERSIONS = 2  # versions of a model that `kerasnlp-lab models` keeps: the newest, one older
ROLLBACK = "model_version_policy { specific { versions: N } }"
HEADER = f"""\
# Written by `kerasnlp-lab models` and `kerasnlp-lab export` from the model folders beside it;
# a model's entry is kept as it is when the file is rewritten. Each model serves its newest
# version. To roll a model back to its version N (a folder saved_models/<model>/N/), add
#   {ROLLBACK}
# to its `config {{ ... }}`, and remove it to serve the newest again. TF Serving re-reads this
# file when started with --model_config_file_poll_wait_seconds=60 (every 60 s); `kerasnlp-lab
# serve --model-config-file` re-reads it at every poll.
"""


def model_names_on_disk(saved_models):
    """Folders of saved_models/ that hold at least one numeric version with a SavedModel."""
    names = []
    for name in sorted(os.listdir(saved_models)):
        if name.startswith("."):  # a version being built or retired (kerasnlp_lab.release)
            continue
        model_dir = os.path.join(saved_models, name)
        if os.path.isdir(model_dir) and any(
            version.isdigit() and os.path.exists(os.path.join(model_dir, version, "saved_model.pb"))
            for version in os.listdir(model_dir)
        ):
            names.append(name)
    return names


def read_models_config(saved_models):
    """{model name: its config entry} of saved_models/models.config ({} when there is none)."""
    path = os.path.join(saved_models, CONFIG_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        text = file.read()
    try:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise UserError(
            f"{path} is not a ModelServerConfig text proto ({error}): fix it, or delete it to "
            "have it written anew."
        ) from error
    return {entry.name: entry for entry in config.model_config_list.config}


def pinned_versions(saved_models, name):
    """The versions of a model that models.config names (specific versions, version labels)."""
    entry = read_models_config(saved_models).get(name)
    if entry is None:
        return set()
    return set(entry.model_version_policy.specific.versions) | set(entry.version_labels.values())


def build_models_config(names, kept=None):
    """A ModelServerConfig serving the latest version of each model under /models; `kept`
    ({name: entry}) gives the entries to keep as they are."""
    kept = kept or {}
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        entry = config.model_config_list.config.add()
        if name in kept:
            entry.CopyFrom(kept[name])
            continue
        entry.name = name
        entry.base_path = f"{CONTAINER_BASE_PATH}/{name}"
        entry.model_platform = "tensorflow"
    return config


def write_models_config(saved_models):
    """Regenerates saved_models/models.config from the models on disk; returns its path."""
    path = os.path.join(saved_models, CONFIG_FILE)
    kept = read_models_config(saved_models)
    config = build_models_config(model_names_on_disk(saved_models), kept)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(HEADER + text_format.MessageToString(config))
    os.replace(partial, path)
    return path
