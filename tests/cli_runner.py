"""Runs `kerasnlp-lab` in a subprocess, as a user would, or in the test's own process.

A subprocess costs a TensorFlow import (seconds); `call_cli` runs the same `cli.main` in
this process. The subprocess path of each command stays tested: tests/test_cli.py runs the
autoencoder's train, evaluate, export and predict, --help, parse errors and one error after
TensorFlow's import as a user would; each translator's predict and the workers of
tests/training/test_distribute.py are subprocesses too.
"""

import contextlib
import io
import os
import subprocess
import sys

CLI = [sys.executable, "-m", "kerasnlp_lab.cli"]


def run_cli(*args, cwd=None, timeout=600, check=True):
    """Runs `kerasnlp-lab ARGS...`; returns the CompletedProcess (text stdout/stderr)."""
    result = subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check:
        assert result.returncode == 0, (
            f"kerasnlp-lab {' '.join(map(str, args))} exited {result.returncode}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result


def call_cli(*args, check=True):
    """Runs `kerasnlp_lab.cli.main(ARGS)` in this process, as `run_cli` runs the command.

    Returns a CompletedProcess with what main printed to sys.stdout and sys.stderr. An
    exception main does not turn into an exit status (which a user would see as a
    traceback) propagates and fails the test. SystemExit from argparse gives its code.
    """
    from kerasnlp_lab import cli

    argv = [str(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else 1
    result = subprocess.CompletedProcess(
        ["kerasnlp-lab", *argv], code, out.getvalue(), err.getvalue()
    )
    if check:
        assert code == 0, (
            f"kerasnlp-lab {' '.join(argv)} returned {code}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result


def start_cli(*args, cwd=None):
    """Starts `kerasnlp-lab ARGS...` without waiting; returns the Popen."""
    return subprocess.Popen(
        [*CLI, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
