"""Calling a SavedModel's signatures in a new Python process that imports only TensorFlow.

This is how TF Serving sees an export: no keras, keras_hub, tensorflow_text or kerasnlp_lab, and
the `serve` MetaGraph loaded into a Session as TF Serving's C++ loader does it (the saver's restore
op, then the init op), each signature run by its SignatureDef's tensor names. (`tf.saved_model.load`
is more forgiving: it resolves a function's variables through the object graph, so it runs exports
that TF Serving loads but cannot run.) The demo uses it to show the export stands alone; the export
tests compare its outputs with the Keras model.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

FORBIDDEN_MODULES = (
    "keras",
    "keras_hub",
    "keras_nlp",
    "tensorflow_text",
    "tf_keras",
    "kerasnlp_lab",
)


# `import tensorflow` imports keras eagerly when it is installed; this finder makes the
# forbidden packages unimportable, so the SavedModel must load and run without them.
_FRESH_PROCESS_SCRIPT = """
import importlib.abc, importlib.machinery, json, sys
FORBIDDEN = %r

class Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(spec.name + " is not importable in this TensorFlow-only process")

    def exec_module(self, module):
        pass

class Forbid(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            return importlib.machinery.ModuleSpec(name, Refuse())
        return None

sys.meta_path.insert(0, Forbid())
import numpy as np
import tensorflow as tf
saved_model_dir, inputs_path, outputs_path = sys.argv[1:4]
calls = json.load(open(inputs_path.replace(".npz", ".json")))
arrays = np.load(inputs_path, allow_pickle=False)
session = tf.compat.v1.Session(graph=tf.Graph())
with session.graph.as_default():
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
results = {}
for index, (signature, names) in enumerate(calls):
    signature_def = meta_graph.signature_def[signature]
    feeds = {signature_def.inputs[name].name: arrays[f"{index}/{name}"] for name in names}
    outputs = sorted(signature_def.outputs)
    values = session.run([signature_def.outputs[name].name for name in outputs], feeds)
    for name, value in zip(outputs, values):
        results[f"{index}/{name}"] = value.astype(np.bytes_) if value.dtype == object else value
np.savez(outputs_path, **results)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)))
"""


def run_signatures_in_fresh_tensorflow(saved_model_dir, calls):
    """Calls signatures in a process that imports only tensorflow (and numpy).

    Args:
        saved_model_dir: the version folder.
        calls: list of (signature name, {input name: numpy array}).

    Returns:
        A list with one {output name: numpy array} per call.
    """
    with tempfile.TemporaryDirectory() as folder:
        inputs_path = os.path.join(folder, "inputs.npz")
        outputs_path = os.path.join(folder, "outputs.npz")
        np.savez(
            inputs_path,
            **{
                f"{index}/{name}": value
                for index, (_, inputs) in enumerate(calls)
                for name, value in inputs.items()
            },
        )
        with open(inputs_path.replace(".npz", ".json"), "w") as file:
            json.dump([(signature, sorted(inputs)) for signature, inputs in calls], file)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _FRESH_PROCESS_SCRIPT % (FORBIDDEN_MODULES,),
                os.path.abspath(saved_model_dir),  # the process runs in `folder`
                inputs_path,
                outputs_path,
            ],
            capture_output=True,
            text=True,
            cwd=folder,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the TensorFlow-only process failed:\n{result.stderr[-3000:]}")
        imported = json.loads(result.stdout.strip().splitlines()[-1])
        if imported:
            raise RuntimeError(f"the TensorFlow-only process imported {imported}")
        with np.load(outputs_path, allow_pickle=False) as stored:
            outputs = [{} for _ in calls]
            for key in stored.files:
                index, name = key.split("/", 1)
                outputs[int(index)][name] = stored[key]
    return outputs
