"""Reading TF Serving's ModelServerConfig text format, version policies and base path resolution."""

import os
import re

import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving.model_config import (
    ConfigFileWatcher,
    VersionPolicy,
    models_in_folder,
    read_model_config_file,
)

CONFIG = """
# The file `kerasnlp-lab export` writes, with policies and labels added.
model_config_list {
  config { name: "autoencoder" base_path: "/models/autoencoder" model_platform: "tensorflow" }
  config {
    name: "translator"
    base_path: "nested/translator"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "pinned"
    base_path: "/somewhere/else/pinned"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 3 } }
  }
  config {
    name: "two_latest"
    base_path: "/models/two_latest"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
  }
}
"""


def test_reads_the_export_format_with_policies_and_labels(tmp_path):
    (tmp_path / "autoencoder").mkdir()
    path = tmp_path / "models.config"
    path.write_text(CONFIG)
    models = {model.name: model for model in read_model_config_file(path)}
    assert list(models) == ["autoencoder", "translator", "pinned", "two_latest"]
    # /models/... does not exist here: resolved against the config file's folder.
    assert models["autoencoder"].base_path == tmp_path / "autoencoder"
    assert models["autoencoder"].policy == VersionPolicy("latest", num_versions=1)
    assert models["translator"].base_path == tmp_path / "nested" / "translator"
    assert models["translator"].policy.kind == "all"
    assert dict(models["translator"].labels) == {"stable": 1, "canary": 2}
    # Nothing exists yet: the shortest candidate (config folder / last component) is watched.
    assert models["pinned"].base_path == tmp_path / "pinned"
    assert models["pinned"].policy == VersionPolicy("specific", versions=(1, 3))
    assert models["two_latest"].policy.num_versions == 2


def test_existing_absolute_base_path_is_used_as_is(tmp_path):
    model_folder = tmp_path / "elsewhere" / "model"
    model_folder.mkdir(parents=True)
    path = tmp_path / "config" / "models.config"
    path.parent.mkdir()
    path.write_text(
        f'model_config_list {{ config {{ name: "m" base_path: "{model_folder}" '
        'model_platform: "tensorflow" } }'
    )
    assert read_model_config_file(path)[0].base_path == model_folder


def test_longer_suffix_wins_when_it_exists(tmp_path):
    (tmp_path / "models" / "a").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "a" base_path: "/models/a" '
        'model_platform: "tensorflow" } }'
    )
    assert read_model_config_file(path)[0].base_path == tmp_path / "models" / "a"


@pytest.mark.parametrize(
    "policy, present, selected",
    [
        (VersionPolicy(), [1, 2, 10], {10}),
        (VersionPolicy("latest", num_versions=2), [1, 2, 10], {2, 10}),
        (VersionPolicy("all"), [1, 2, 10], {1, 2, 10}),
        (VersionPolicy("specific", versions=(1, 3)), [1, 2, 10], {1}),
        (VersionPolicy(), [], set()),
    ],
)
def test_version_policies(policy, present, selected):
    assert policy.select(present) == selected


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: ", "is not a valid ModelServerConfig text proto"),
        (
            'model_config_list { config { nme: "a" } }',
            "is not a valid ModelServerConfig text proto",
        ),
        ("", "Expected a `model_config_list"),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" } '
            'config { name: "a" base_path: "/b" model_platform: "tensorflow" } }',
            "Illegal to list model a multiple times in config list",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" } }',
            'Expected model_platform: "tensorflow"',
        ),
        (
            'model_config_list { config { name: "../x" base_path: "/a" '
            'model_platform: "tensorflow" } }',
            "Expected model names made of letters",
        ),
        (
            'model_config_list { config { name: "a" model_platform: "tensorflow" } }',
            "has no base_path",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" '
            "model_version_policy { specific { } } } }",
            "`specific` version policy with no versions",
        ),
    ],
)
def test_bad_config_files_raise_user_errors(tmp_path, text, message):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        read_model_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="Cannot read the model config file"):
        read_model_config_file(tmp_path / "nope.config")


def test_models_in_folder_skips_hidden_and_files(tmp_path):
    for name in ("b_model", "a-model", ".staging", "__tmp name"):
        (tmp_path / name).mkdir()
    (tmp_path / "models.config").write_text("")
    assert [model.name for model in models_in_folder(tmp_path)] == ["a-model", "b_model"]
    with pytest.raises(UserError, match="is not a folder"):
        models_in_folder(tmp_path / "missing")


def test_config_watcher_rereads_changes_and_keeps_the_last_good_config(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "a" base_path: "a" model_platform: "tensorflow" } }'
    )
    errors = []
    watcher = ConfigFileWatcher(path, on_error=errors.append)
    assert [model.name for model in watcher()] == ["a"]
    path.write_text(
        'model_config_list { config { name: "b" base_path: "b" model_platform: "tensorflow" } }'
    )
    os.utime(path, ns=(1, 1))
    assert [model.name for model in watcher()] == ["b"]
    path.write_text("model_config_list { oops")
    assert [model.name for model in watcher()] == ["b"]
    assert len(errors) == 1 and "Keeping the previous model config" in errors[0]
