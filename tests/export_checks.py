"""The two checks every export must pass (README, "SavedModel contract"), as helpers for the export
tests.

1. `assert_core_ops_only`: every op type in saved_model.pb (graph and function library)
   is registered by core TensorFlow alone, and none is an `Xla*` op.
2. `run_signatures_in_fresh_tensorflow` (from kerasnlp_lab.export.fresh_process): a new
   Python process that imports only tensorflow loads the SavedModel, calls signatures,
   and returns their outputs.
"""

import json
import os
import subprocess
import sys

from tensorflow.core.protobuf import saved_model_pb2

from kerasnlp_lab.export.fresh_process import run_signatures_in_fresh_tensorflow  # noqa: F401


def saved_model_op_types(saved_model_dir):
    """Every op type used in saved_model.pb: graph nodes and function library nodes."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    op_types = set()
    for meta_graph in saved_model.meta_graphs:
        op_types.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            op_types.update(node.op for node in function.node_def)
    return op_types


_CORE_OPS_SCRIPT = """
import json, sys
import tensorflow as tf
from tensorflow.python.framework import op_def_registry
op_types = json.loads(sys.stdin.read())
print(json.dumps(sorted(op for op in op_types if op_def_registry.get(op) is None)))
"""


def assert_core_ops_only(saved_model_dir):
    """Fails if the SavedModel uses an Xla* op or an op core TensorFlow doesn't register."""
    op_types = saved_model_op_types(saved_model_dir)
    xla_ops = sorted(op for op in op_types if op.startswith("Xla"))
    assert not xla_ops, f"XLA ops in {saved_model_dir}: {xla_ops}"
    result = subprocess.run(
        [sys.executable, "-c", _CORE_OPS_SCRIPT],
        input=json.dumps(sorted(op_types)),
        capture_output=True,
        text=True,
        check=True,
    )
    unknown = json.loads(result.stdout.strip().splitlines()[-1])
    assert not unknown, f"ops not in core TensorFlow in {saved_model_dir}: {unknown}"
    return op_types
