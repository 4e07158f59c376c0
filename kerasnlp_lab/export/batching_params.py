"""TF Serving's per-model batching parameters: `batching_params.pbtxt` in a version folder.

TF Serving started with `--enable_batching --enable_per_model_batching_parameters` batches each
model with the parameters of the file in its version folder (a model without one is not batched);
the batch threads stay those of `--batching_parameters_file`. `kerasnlp-lab serve
--enable-per-model-batching-parameters` does the same. Each export writes its own file, so a model
whose calls take tens of milliseconds (a translator) may wait longer for a batch to fill than a
model answering in a fraction of one.
"""

import os

BATCHING_PARAMS_FILE = "batching_params.pbtxt"

# serving/batching_parameters.txt's values: one batch of up to 32 rows, a request waits at most
# 1 ms for others to join it.
DEFAULT_BATCHING = {"max_batch_size": 32, "batch_timeout_micros": 1000, "max_enqueued_batches": 100}


def write_batching_params(version_dir, parameters):
    """Writes `parameters` ({BatchingParameters field: int}) as a text proto into `version_dir`."""
    text = "".join(f"{name} {{ value: {value} }}\n" for name, value in parameters.items())
    with open(os.path.join(version_dir, BATCHING_PARAMS_FILE), "w", encoding="utf-8") as file:
        file.write(text)
