"""What every page of the lab draws with: the model folders, where figures go, table helpers."""

import dataclasses
import json
import os

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class Lab:
    """Where a page reads its models and writes its figures.

    Args:
        folders: {model name: run folder or release preset folder}.
        docs_dir: the pages' folder (docs/); data files of a page (bottleneck.json) live there.
        quick: the tests' smoke run: fewer examples, steps and lengths than the real figures.
    """

    folders: dict
    docs_dir: str
    quick: bool = False

    @property
    def figures_dir(self):
        return os.path.join(self.docs_dir, "figures")

    def figure(self, name):
        """The path of figure `name` (a PNG file name) under docs/figures, folder created."""
        os.makedirs(self.figures_dir, exist_ok=True)
        return os.path.join(self.figures_dir, name)

    def pick(self, real, quick):
        """`quick` in the smoke run, else `real`."""
        return quick if self.quick else real


def markdown_table(header, rows):
    """A Markdown table: a header row and rows of cells (str, with `|` escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += [
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def shown_char(char):
    """A character as a table or tick label shows it: space as ␣, newline as ⏎."""
    return {" ": "␣", "\n": "⏎"}.get(char, char)


def run_description(folder):
    """{preset, dataset, config} of a run folder (run.json) or a release preset (metadata.json
    and config.json), without loading the model."""
    if workdir_lib.is_preset(folder):
        descriptions = {}
        for name in (workdir_lib.PRESET_METADATA_FILE, workdir_lib.PRESET_CONFIG_FILE):
            with open(os.path.join(folder, name), encoding="utf-8") as file:
                descriptions[name] = json.load(file)
        metadata = descriptions[workdir_lib.PRESET_METADATA_FILE]
        return {
            "preset": metadata["preset"],
            "dataset": metadata["dataset"],
            "config": descriptions[workdir_lib.PRESET_CONFIG_FILE],
        }
    run = workdir_lib.load_run_description(folder)
    if run is None:
        raise UserError(f"No run or preset in {folder}: expected run.json or config.json there.")
    return run
