"""saved_models/models.config: the ModelServerConfig that TF Serving reads, from disk."""

import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONFIG_FILE = "models.config"
# Where the official tensorflow/serving image sees saved_models/ (`-v $PWD/saved_models:/models`).
CONTAINER_BASE_PATH = "/models"


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


def build_models_config(names):
    """A ModelServerConfig serving the latest version of each model under /models."""
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{CONTAINER_BASE_PATH}/{name}"
        entry.model_platform = "tensorflow"
    return config


def write_models_config(saved_models):
    """Regenerates saved_models/models.config from the models on disk; returns its path."""
    path = os.path.join(saved_models, CONFIG_FILE)
    text = text_format.MessageToString(build_models_config(model_names_on_disk(saved_models)))
    partial = path + ".partial"
    with open(partial, "w") as file:
        file.write(text)
    os.replace(partial, path)
    return path
