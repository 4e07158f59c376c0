"""The README's generated sections match the code, and its code map covers the package."""

import dataclasses
import pathlib
import re

from kerasnlp_lab import readme
from kerasnlp_lab.serving import limits
from tests.test_imports import LEVELS

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_generated_sections_are_up_to_date():
    text = README.read_text(encoding="utf-8")
    for name, render in readme.SECTIONS.items():
        assert readme.section_of(text, name) == render(), (
            f"README section {name!r} is stale: run `python -m kerasnlp_lab.readme README.md`"
        )


def test_the_cli_reference_lists_every_flag_of_every_command():
    reference = readme.cli_reference()
    for flag in (
        "--resume",
        "--seed",
        "--signature",
        "--model-config-file",
        "--poll-seconds",
        "--max-request-bytes",
        "--num-chars",
        "--temperature",
        "--limit",
        "--presets",
    ):
        assert flag in reference


def test_every_serving_limit_has_one_text_for_serve_help_and_the_readme():
    named = [name for limit in limits.LIMITS for name in limit.flags]
    assert sorted(named) == sorted(field.name for field in dataclasses.fields(limits.ServingLimits))
    serve = dict(readme._subcommands(readme.build_parser()))["serve"]
    helps = {action.dest: action.help for action in serve._actions}
    table = readme.serving_limits()
    for limit in limits.LIMITS:
        assert f"| {limit.name} |" in table
        for name, text in limit.flags.items():
            assert helps[name].startswith(text) and text in table


def test_the_code_map_names_every_part_of_the_package():
    text = README.read_text(encoding="utf-8")
    code_map = text[text.index("## Code map") :]
    code_map = code_map[: code_map.index("\n## ", 1)]
    named = set(re.findall(r"`kerasnlp_lab/(\w+)", code_map))
    assert named == set(LEVELS)
