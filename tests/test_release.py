"""The release presets: their exports pass both export checks, their metrics reproduce.

For every preset committed under presets/: `make models` exports it (core ops only, a
TensorFlow-only process gives the in-process outputs for every signature at the two batch
sizes of its warmup requests), its fixed test subset re-evaluates to the metrics recorded
in metadata.json, and a second `make models` leaves the exports alone. With a stand-in
exporter: a changed preset or changed code becomes the next version, the newest versions and
any that models.config pins are kept, and a failed export changes nothing.
"""

import importlib
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab import demo, release
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import models_config, warmup
from kerasnlp_lab.models import MODEL_MODULES
from kerasnlp_lab.serving.model_config import read_model_config_file
from kerasnlp_lab.training import workdir as workdir_lib
from tests import export_checks
from tests.cli_runner import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS_ROOT = os.path.join(ROOT, "presets")
PRESETS = release.preset_dirs(PRESETS_ROOT)
MAX_RELEASE_MEGABYTES = 100


def _module(package, model_name):
    return importlib.import_module(f"kerasnlp_lab.{package}.{MODEL_MODULES[model_name]}")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    saved_models = str(tmp_path_factory.mktemp("saved_models"))
    return saved_models, release.make_models(PRESETS_ROOT, saved_models)


def test_every_model_has_a_release_preset_under_100_megabytes():
    assert sorted(PRESETS) == sorted(MODEL_MODULES)
    total = sum(
        os.path.getsize(os.path.join(folder, name))
        for folder in PRESETS.values()
        for name in os.listdir(folder)
    )
    assert total < MAX_RELEASE_MEGABYTES * 2**20


@pytest.mark.parametrize("model_name", sorted(PRESETS))
def test_release_export_uses_core_tensorflow_ops_only(exported, model_name):
    saved_models, paths = exported
    assert paths[model_name] == os.path.join(saved_models, model_name, "1")
    export_checks.assert_core_ops_only(paths[model_name])


def _as_array(tensor_proto):
    """A warmup input as NumPy (strings as fixed-width bytes, as np.savez needs)."""
    value = tf.make_ndarray(tensor_proto)
    return value.astype(np.bytes_) if value.dtype == object else value


@pytest.mark.parametrize("model_name", sorted(PRESETS))
def test_release_export_in_fresh_tensorflow_matches_the_preset_in_process(exported, model_name):
    version_dir = exported[1][model_name]
    calls = [
        (
            request.model_spec.signature_name,
            {name: _as_array(proto) for name, proto in request.inputs.items()},
        )
        for request in warmup.read_warmup_requests(version_dir)
    ]
    signatures = {name for name, _ in calls}
    assert len(calls) >= 2 * len(signatures)  # every signature, two batch sizes
    outputs = export_checks.run_signatures_in_fresh_tensorflow(version_dir, calls)
    _, serving = _module("export", model_name).load_serving(PRESETS[model_name])
    functions = serving.signatures()
    assert sorted(functions) == sorted(signatures)
    for (signature, inputs), result in zip(calls, outputs, strict=True):
        expected = functions[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert sorted(result) == sorted(expected)
        for name, value in expected.items():
            value = value.numpy()
            if value.dtype == object:
                np.testing.assert_array_equal(result[name], value.astype(np.bytes_))
            else:
                np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_name", sorted(PRESETS))
def test_release_json_carries_the_preset_metadata(exported, model_name):
    info = release.release_info(exported[0], model_name)
    with open(os.path.join(PRESETS[model_name], workdir_lib.PRESET_METADATA_FILE)) as file:
        metadata = json.load(file)
    assert info["fingerprint"] == release.fingerprint(PRESETS[model_name])
    assert info["test_metrics"] == metadata["test_metrics"]
    assert info["git_commit"] == metadata["git_commit"] and len(info["git_commit"]) == 40


def test_a_second_make_models_is_a_no_op(exported, capsys):
    saved_models, paths = exported
    before = {
        name: os.stat(os.path.join(path, "saved_model.pb")).st_mtime_ns
        for name, path in paths.items()
    }
    release.make_models(PRESETS_ROOT, saved_models)
    after = {
        name: os.stat(os.path.join(path, "saved_model.pb")).st_mtime_ns
        for name, path in paths.items()
    }
    assert after == before
    assert capsys.readouterr().out.count("is up to date") == len(PRESETS)


# Wall times differ from machine to machine: recorded, never compared.
UNCOMPARED_METRICS = ("seconds",)


def _assert_same(actual, expected, where=""):
    """Every recorded metric again: numbers equal to 1e-4, strings and the rest exactly,
    recursively (metrics added since the preset was made are not in `expected`)."""
    if isinstance(expected, dict):
        assert set(expected) <= set(actual), (where, sorted(set(expected) - set(actual)))
        for key in expected:
            if key not in UNCOMPARED_METRICS:
                _assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-4), where
    else:
        assert actual == expected, where


@pytest.mark.parametrize("model_name", sorted(PRESETS))
def test_subset_reevaluation_matches_the_recorded_metrics(model_name, tmp_path):
    with open(os.path.join(PRESETS[model_name], workdir_lib.PRESET_METADATA_FILE)) as file:
        recorded = json.load(file)["subset_metrics"]
    assert recorded["limit"] == release.SUBSET_LIMITS[model_name]
    metrics = _module("evaluation", model_name).evaluate(
        PRESETS[model_name], limit=recorded["limit"], output_dir=str(tmp_path)
    )
    metrics.pop("figures", None)
    _assert_same({"limit": recorded["limit"], **metrics}, recorded)


@pytest.fixture
def autoencoder_copy(tmp_path):
    if "autoencoder" not in PRESETS:
        pytest.fail("the autoencoder release preset is missing")
    folder = tmp_path / "autoencoder"
    shutil.copytree(PRESETS["autoencoder"], folder)
    return folder


def test_a_missing_weights_file_is_one_clear_error(autoencoder_copy):
    os.remove(autoencoder_copy / workdir_lib.PRESET_WEIGHTS_FILE)
    with pytest.raises(UserError, match="has no weights file model.weights.h5"):
        workdir_lib.load_run(str(autoencoder_copy), "autoencoder")


def test_a_corrupted_weights_file_is_one_clear_error(autoencoder_copy):
    weights = autoencoder_copy / workdir_lib.PRESET_WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match="Cannot load the weights .* damaged"):
        workdir_lib.load_run(str(autoencoder_copy), "autoencoder")


def test_a_preset_of_another_model_is_refused(autoencoder_copy):
    with pytest.raises(UserError, match="holds a 'autoencoder' preset, not 'char_generator'"):
        workdir_lib.load_run(str(autoencoder_copy), "char_generator")


def test_demo_shows_the_release_models_through_rest_and_grpc(exported, tmp_path):
    """`kerasnlp-lab demo`: trained output from every model, served, with where to go next."""
    saved_models, _ = exported
    result = run_cli(
        "demo",
        "--presets",
        PRESETS_ROOT,
        "--saved-models",
        saved_models,
        "--workdir",
        tmp_path / "demo",
    )
    lines = result.stdout.splitlines()
    assert "=== Translation: 5 held-out Spanish verses (test split), sentence BLEU ===" in lines
    assert (
        "reference:                            But he said this, signifying by what kind of "
        "death he should die."
    ) in lines
    assert (
        "attention_nmt greedy (REST):          This saying, “To what he would have something to "
        "find out of death.”  [BLEU 6.4]"
    ) in lines
    assert sum(line.startswith("transformer_translator beam-4 (gRPC): ") for line in lines) == 5
    typed = lines.index(
        "=== Translation: a sentence in modern spelling, typed as a user would (beam 4, REST) ==="
    )
    assert lines[typed + 1].endswith("En el principio creó Dios los cielos y la tierra.")
    assert [line.split(":")[0] for line in lines[typed + 2 : typed + 4]] == list(demo.TRANSLATORS)
    assert not any("[UNK]" in line for line in lines)
    assert "500 test images through REST: reconstruction MSE 0.00994" in lines
    assert sum(line.startswith("[temperature ") for line in lines) == 4
    assert lines[-3].startswith("learn how they work:  docs/README.md")
    assert (tmp_path / "demo" / "autoencoder_reconstructions.png").is_file()


# ---------------------------------------------------------------------------- numbered versions
# Fast: a stand-in exporter writes a marker SavedModel, so these check the versioning itself.


class _StandInExporter:
    """`export` of a model module: writes saved_models/<model>/<version>/ and counts its calls."""

    def __init__(self):
        self.calls = 0
        self.fail = False

    def export(self, workdir, saved_models, version):
        self.calls += 1
        if self.fail:
            raise OSError("disk full")
        folder = os.path.join(saved_models, "autoencoder", str(version))
        os.makedirs(os.path.join(folder, "assets.extra"))
        with open(os.path.join(folder, "saved_model.pb"), "w") as file:
            file.write(f"exported from {workdir}")
        return folder


@pytest.fixture
def release_folders(tmp_path, monkeypatch):
    """(presets root with an autoencoder preset, saved_models, the stand-in exporter); the code
    fingerprint reads a stand-in package folder."""
    preset = tmp_path / "presets" / "autoencoder"
    preset.mkdir(parents=True)
    (preset / workdir_lib.PRESET_CONFIG_FILE).write_text('{"units": 1}')
    (preset / workdir_lib.PRESET_METADATA_FILE).write_text('{"preset": "deep"}')
    package = tmp_path / "package"
    package.mkdir()
    (package / "code.py").write_text("VERSION = 1\n")
    monkeypatch.setattr(release, "_PACKAGE_DIR", str(package))
    exporter = _StandInExporter()
    monkeypatch.setattr(release, "_module", lambda package, model_name: exporter)
    return tmp_path / "presets", tmp_path / "saved_models", exporter


def _versions(saved_models):
    folder = saved_models / "autoencoder"
    return sorted(int(name) for name in os.listdir(folder) if not name.startswith("."))


def test_a_changed_preset_or_code_becomes_the_next_version_and_two_are_kept(release_folders):
    presets_root, saved_models, exporter = release_folders
    paths = release.make_models(str(presets_root), str(saved_models))
    assert paths == {"autoencoder": str(saved_models / "autoencoder" / "1")}
    assert release.make_models(str(presets_root), str(saved_models)) == paths  # unchanged: no-op
    assert (exporter.calls, _versions(saved_models)) == (1, [1])

    (presets_root / "autoencoder" / workdir_lib.PRESET_CONFIG_FILE).write_text('{"units": 2}')
    release.make_models(str(presets_root), str(saved_models))
    assert (exporter.calls, _versions(saved_models)) == (2, [1, 2])
    version_2 = saved_models / "autoencoder" / "2" / "saved_model.pb"
    before = os.stat(version_2)

    (presets_root.parent / "package" / "code.py").write_text("VERSION = 2\n")
    release.make_models(str(presets_root), str(saved_models))
    assert (exporter.calls, _versions(saved_models)) == (3, [2, 3])  # version 1 deleted
    after = os.stat(version_2)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    stamps = [
        release.release_info(str(saved_models), "autoencoder", version)["fingerprint"]
        for version in (2, 3, None)  # None: the newest
    ]
    assert (
        stamps[0]
        != stamps[1]
        == stamps[2]
        == release.fingerprint(str(presets_root / "autoencoder"))
    )
    # Nothing left behind: no staging or retired folders.
    assert sorted(os.listdir(saved_models)) == ["autoencoder", "models.config"]
    assert sorted(os.listdir(saved_models / "autoencoder")) == ["2", "3"]

    release.make_models(str(presets_root), str(saved_models), keep_versions=1)
    assert (exporter.calls, _versions(saved_models)) == (3, [3])


def test_a_version_models_config_pins_is_kept_and_so_is_the_pin(release_folders):
    presets_root, saved_models, exporter = release_folders
    config = saved_models / "models.config"
    release.make_models(str(presets_root), str(saved_models))
    text = config.read_text()
    assert text.startswith("# Written by `kerasnlp-lab models`")
    assert models_config.ROLLBACK in text
    # Roll back to version 1 as the file says, then export versions 2 and 3.
    config.write_text(
        text.replace(
            'model_platform: "tensorflow"',
            'model_platform: "tensorflow"\n  ' + models_config.ROLLBACK.replace("N", "1"),
        )
    )
    for units in (2, 3):
        (presets_root / "autoencoder" / workdir_lib.PRESET_CONFIG_FILE).write_text(
            f'{{"units": {units}}}'
        )
        release.make_models(str(presets_root), str(saved_models), keep_versions=1)
    assert _versions(saved_models) == [1, 3]
    [entry] = read_model_config_file(config)
    assert (entry.name, entry.policy.kind, entry.policy.versions) == (
        "autoencoder",
        "specific",
        (1,),
    )


def test_a_failed_export_leaves_the_versions_as_they_were(release_folders):
    presets_root, saved_models, exporter = release_folders
    release.make_models(str(presets_root), str(saved_models))
    (presets_root / "autoencoder" / workdir_lib.PRESET_CONFIG_FILE).write_text('{"units": 2}')
    exporter.fail = True
    with pytest.raises(OSError, match="disk full"):
        release.make_models(str(presets_root), str(saved_models), keep_versions=1)
    assert sorted(os.listdir(saved_models)) == ["autoencoder", "models.config"]
    assert sorted(os.listdir(saved_models / "autoencoder")) == ["1"]
