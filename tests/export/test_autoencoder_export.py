"""The autoencoder SavedModel: signatures, core ops, fresh-process equality, atomicity."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export import autoencoder as exporter
from kerasnlp_lab.export import saved_model, warmup
from kerasnlp_lab.models import autoencoder
from tests import export_checks


@pytest.fixture(scope="module")
def model():
    return autoencoder.build_autoencoder(autoencoder.get_config("deep"))


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    saved_models = str(tmp_path_factory.mktemp("saved_models"))
    return saved_models, exporter.export_model(model, saved_models)


def test_export_writes_version_1_and_models_config(exported):
    saved_models, path = exported
    assert path == os.path.join(saved_models, "autoencoder", "1")
    assert sorted(os.listdir(os.path.join(saved_models, "autoencoder"))) == ["1"]
    with open(os.path.join(saved_models, "models.config")) as file:
        config = text_format.Parse(file.read(), model_server_config_pb2.ModelServerConfig())
    entries = config.model_config_list.config
    assert [(e.name, e.base_path, e.model_platform) for e in entries] == [
        ("autoencoder", "/models/autoencoder", "tensorflow")
    ]


def test_export_uses_core_tensorflow_ops_only(exported):
    op_types = export_checks.assert_core_ops_only(exported[1])
    assert {"MatMul", "Sigmoid", "Relu"} <= op_types


def test_fresh_tensorflow_process_matches_keras_model(exported, model):
    rng = np.random.default_rng(5)
    calls = []
    for batch in (1, 7):
        images = rng.uniform(0, 1, (batch, 28, 28)).astype(np.float32)
        codes = rng.uniform(0, 3, (batch, 32)).astype(np.float32)
        calls += [
            ("serving_default", {"images": images}),
            ("encode", {"images": images}),
            ("decode", {"codes": codes}),
        ]
    outputs = export_checks.run_signatures_in_fresh_tensorflow(exported[1], calls)
    encoder, decoder = autoencoder.encoder_of(model), autoencoder.decoder_of(model)
    for (signature, inputs), result in zip(calls, outputs, strict=True):
        if signature == "serving_default":
            expected = {"reconstructions": model.predict(inputs["images"], verbose=0)}
        elif signature == "encode":
            expected = {"codes": encoder.predict(inputs["images"], verbose=0)}
        else:
            expected = {"reconstructions": decoder.predict(inputs["codes"], verbose=0)}
        assert sorted(result) == sorted(expected)
        for name, value in expected.items():
            assert result[name].shape == value.shape
            np.testing.assert_allclose(result[name], value, atol=1e-5)


def test_fresh_tensorflow_process_takes_a_relative_path(exported, model, monkeypatch):
    saved_models, path = exported
    monkeypatch.chdir(saved_models)
    images = np.zeros((2, 28, 28), "float32")
    [outputs] = export_checks.run_signatures_in_fresh_tensorflow(
        os.path.join("autoencoder", "1"), [("serving_default", {"images": images})]
    )
    np.testing.assert_allclose(
        outputs["reconstructions"], model.predict(images, verbose=0), atol=1e-5
    )


def test_saved_model_cli_lists_the_three_signatures(exported):
    saved_model_cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    output = subprocess.run(
        [saved_model_cli, "show", "--all", "--dir", exported[1]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|\Z)", output, re.S))
    assert {"serving_default", "encode", "decode"} <= set(blocks)
    expected = {
        "serving_default": ("images", "(-1, 28, 28)", "reconstructions", "(-1, 28, 28)"),
        "encode": ("images", "(-1, 28, 28)", "codes", "(-1, 32)"),
        "decode": ("codes", "(-1, 32)", "reconstructions", "(-1, 28, 28)"),
    }
    for signature, (input_name, input_shape, output_name, output_shape) in expected.items():
        inputs, outputs = blocks[signature].split(
            "The given SavedModel SignatureDef contains the following output(s):"
        )
        assert re.search(
            rf"inputs\['{input_name}'\].*?dtype: DT_FLOAT\s+shape: {re.escape(input_shape)}",
            inputs,
            re.S,
        )
        assert re.search(
            rf"outputs\['{output_name}'\].*?dtype: DT_FLOAT\s+shape: {re.escape(output_shape)}",
            outputs,
            re.S,
        )


def test_warmup_requests_cover_every_signature(exported):
    requests = warmup.read_warmup_requests(exported[1])
    assert len(requests) == 6
    assert sorted(r.model_spec.signature_name for r in requests) == sorted(
        ["serving_default", "encode", "decode"] * 2
    )
    assert {r.model_spec.name for r in requests} == {"autoencoder"}
    shapes = sorted(
        tuple(d.size for d in r.inputs["images"].tensor_shape.dim)
        for r in requests
        if "images" in r.inputs
    )
    assert shapes == [(1, 28, 28)] * 2 + [(8, 28, 28)] * 2


def test_next_export_takes_the_next_version_and_existing_version_is_refused(model, tmp_path):
    saved_models = str(tmp_path)
    assert exporter.export_model(model, saved_models).endswith(os.path.join("autoencoder", "1"))
    assert exporter.export_model(model, saved_models).endswith(os.path.join("autoencoder", "2"))
    assert exporter.export_model(model, saved_models, version=7).endswith("7")
    with pytest.raises(UserError, match=r"already exists.*next free one \(8\)"):
        exporter.export_model(model, saved_models, version=2)
    assert saved_model.existing_versions(os.path.join(saved_models, "autoencoder")) == [1, 2, 7]


def test_failed_export_leaves_no_partial_version(model, tmp_path, monkeypatch):
    def broken_warmup(*args):
        raise OSError("disk full")

    monkeypatch.setattr(warmup, "write_warmup_requests", broken_warmup)
    with pytest.raises(OSError, match="disk full"):
        exporter.export_model(model, str(tmp_path))
    assert os.listdir(tmp_path / "autoencoder") == []
    assert not (tmp_path / "models.config").exists()


def test_models_config_lists_every_model_on_disk(model, tmp_path):
    exporter.export_model(model, str(tmp_path))
    other = tmp_path / "zeta_model" / "3"
    other.mkdir(parents=True)
    (other / "saved_model.pb").write_bytes(b"")
    (tmp_path / "not_a_model").mkdir()  # no numeric version inside: not listed
    exporter.export_model(model, str(tmp_path))
    with open(tmp_path / "models.config") as file:
        config = text_format.Parse(file.read(), model_server_config_pb2.ModelServerConfig())
    assert [e.name for e in config.model_config_list.config] == ["autoencoder", "zeta_model"]
