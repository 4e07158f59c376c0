"""Runs `kerasnlp-lab` in a subprocess, as a user would."""

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
