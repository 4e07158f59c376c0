"""Servable: a loop-free graph runs a call in the calling thread while no other call of the version
runs, else on TensorFlow's inter-op pool; a graph with a loop always on the pool. Outputs are the
signature's either way."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.serving.servable import Servable
from tests.serving.saved_model_factory import (
    affine_expected,
    save_affine,
    save_multi_input,
    save_text,
)

X = np.array([[1.0, 2.0, 3.0]], np.float32)


class CumulativeModel(tf.Module):
    """serving_default: x float32 [-1] -> total float32 [-1] = x * 3, summed in a tf.while_loop."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def total(self, x):
        _, total = tf.while_loop(
            lambda step, total: step < 3, lambda step, total: (step + 1, total + x), (0, x * 0)
        )
        return {"total": total}


def record_thread_choices(servable, during_first_call=None):
    """Wraps the runner of serving_default: records each call's `in_caller_thread`, and makes
    `during_first_call()` while the first call is running."""
    runner = servable._runners["serving_default"]
    run, choices = runner.run, []

    def recording_run(inputs, in_caller_thread):
        choices.append(in_caller_thread)
        if len(choices) == 1 and during_first_call is not None:
            during_first_call()
        return run(inputs, in_caller_thread)

    runner.run = recording_run
    return choices


def test_a_loop_free_call_runs_in_the_calling_thread_when_alone(tmp_path):
    servable = Servable("affine", 2, save_affine(tmp_path / "affine", 2))
    inner = []
    choices = record_thread_choices(
        servable, lambda: inner.append(servable.predict("serving_default", {"x": X})[1]["y"])
    )
    _, outputs = servable.predict("serving_default", {"x": X})
    _, later = servable.predict("serving_default", {"x": X})
    assert servable.loop_free is True
    assert choices == [True, False, True]  # the call made while the first ran used the pool
    for result in (outputs["y"], inner[0], later["y"]):
        np.testing.assert_array_equal(result, affine_expected(X, 2))


def test_a_graph_with_a_loop_runs_on_the_inter_op_pool(tmp_path):
    module = CumulativeModel()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.total})
    servable = Servable("cumulative", 1, tmp_path / "1")
    choices = record_thread_choices(servable)
    _, outputs = servable.predict("serving_default", {"x": np.array([1.5, -2.0], np.float32)})
    assert servable.loop_free is False
    assert choices == [False]
    np.testing.assert_array_equal(outputs["total"], np.array([4.5, -6.0], np.float32))


def test_loading_does_not_print_the_v1_loader_deprecation(tmp_path):
    """Servable loads as TF Serving does, through TensorFlow's v1 loader; its deprecation warning
    (use tf.saved_model.load) is dropped, other TensorFlow warnings are not."""
    path = save_affine(tmp_path / "affine", 1)
    code = (
        "import sys; from pathlib import Path; import tensorflow as tf; "
        "from kerasnlp_lab.serving.servable import Servable; "
        "Servable('affine', 1, Path(sys.argv[1])); tf.get_logger().warning('other warning')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert "other warning" in result.stderr
    assert "is deprecated" not in result.stderr


PRIVATE_CALLABLE = "_make_callable_from_options"


def save_cumulative(path):
    module = CumulativeModel()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.total})
    return path


@pytest.mark.parametrize(
    "save, inputs, expected",
    [
        (lambda path: save_affine(path, 3), {"x": X}, {"y": affine_expected(X, 3)}),
        (
            save_multi_input,  # several inputs and outputs: their order must hold
            {
                "a": np.array([[1.0, 2.0], [0.5, -4.0]], np.float32),
                "b": np.array([7, -3], np.int64),
                "flag": np.array([True, False]),
            },
            {
                "total": np.array([10.0, 6.5], np.float32),
                "doubled": np.array([14, -6], np.int64),
            },
        ),
        (
            save_text,
            {"text": np.array([b"abc", "\u00e9t\u00e9".encode()], object)},
            {
                "upper": np.array([b"ABC", "\u00e9T\u00e9".encode()], object),
                "length": np.array([3, 5], np.int32),
            },
        ),
        (
            save_cumulative,
            {"x": np.array([1.5, -2.0], np.float32)},
            {"total": np.array([4.5, -6.0], np.float32)},
        ),
    ],
    ids=["affine", "multi_input", "text", "loop"],
)
def test_a_tensorflow_without_the_private_session_callable_gives_the_same_answers(
    tmp_path, monkeypatch, save, inputs, expected
):
    path = save(tmp_path / "1")
    with_private = Servable("model", 1, path)
    # Hide TensorFlow's private Session method where it is defined, as a TensorFlow without it.
    owner = next(c for c in tf.compat.v1.Session.__mro__ if PRIVATE_CALLABLE in vars(c))
    monkeypatch.delattr(owner, PRIVATE_CALLABLE)
    assert not hasattr(tf.compat.v1.Session(), PRIVATE_CALLABLE)
    without = Servable("model", 1, path)
    for in_caller_thread in (True, False):  # the two RunOptions: calling thread, inter-op pool
        private = with_private._runners["serving_default"].run(inputs, in_caller_thread)
        public = without._runners["serving_default"].run(inputs, in_caller_thread)
        for outputs in (private, public):
            assert sorted(outputs) == sorted(expected)
            for name, value in expected.items():
                assert outputs[name].dtype == value.dtype, name
                np.testing.assert_array_equal(outputs[name], value)
    _, outputs = without.predict("serving_default", inputs)
    for name, value in expected.items():
        np.testing.assert_array_equal(outputs[name], value)
