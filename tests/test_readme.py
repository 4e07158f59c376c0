"""README.md and the guide (docs/guide/): the generated sections match the code, wherever they
live; the README stays short and links every guide page; every relative link resolves; every
command shown parses; and the code map covers the package."""

import dataclasses
import pathlib
import re
import shlex

import pytest

from kerasnlp_lab import readme
from kerasnlp_lab.serving import limits
from tests.test_imports import LEVELS

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide"
MAX_README_LINES = 250
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
URL = re.compile(r"[a-z][a-z0-9+.-]*:")  # https:, mailto:, ...
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*(\.\.\.)?")  # MODEL, N, INPUT...


def documents():
    """README.md and every guide page: the files `python -m kerasnlp_lab.readme` rewrites."""
    return [pathlib.Path(path) for path in readme.documents(str(ROOT))]


def test_the_documents_are_the_readme_and_every_guide_page():
    assert documents() == [README, *sorted(GUIDE.glob("*.md"))]


def test_every_generated_section_is_in_one_document_and_up_to_date():
    texts = {path: path.read_text(encoding="utf-8") for path in documents()}
    for name, render in readme.SECTIONS.items():
        holders = [path for path, text in texts.items() if readme.section_of(text, name)]
        assert len(holders) == 1, (
            f"section {name!r} is in {[str(path) for path in holders]}: expected exactly one of "
            f"README.md and docs/guide/*.md"
        )
        assert readme.section_of(texts[holders[0]], name) == render(), (
            f"{holders[0].relative_to(ROOT)}: section {name!r} is stale: run `make readme`"
        )


def page_with(tmp_path, name, *sections):
    """A Markdown file `name` under tmp_path holding the named sections, each with old text."""
    lines = []
    for section in sections:
        begin, end = readme._markers(section)
        lines += ["text", begin, "old", end]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_update_all_rewrites_each_section_in_the_file_that_holds_it(tmp_path, monkeypatch):
    monkeypatch.setattr(readme, "SECTIONS", {"a": lambda: "new a", "b": lambda: "new b"})
    first, second = page_with(tmp_path, "one.md", "a"), page_with(tmp_path, "two.md", "b")
    assert readme.locate([first, second]) == {"a": first, "b": second}
    assert readme.update_all([first, second]) == [first, second]
    assert readme.section_of(pathlib.Path(first).read_text(encoding="utf-8"), "a") == "new a"
    assert readme.section_of(pathlib.Path(second).read_text(encoding="utf-8"), "b") == "new b"
    assert readme.update_all([first, second]) == []


def test_a_section_in_no_document_or_in_two_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(readme, "SECTIONS", {"a": lambda: "new a", "b": lambda: "new b"})
    first = page_with(tmp_path, "one.md", "a")
    with pytest.raises(SystemExit, match="Expected the 'b' section .* in exactly one file"):
        readme.locate([first])
    second = page_with(tmp_path, "two.md", "a", "b")
    with pytest.raises(SystemExit, match=re.escape(f"found it in {first}, {second}")):
        readme.locate([first, second])
    monkeypatch.chdir(tmp_path)  # the default DOCUMENTS: README.md and docs/guide/*.md
    with pytest.raises(SystemExit, match="Expected the 'a' section"):
        readme.update_all()


def test_the_training_cell_adds_a_fine_tuned_presets_first_training():
    training = {
        "epochs": 40,
        "steps": 8000,
        "kept_weights": {"final_epoch": 40},
        "wall_time_minutes": 25.4,
    }
    machine = {"cpu_count": 2, "gpus": 0}
    assert readme.training_cell(training, machine) == (
        "40 epochs, 8,000 steps, epoch 40; 25 min on 2 CPU cores"
    )
    training["fine_tuned_from"] = {"preset": "presets/x", "epochs": 20, "wall_time_minutes": 24.5}
    assert readme.training_cell(training, machine) == (
        "40 epochs, 8,000 steps, epoch 40; 24 + 25 min (fine-tuned from epoch 20) on 2 CPU cores"
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


def test_every_serving_limit_has_one_text_for_serve_help_and_the_limits_table():
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
    code_map = (GUIDE / "code_map.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`kerasnlp_lab/(\w+)", code_map))
    assert named == set(LEVELS)


def relative_links(text):
    return [target for target in LINK.findall(text) if not URL.match(target)]


def test_the_readme_is_short_and_links_every_guide_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(text)}
    guide = {path.resolve() for path in GUIDE.iterdir() if path.is_file()}
    assert guide and guide <= linked, sorted(str(path) for path in guide - linked)
    for name in ("make demo", "make test"):
        assert name in text


def anchors(page):
    """The anchors GitHub gives the headings of a Markdown page (code blocks left out)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6} +(.+?) *$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", documents(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file(page):
    for target in relative_links(page.read_text(encoding="utf-8")):
        path, _, anchor = target.partition("#")
        linked = page.parent / path if path else page
        assert linked.exists(), f"{target} ({linked.resolve()} does not exist)"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{target}: no heading gives #{anchor}"


def shown_commands(text):
    """Every `kerasnlp-lab ...` and `make ...` line of a page's code blocks and inline code,
    outside the generated sections (the CLI reference shows usage lines, not commands)."""
    for name in readme.SECTIONS:
        body = readme.section_of(text, name)
        if body:
            text = text.replace(body, "")
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    lines += [
        " ".join(code.split()) for code in re.findall(r"`((?:kerasnlp-lab|make)\s[^`]+)`", text)
    ]
    return [line for line in lines if line.startswith(("kerasnlp-lab ", "make "))]


def makefile_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", text, re.M))


@pytest.mark.parametrize("page", documents(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_command_a_page_shows_parses(page):
    """Commands parse with the CLI's parser and name Makefile targets; a synopsis line (with
    placeholders such as MODEL or [--flag]) names a command and only flags of that command."""
    parser, targets = readme.build_parser(), makefile_targets()
    subcommands = dict(readme._subcommands(parser))
    for line in shown_commands(page.read_text(encoding="utf-8")):
        words = shlex.split(line, comments=True)
        if words[0] == "make":
            assert set(words[1:]) <= targets, line
        elif any(PLACEHOLDER.fullmatch(word) or word.startswith("[") for word in words):
            # `kerasnlp-lab data prepare NAME | data show NAME`: one synopsis per command
            for synopsis in " ".join(words[1:]).split(" | "):
                name = " ".join(synopsis.split()[:2])
                name = name if name in subcommands else synopsis.split()[0]
                assert name in subcommands, line
                actions = subcommands[name]._actions
                flags = {flag for action in actions for flag in action.option_strings}
                assert set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", synopsis)) <= flags, line
        else:
            parser.parse_args(words[1:])  # exits (SystemExit) on a bad command
