"""The versions being served: finds version folders, loads and unloads them by version policy,
keeps their states for GetModelStatus, and hands out loaded versions to requests.

- A version folder is a folder named by a positive integer under the model's base path.
- Every poll re-reads the models (folder mode: subfolders; config mode: the config file when it
  changed), loads the aspired versions not yet loaded (warmup runs before a version becomes
  AVAILABLE), then unloads versions no longer aspired, after the requests using them finished. So a
  new version takes over only once it is AVAILABLE, as TF Serving's availability-preserving policy.
- A version that fails to load is reported as END with its error in the status. It is tried once
  per poll: again on each of the next `max_num_load_retries` polls (TF Serving's flag; TF Serving
  waits `load_retry_interval_micros` between retries), and again whenever any file in its folder
  changes (a version whose variables were still being copied loads once they are there). Meanwhile
  the policy picks among the other versions (with `latest`, the newest that loads), and while no
  aspired version loads, the newest version still loaded keeps serving, even if its folder is gone:
  a corrupt new version never unloads the working one.
- Unloading happens beside the poller: the version stops taking requests at once (UNLOADING), and is
  closed when its last request finished, or after `unload_timeout_seconds` (then logged), so a hung
  request never holds up loading other versions.
"""

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from google.protobuf.message import DecodeError

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import messages
from kerasnlp_lab.serving.batching import BatchingParameters, version_batching
from kerasnlp_lab.serving.errors import ServingError, code_name, invalid_argument, not_found
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.model_config import ModelConfig
from kerasnlp_lab.serving.servable import Servable

logger = logging.getLogger(__name__)

MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos
_DEFAULT_LIMITS = ServingLimits()  # frozen, so one shared default is safe


def list_versions(base_path: Path) -> dict[int, Path]:
    """The version folders under a model's base path: {version: folder}."""
    try:
        children = list(base_path.iterdir())
    except OSError:
        return {}
    versions = {}
    for child in children:
        if (
            child.name.isascii()
            and child.name.isdigit()
            and 0 < int(child.name) <= MAX_VERSION
            and child.is_dir()
        ):
            versions[int(child.name)] = child
    return versions


def folder_fingerprint(folder: Path) -> tuple:
    """Changes when any file or folder in a version folder is added, removed, replaced or edited."""
    stamps = []
    for root, folders, files in os.walk(folder):
        folders.sort()
        for name in [""] + sorted(files):
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            stamps.append((os.path.relpath(path, folder), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


class ModelManager:
    """Loads model versions and serves them to requests.

    Args:
        list_models: returns the models to serve; called at every poll.
        batching: batching parameters, or None for no batching.
        per_model_batching: batch each version with the batching_params.pbtxt of its folder (and
            the batch threads of `batching`), as TF Serving's
            --enable_per_model_batching_parameters.
        on_batch: called with (model name, signature name, rows) for every batch run.
        limits: rows and string limits of the versions, load retries, unload timeout.
    """

    def __init__(
        self,
        list_models: Callable[[], list[ModelConfig]],
        batching: BatchingParameters | None = None,
        per_model_batching: bool = False,
        on_batch: Callable[[str, str, int], None] = lambda model, signature, rows: None,
        limits: ServingLimits = _DEFAULT_LIMITS,
    ):
        self._list_models = list_models
        self._batching = batching
        self._per_model_batching = per_model_batching
        self._on_batch = on_batch
        self._limits = limits
        self._condition = threading.Condition()
        self._configs: dict[str, ModelConfig] = {}
        self._servables: dict[str, dict[int, Servable]] = {}
        self._states: dict[
            str, dict[int, tuple[str, str, str]]
        ] = {}  # version -> (state, code, message)
        self._failed: dict[
            tuple[str, int], tuple[tuple, int]
        ] = {}  # -> (folder fingerprint, failed loads)
        self._unloading: list[threading.Thread] = []
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------------------ lifecycle
    def poll_once(self) -> None:
        """Brings the loaded versions in line with the folders and the config."""
        with self._poll_lock:
            try:
                configs = {config.name: config for config in self._list_models()}
            except UserError as error:
                logger.error("%s", error)
                return
            with self._condition:
                removed = set(self._configs) - set(configs)
                self._configs = configs
            for name in removed:
                for version in list(self._servables.get(name, {})):
                    self._unload(name, version)
            for config in configs.values():
                if self._stop.is_set():
                    return
                self._reconcile(config)

    def start_polling(self, seconds: float) -> None:
        """Polls every `seconds` in a background thread until close()."""

        def loop():
            while not self._stop.wait(seconds):
                try:
                    self.poll_once()
                except Exception:  # the poller must outlive any surprise in one poll
                    logger.exception("Polling the model folders failed")

        self._poller = threading.Thread(target=loop, name="model_poller", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Stops polling and unloads every version (after the requests using them finish, or the
        unload timeout)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        with self._poll_lock:
            with self._condition:
                self._closed = True
            for name, versions in list(self._servables.items()):
                for version in list(versions):
                    self._unload(name, version)
        deadline = time.monotonic() + self._limits.unload_timeout_seconds
        for thread in self._unloading:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------------------ requests
    def is_model(self, name: str) -> bool:
        with self._condition:
            return name in self._configs

    @contextlib.contextmanager
    def acquire(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> Iterator[Servable]:
        """The loaded version a request asks for, kept loaded until the block ends."""
        with self._condition:
            if self._closed:
                raise ServingError("UNAVAILABLE", "The server is shutting down")
            version = self._version_for_label(name, label) if label is not None else version
            loaded = self._servables.get(name, {})
            if version is None:
                if not loaded:
                    raise not_found(f"Servable not found for request: Latest({name})")
                version = max(loaded)
            elif version not in loaded:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            servable = loaded[version]
            servable.active_requests += 1
        try:
            yield servable
        finally:
            with self._condition:
                servable.active_requests -= 1
                self._condition.notify_all()

    def status(self, name: str, version: int | None = None, label: str | None = None):
        """The GetModelStatusResponse for one model (all versions, newest first) or one version."""
        with self._condition:
            if label is not None:
                version = self._version_for_label(name, label)
            states = self._states.get(name, {})
            if version is not None:
                if version not in states:
                    raise not_found(f"Could not find version {version} of model {name}")
                entries = [(version, *states[version])]
            else:
                if not states:
                    raise not_found(f"Could not find any versions of model {name}")
                entries = [(number, *states[number]) for number in sorted(states, reverse=True)]
        return messages.status_response(entries)

    def metadata(self, name: str, version: int | None = None, label: str | None = None):
        """The GetModelMetadataResponse (signature_def) of the version a request asks for."""
        with self.acquire(name, version, label) as servable:
            return messages.metadata_response(name, servable.version, servable.signature_defs)

    def _version_for_label(self, name: str, label: str) -> int:
        config = self._configs.get(name)
        if config is None or label not in config.labels:
            raise invalid_argument(f"Unrecognized servable version label: {label}")
        return config.labels[label]

    # ------------------------------------------------------------------------------ loading
    def _reconcile(self, config: ModelConfig) -> None:
        name = config.name
        on_disk = list_versions(config.base_path)
        failed_now = set()  # each version is tried at most once per poll
        while True:
            loadable = [
                version
                for version, folder in on_disk.items()
                if version not in failed_now and self._may_load(name, version, folder)
            ]
            aspired = config.policy.select(loadable)
            missing = sorted(aspired - set(self._servables.get(name, {})), reverse=True)
            if not missing:
                break
            if not self._load(name, missing[0], on_disk[missing[0]]):
                failed_now.add(missing[0])
        stale = sorted(set(self._servables.get(name, {})) - aspired)
        if not aspired and config.policy.select(on_disk):  # the versions wanted all failed
            stale = stale[:-1]  # the newest loaded one keeps serving
        for version in stale:
            self._unload(name, version)

    def _may_load(self, name: str, version: int, folder: Path) -> bool:
        """False for a version that failed to load, is unchanged since, and has no retries left."""
        failed = self._failed.get((name, version))
        if failed is None:
            return True
        fingerprint, failures = failed
        return failures <= self._limits.max_num_load_retries or fingerprint != folder_fingerprint(
            folder
        )

    def _load(self, name: str, version: int, folder: Path) -> bool:
        """Loads and warms up a version; False (the error in its status) when that failed."""
        fingerprint = folder_fingerprint(folder)
        failed = self._failed.get((name, version))
        if failed is None:  # a retry keeps showing the last failure until it succeeds
            self._set_state(name, version, "LOADING")
        servable = None
        try:
            servable = Servable(
                name,
                version,
                folder,
                version_batching(folder, self._batching, self._per_model_batching),
                lambda signature, rows: self._on_batch(name, signature, rows),
                self._limits.max_batch_rows,
                self._limits.max_string_bytes,
                self._limits.tensorflow_inter_op_parallelism,
                self._limits.tensorflow_intra_op_parallelism,
            )
            warmups = servable.run_warmup()
        except Exception as error:  # any load failure is reported in the status, never raised
            if servable is not None:
                servable.close()
            code, message = _load_error(error)
            failures = failed[1] + 1 if failed is not None and failed[0] == fingerprint else 1
            self._failed[(name, version)] = (fingerprint, failures)
            self._set_state(name, version, "END", code, message)
            logger.error(
                "Loading servable: {name: %s version: %d} failed: %s: %s",
                name,
                version,
                code,
                message,
            )
            return False
        self._failed.pop((name, version), None)
        with self._condition:
            self._servables.setdefault(name, {})[version] = servable
            self._states.setdefault(name, {})[version] = ("AVAILABLE", "OK", "")
        logger.info(
            "Successfully loaded servable version {name: %s version: %d} from %s (%d warmup "
            "requests)",
            name,
            version,
            folder,
            warmups,
        )
        return True

    def _unload(self, name: str, version: int) -> None:
        """Stops handing out a version now; closes it in the background (see the module
        docstring)."""
        with self._condition:
            servable = self._servables[name].pop(version)
            self._states[name][version] = ("UNLOADING", "OK", "")
        self._unloading = [thread for thread in self._unloading if thread.is_alive()]
        thread = threading.Thread(
            target=self._finish_unload,
            args=(name, version, servable),
            name=f"unload_{name}_{version}",
            daemon=True,
        )
        self._unloading.append(thread)
        thread.start()

    def _finish_unload(self, name: str, version: int, servable: Servable) -> None:
        timeout = self._limits.unload_timeout_seconds
        with self._condition:
            idle = self._condition.wait_for(lambda: servable.active_requests == 0, timeout)
        if not idle:
            logger.warning(
                "Unloading servable version {name: %s version: %d} with %d requests still running "
                "after %.0f s (unload_timeout_seconds)",
                name,
                version,
                servable.active_requests,
                timeout,
            )
        servable.close(timeout)
        with self._condition:
            if self._states[name].get(version, ("",))[
                0
            ] == "UNLOADING" and version not in self._servables.get(name, {}):
                self._states[name][version] = ("END", "OK", "")
        logger.info("Unloaded servable version {name: %s version: %d}", name, version)

    def _set_state(
        self, name: str, version: int, state: str, code: str = "OK", message: str = ""
    ) -> None:
        with self._condition:
            self._states.setdefault(name, {})[version] = (state, code, message)


def _load_error(error: Exception) -> tuple[str, str]:
    """(error code name, message) for the status of a version that failed to load."""
    if isinstance(error, ServingError):
        return error.code, error.message
    if isinstance(error, UserError):  # e.g. an unreadable batching_params.pbtxt
        return "INVALID_ARGUMENT", str(error)
    if isinstance(error, DecodeError):
        return "DATA_LOSS", f"Can't parse saved_model.pb as binary proto: {error}"
    if isinstance(error, FileNotFoundError) or "does not exist" in str(error):
        return "NOT_FOUND", str(error)
    code = getattr(error, "error_code", None)
    if code is not None:
        return code_name(code), getattr(error, "message", str(error))
    return "UNKNOWN", f"{type(error).__name__}: {error}"
