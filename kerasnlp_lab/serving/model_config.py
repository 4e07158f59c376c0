"""Which models to serve: a TF Serving ModelServerConfig text file, or every subfolder of a folder.

The config file is the one real TF Serving reads (`--model_config_file`), e.g.

    model_config_list {
      config {
        name: "autoencoder"
        base_path: "/models/autoencoder"
        model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 2 } }   # or all {} / specific { versions: 1 }
        version_labels { key: "stable" value: 1 }
      }
    }

Base paths in such a file are often paths inside the TF Serving Docker image (`/models/...`, with
`saved_models/` mounted at `/models`). A base path that does not exist here is resolved against the
config file's folder: its trailing components are tried from the longest to the shortest, so
`/models/autoencoder` in `saved_models/models.config` becomes `saved_models/autoencoder` (or
`saved_models/models/autoencoder` if that exists). A relative base path is relative to the config
file's folder. When no candidate exists yet, the shortest one is watched until it appears.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasnlp_lab.errors import UserError

# Names that are safe in a URL path segment and as a folder name; folder mode skips anything else
# (hidden folders, temporary export folders).
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
TENSORFLOW_PLATFORM = "tensorflow"


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's ServableVersionPolicy: `latest` N versions, `all` versions, or `specific`
    ones."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, versions: Iterable[int]) -> set[int]:
        """The versions to serve among those present on disk."""
        present = sorted(set(versions), reverse=True)
        if self.kind == "latest":
            return set(present[: self.num_versions])
        if self.kind == "all":
            return set(present)
        return set(present) & set(self.versions)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One model: its name in URLs and requests, the folder of its numbered versions, which versions
    to serve and the version labels (label -> version)."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)


def models_in_folder(folder: str | Path) -> list[ModelConfig]:
    """Every subfolder of `folder` with a valid model name is a model served with policy latest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"Expected a folder of models (one subfolder per model), got {str(folder)!r}, "
            "which is not a folder."
        )
    return [
        ModelConfig(name=child.name, base_path=child)
        for child in sorted(folder.iterdir())
        if child.is_dir() and MODEL_NAME_PATTERN.match(child.name)
    ]


def read_model_config_file(path: str | Path) -> list[ModelConfig]:
    """Parses a ModelServerConfig text file into model configs; a bad file raises UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"Cannot read the model config file {str(path)!r}: {error.strerror}."
        ) from error
    try:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise UserError(
            f"The model config file {str(path)!r} is not a valid ModelServerConfig text "
            f"proto: {error}"
        ) from error
    if config.WhichOneof("config") != "model_config_list":
        raise UserError(
            f"Expected a `model_config_list {{ config {{ ... }} }}` in {str(path)!r}, "
            f"got {config.WhichOneof('config') or 'an empty config'}."
        )
    models = [_model_from_proto(entry, path) for entry in config.model_config_list.config]
    names = [model.name for model in models]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(
            f"Illegal to list model {duplicates[0]} multiple times in config list ({str(path)!r})."
        )
    return models


def resolve_base_path(base_path: str, config_folder: Path) -> Path:
    """The local folder for a config's base path (see the module docstring for the rule)."""
    path = Path(base_path)
    if not path.is_absolute():
        return config_folder / path
    if path.is_dir():
        return path
    parts = path.parts[1:]
    candidates = [config_folder.joinpath(*parts[start:]) for start in range(len(parts))]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1] if candidates else path


def _model_from_proto(entry: model_server_config_pb2.ModelConfig, path: Path) -> ModelConfig:
    where = f"in the model config file {str(path)!r}"
    if not MODEL_NAME_PATTERN.match(entry.name):
        raise UserError(
            f"Expected model names made of letters, digits, '_', '.', '-' {where}, "
            f"got {entry.name!r}."
        )
    if not entry.base_path:
        raise UserError(f"Model {entry.name!r} has no base_path {where}.")
    if entry.model_platform != TENSORFLOW_PLATFORM:
        raise UserError(
            f'Expected model_platform: "{TENSORFLOW_PLATFORM}" for model {entry.name!r} '
            f"{where}, got {entry.model_platform!r}."
        )
    labels = dict(entry.version_labels)
    for label, version in labels.items():
        if not MODEL_NAME_PATTERN.match(label) or version <= 0:
            raise UserError(
                f'Expected version labels like `version_labels {{ key: "stable" value: 1 }}` '
                f"for model {entry.name!r} {where}, got {label!r} -> {version}."
            )
    return ModelConfig(
        name=entry.name,
        base_path=resolve_base_path(entry.base_path, path.parent),
        policy=_policy_from_proto(entry, where),
        labels=labels,
    )


def _policy_from_proto(entry: model_server_config_pb2.ModelConfig, where: str) -> VersionPolicy:
    policy = entry.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice is None:
        return VersionPolicy()
    if choice == "latest":
        return VersionPolicy("latest", num_versions=max(1, policy.latest.num_versions))
    if choice == "all":
        return VersionPolicy("all")
    versions = tuple(policy.specific.versions)
    if not versions:
        raise UserError(
            f"Model {entry.name!r} has a `specific` version policy with no versions {where}."
        )
    return VersionPolicy("specific", versions=versions)


class ConfigFileWatcher:
    """Re-reads a model config file when it changes, so labels, policies and models can change
    without a restart. A change that does not parse is logged and the previous models are kept."""

    def __init__(self, path: str | Path, on_error=lambda message: None):
        self.path = Path(path)
        self._on_error = on_error
        self._models = read_model_config_file(self.path)
        self._stamp = self._file_stamp()

    def __call__(self) -> list[ModelConfig]:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._models = read_model_config_file(self.path)
            except UserError as error:
                self._on_error(f"{error} Keeping the previous model config.")
        return self._models

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
