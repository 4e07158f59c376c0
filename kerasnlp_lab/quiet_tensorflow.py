"""Importing TensorFlow without its C++ start-up log lines (oneDNN, cudart, cuInit).

Those lines are written by absl before TensorFlow reads `TF_CPP_MIN_LOG_LEVEL`, so the
variable alone cannot hide them: `import_quietly` sends file descriptor 2 to /dev/null
while TensorFlow loads and initializes its devices, then restores it. Python exceptions
raised meanwhile still propagate (and print) after stderr is back.
"""

import os
import sys

QUIET_LOG_LEVEL = "3"  # TensorFlow's C++ logging after start-up: fatal messages only


def import_quietly(before_ops=None):
    """Imports TensorFlow and initializes its devices with stderr silenced.

    `before_ops`, if given, is called right after the import, before TensorFlow runs any
    op (a multi-worker strategy must be made then).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL)
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        if before_ops is not None:
            before_ops()
        tf.config.list_physical_devices()
        tf.constant(0)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
