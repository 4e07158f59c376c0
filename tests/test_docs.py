"""The lab (docs/): every page links images that exist, shows commands that parse, has its
generated tables filled in and true to their sources, and its figure code runs end to end on
tiny models."""

import difflib
import itertools
import json
import os
import pathlib
import re
import shlex
import shutil

import numpy as np
import pytest
from PIL import Image

from kerasnlp_lab import cli
from kerasnlp_lab.data import catalog
from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import length_buckets, plots
from kerasnlp_lab.evaluation.transformer import FIXED_VERSE
from kerasnlp_lab.lab import autoencoder as autoencoder_page
from kerasnlp_lab.lab import (
    bahdanau_attention,
    bottleneck,
    figures,
    multi_head_attention,
    positional_encoding,
    subword_tokenization,
    wide_and_deep,
)
from kerasnlp_lab.lab import char_generator as char_page
from kerasnlp_lab.lab.context import Lab, markdown_table
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead
from kerasnlp_lab.models import (
    MODEL_NAMES,
    attention_nmt,
    autoencoder,
    char_generator,
    transformer,
)
from kerasnlp_lab.training import attention_nmt as attention_training
from kerasnlp_lab.training import char_generator as char_training
from kerasnlp_lab.training import transformer as transformer_training
from kerasnlp_lab.training import workdir as workdir_lib
from tests.data.test_translation_pipeline import write_toy_tsv
from tests.training.test_char_generator_training import write_corpus

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [DOCS / f"{page}.md" for page in figures.PAGES]
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)#]+\.md)\)")
GENERATED = re.compile(r"<!-- generated: (\w+) -->\n(.*?)<!-- generated: end -->", re.S)
FIGURE_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(((?:\.\./)*(?:docs/)?figures/[^)#]+\.png)\)")


def images(text):
    return IMAGE.findall(text)


def figure_links(text):
    """The figures a page links without showing them (to open at their own size)."""
    return FIGURE_LINK.findall(text)


def figure_files(text):
    """Every figure a page uses: shown inline or linked."""
    return images(text) + figure_links(text)


def commands(text):
    """Every `kerasnlp-lab ...` and `make ...` line of a page's code blocks and inline code."""
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    lines += re.findall(r"`((?:kerasnlp-lab|make) [^`]+)`", text)
    return [line for line in lines if line.startswith(("kerasnlp-lab ", "make "))]


def makefile_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", text, re.M))


def test_the_index_lists_every_page_in_reading_order():
    assert sorted(path.name for path in DOCS.glob("*.md")) == sorted(
        ["README.md", *(path.name for path in PAGES)]
    )
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert LINK.findall(index) == [path.name for path in PAGES]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    learn = readme[readme.index("## Learn") : readme.index("\n## ", readme.index("## Learn") + 1)]
    assert LINK.findall(learn) == ["docs/README.md", *(f"docs/{path.name}" for path in PAGES)]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_every_page_opens_with_its_title_and_navigation_line(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and lines[1] == "", page.name
    assert lines[2] == figures.navigation_line(page.stem), (
        f"{page.name}: run `kerasnlp-lab figures` (it rewrites every page's navigation line)"
    )
    assert figures.NAVIGATION.findall("\n".join(lines)) == [lines[2]], "one navigation line"


def test_the_navigation_lines_follow_the_reading_order():
    assert list(figures.TITLES) == list(figures.PAGES) and len(figures.PAGES) == 11
    assert figures.navigation_line("autoencoder") == (
        "_Lab page 1 of 11 · [index](README.md) · next: [The character generator]"
        "(char_generator.md)_"
    )
    assert figures.navigation_line("transformer_block") == (
        "_Lab page 9 of 11 · [index](README.md) · previous: [Multi-head attention]"
        "(multi_head_attention.md) · next: [Subword tokenization](subword_tokenization.md)_"
    )
    assert figures.navigation_line("beam_search") == (
        "_Lab page 11 of 11 · [index](README.md) · previous: [Subword tokenization]"
        "(subword_tokenization.md)_"
    )
    stale = "# T\n\n_Lab page 2 of 8 · [index](README.md)_\n\ntext _Lab page_\n"
    assert figures.replace_navigation(stale, "beam_search") == (
        f"# T\n\n{figures.navigation_line('beam_search')}\n\ntext _Lab page_\n"
    )
    with pytest.raises(UserError, match="Expected a line _Lab page ..._ on the page of x"):
        figures.replace_navigation("# T\n\ntext\n", "x")


def test_update_navigation_rewrites_every_stale_navigation_line(tmp_path):
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        stale = text.replace(figures.navigation_line(page.stem), "_Lab page 1 of 8_", 1)
        (tmp_path / page.name).write_text(stale, encoding="utf-8")
    figures.update_navigation(str(tmp_path))
    for page in PAGES:
        assert (tmp_path / page.name).read_text(encoding="utf-8") == page.read_text("utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_every_image_and_page_a_page_links_exists(page):
    text = page.read_text(encoding="utf-8")
    linked = images(text)
    assert linked, "every page shows at least one figure"
    for path in linked + LINK.findall(text):
        assert (page.parent / path).is_file(), path


def test_readme_figures_exist():
    for path in images((ROOT / "README.md").read_text(encoding="utf-8")):
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_every_command_a_page_shows_parses(page):
    text = page.read_text(encoding="utf-8")
    shown = commands(text)
    assert "## Reproduce" in text and any(line.startswith("kerasnlp-lab ") for line in shown)
    parser, targets = cli.build_parser(), makefile_targets()
    for line in shown:
        words = shlex.split(line)
        if words[0] == "make":
            assert set(words[1:]) <= targets, line
        else:
            parser.parse_args(words[1:])  # exits (SystemExit) on a bad command


def test_the_index_commands_are_make_targets():
    shown = commands((DOCS / "README.md").read_text(encoding="utf-8"))
    assert {"make figures", "make bottleneck"} <= set(shown)
    assert {"figures", "bottleneck"} <= makefile_targets()


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_generated_sections_are_filled(page):
    for name, body in GENERATED.findall(page.read_text(encoding="utf-8")):
        assert body.strip(), f"{page.name}: section {name} is empty: run `make figures`"


# Every generated section of docs/, and how a test ties its committed text to its source.
SECTION_SOURCES = {
    ("autoencoder", "denoising"): "release column without noise, captions: preset metadata; "
    "noisy inputs and release column: the test images (the denoising model is trained)",
    ("char_generator", "samples"): "only prompt and temperatures (sampling runs the model)",
    ("char_generator", "ngrams"): "regenerated from the char_generator preset's weights",
    ("wide_and_deep", "ablation"): "only its arithmetic and dataset (two trainings)",
    ("bottleneck", "bottleneck"): "regenerated from docs/bottleneck.json",
    ("bahdanau_attention", "verse"): "only against the reading table (the model translates)",
    ("bahdanau_attention", "reading"): "only its arithmetic (the model translates)",
    ("attention", "verse"): "only against the Bahdanau page's verse (the model translates)",
    ("positional_encoding", "offsets"): "regenerated from the Transformer preset's config.json",
    ("multi_head_attention", "heads"): "only its shape, from the Transformer preset's config",
    ("multi_head_attention", "timing"): "only its arithmetic and model sizes (timings)",
    ("transformer_block", "results"): "regenerated from docs/transformer_block.json "
    "(tests/lab/test_transformer_block.py)",
    ("subword_tokenization", "walkthrough"): "regenerated from docs/ and the Transformer "
    "preset's source vocabulary (tests/lab/test_subword_tokenization.py)",
    ("subword_tokenization", "experiment"): "regenerated from docs/vocabulary.json (same file)",
    ("subword_tokenization", "findings"): "regenerated from docs/vocabulary.json (same file)",
    ("beam_search", "nbest"): "regenerated from the Transformer preset "
    "(tests/lab/test_beam_search.py)",
    ("beam_search", "sentence"): "regenerated from the Transformer preset (same file)",
    ("beam_search", "corpus"): "regenerated from the Transformer preset (same file)",
    ("beam_search", "results"): "regenerated from docs/beam_search.json (same file)",
    ("beam_search", "findings"): "regenerated from docs/beam_search.json (same file)",
}
PRESETS_DIR = ROOT / "presets"
ROUND_OFF = re.compile(r"\d\.\de-\d\d")  # float64 round-off, as positional_encoding prints it


def committed_sections(page):
    """{section name: text} of a committed page, as `replace_section` wrote it."""
    text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    return {name: body.removesuffix("\n") for name, body in GENERATED.findall(text)}


def table_rows(text):
    """The cells of the body rows of the first Markdown table in `text` (as `markdown_table`
    writes them)."""
    lines = text.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("| "))
    table = list(itertools.takewhile(lambda line: line.startswith("| "), lines[first:]))
    return [line[2:-2].split(" | ") for line in table[2:]]


def assert_same_text(made, committed, where):
    """`made` == `committed`, or a failure that shows their line diff."""
    diff = difflib.unified_diff(
        committed.splitlines(), made.splitlines(), "committed", "regenerated", lineterm=""
    )
    assert made == committed, f"{where}: run `make figures`\n" + "\n".join(diff)


def preset_json(model, name):
    with open(PRESETS_DIR / model / name, encoding="utf-8") as file:
        return json.load(file)


@pytest.fixture
def sections_without_drawing(tmp_path, monkeypatch):
    """A function: the generated sections of a page made by its `make` from the release presets
    (and docs/bottleneck.json), with the named drawing functions of its module replaced by
    no-ops. Only for pages whose sections need neither training nor a model run."""

    def make(page, *drawing_functions):
        docs = tmp_path / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copy(DOCS / bottleneck.RESULTS_FILE, docs / bottleneck.RESULTS_FILE)
        module = figures.PAGES[page]
        for name in drawing_functions:
            monkeypatch.setattr(module, name, lambda *args, **kwargs: str(args[-1]))
        folders = {name: str(PRESETS_DIR / name) for name in MODEL_NAMES}
        _, sections = module.make(Lab(folders=folders, docs_dir=str(docs)))
        return sections

    return make


def test_every_generated_section_is_checked_against_its_source():
    found = {(page.stem, name) for page in PAGES for name in committed_sections(page.stem)}
    assert found == set(SECTION_SOURCES)


def test_the_bottleneck_tables_are_the_ones_its_json_gives(sections_without_drawing):
    made = sections_without_drawing("bottleneck", "plot")
    assert sorted(made) == ["bottleneck"]
    committed = committed_sections("bottleneck")["bottleneck"]
    assert_same_text(made["bottleneck"], committed, "docs/bottleneck.md")


def test_the_positional_encoding_table_is_the_one_the_transformer_config_gives(
    sections_without_drawing,
):
    made = sections_without_drawing("positional_encoding", "plot")["offsets"]
    committed = committed_sections("positional_encoding")["offsets"]
    # Exact but for the float64 round-off (it may differ in its last digit on another CPU).
    masked = [ROUND_OFF.sub("…", text) for text in (made, committed)]
    assert_same_text(*masked, "docs/positional_encoding.md")
    assert all(float(number) < 1e-12 for number in ROUND_OFF.findall(committed))
    config = preset_json("transformer_translator", "config.json")
    assert f"depth {config['model_dim']} (" in committed


def test_the_ngram_table_is_the_one_the_char_generator_weights_give(sections_without_drawing):
    # The table reads the wide path's weights; the samples (replaced here) run the model.
    made = sections_without_drawing("char_generator", "samples", "plot_ngrams")
    committed = committed_sections("char_generator")["ngrams"]
    assert_same_text(made["ngrams"], committed, "docs/char_generator.md")


def test_the_char_generator_samples_continue_the_prompt_at_each_temperature():
    blocks = committed_sections("char_generator")["samples"].split("\n\n")
    assert blocks[0::2] == [f"**Temperature {t}**" for t in char_page.TEMPERATURES]
    for block in blocks[1::2]:
        assert block.startswith(f"```\n{char_page.SAMPLE_PROMPT}") and block.endswith("```")


def denoising_table():
    text = committed_sections("autoencoder")["denoising"]
    return text, table_rows(text)


def test_the_denoising_table_agrees_with_the_autoencoder_preset():
    text, rows = denoising_table()
    metadata = preset_json("autoencoder", "metadata.json")
    config = preset_json("autoencoder", "config.json")
    subset = metadata["subset_metrics"]  # the first `limit` test images, as the table uses
    assert [row[0] for row in rows] == [str(std) for std in (0.0, *autoencoder_page.NOISE_STDS)]
    assert rows[0][1] == "∞"
    # The release model on clean images: the PSNR recorded on the same test images.
    assert rows[0][2] == f"{subset['psnr']:.2f}"
    assert all(len(row) == 4 for row in rows)
    caption = (
        f"first {subset['limit']:,} test images of {metadata['dataset']}, noise seed "
        f"{autoencoder_page.NOISE_SEED}. Release model: `{metadata['preset']}`, "
        f"{config['epochs']} epochs on clean images; denoising model: "
        f"`{autoencoder_page.DENOISER_PRESET}` trained {autoencoder_page.DENOISER_EPOCHS} epochs "
        f"with input noise {autoencoder_page.DENOISER_NOISE}."
    )
    assert caption in text


def test_the_denoising_table_agrees_with_the_test_images_and_the_release_model():
    """The noisy inputs' PSNR and the release model's column, recomputed (inference only; the
    denoising model's column needs its training). Rounding may differ in the last digit."""
    reason = catalog.missing_offline_message("local_fashion_mnist")
    if reason:
        pytest.skip(reason)
    _, rows = denoising_table()
    run, model = workdir_lib.load_run(str(PRESETS_DIR / "autoencoder"), "autoencoder")
    limit = preset_json("autoencoder", "metadata.json")["subset_metrics"]["limit"]
    test, _ = autoencoder_page.load_pixels(run["dataset"], "test", limit)
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    for row, std in zip(rows, (0.0, *autoencoder_page.NOISE_STDS), strict=True):
        noisy = autoencoder_page.add_noise(images, std) if std else images
        reconstructed = model.predict(noisy, batch_size=1024, verbose=0)
        if std:
            noisy_psnr = autoencoder_page.reconstruction_metrics(images, noisy)["psnr"]
            assert float(row[1]) == pytest.approx(noisy_psnr, abs=0.011), row
        release_psnr = autoencoder_page.reconstruction_metrics(images, reconstructed)["psnr"]
        assert float(row[2]) == pytest.approx(release_psnr, abs=0.011), row


def test_the_ablation_table_adds_up():
    text = committed_sections("wide_and_deep")["ablation"]
    rows = table_rows(text)
    steps = [int(row[0]) for row in rows]
    assert steps == [steps[0] * (index + 1) for index in range(len(rows))]
    for row in rows:
        wide, deep, difference = (float(cell) for cell in row[1:])
        assert difference == pytest.approx(deep - wide, abs=0.0011), row  # each rounded alone
    dataset = preset_json("char_generator", "metadata.json")["dataset"]
    assert f" on {dataset}, seed {wide_and_deep.SEED}:" in text


def test_the_reading_table_adds_up_and_spells_the_translation():
    rows = table_rows(committed_sections("bahdanau_attention")["reading"])
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        first, second = float(row[3]), float(row[5])
        assert 0.0 <= second <= first <= 1.0 and first + second <= 1.005, row
    generated = [row[1].strip("`") for row in rows]
    assert generated[-1] == "[END]"
    verse = committed_sections("bahdanau_attention")["verse"]
    translation = verse.split("Greedy translation: ", 1)[1]
    spelled = "".join(token.removeprefix("##") for token in generated[:-1])
    assert spelled == re.sub(r"\s+", "", translation)


def test_the_attention_verse_is_the_bahdanau_verse_and_its_tokens_spell_it():
    attention = committed_sections("attention")["verse"].split("\n\n")
    bahdanau = committed_sections("bahdanau_attention")["verse"].split("\n\n")
    assert attention[:2] == bahdanau[:2]  # the same source and reference: the first test pair
    assert attention[3].startswith("Source tokens: ")
    tokens = re.findall(r"`([^`]+)`", attention[3])
    assert (tokens[0], tokens[-1]) == ("[START]", "[END]")
    spelled = "".join(token.removeprefix("##") for token in tokens[1:-1])
    assert spelled == re.sub(r"\s+", "", attention[0].removeprefix("Source: ").lower())


def test_the_head_table_has_a_cell_per_head_of_the_transformer_preset():
    text = committed_sections("multi_head_attention")["heads"]
    config = preset_json("transformer_translator", "config.json")
    rows = table_rows(text)
    assert [row[0] for row in rows] == [f"layer {i + 1}" for i in range(config["num_layers"])]
    cell = re.compile(r"([+-]\d+): (\d\.\d\d), d (\d+\.\d)")
    limit = multi_head_attention.MAX_OFFSET
    for row in rows:
        assert len(row) == 1 + config["num_heads"]
        for offset, weight, _ in (cell.fullmatch(text).groups() for text in row[1:]):
            assert abs(int(offset)) <= limit and 0.0 <= float(weight) <= 1.0


def test_the_timing_table_speed_ups_are_its_times_ratios():
    text = committed_sections("multi_head_attention")["timing"]
    seconds = re.compile(r"(\d+\.\d{3}) s")
    for row in table_rows(text):
        for start in range(1, len(row), 3):
            uncached, cached = (
                float(seconds.fullmatch(c).group(1)) for c in row[start : start + 2]
            )
            speed_up = float(row[start + 2].removesuffix("×"))
            half = 0.0005  # each time is shown to the millisecond
            low, high = (uncached - half) / (cached + half), (uncached + half) / (cached - half)
            assert low - 0.05 <= speed_up <= high + 0.05, row
    match = re.search(r"random `(\w+)` model \((\d+) layers, d (\d+)\)", text)
    config = transformer.get_config(match.group(1))
    assert (int(match.group(2)), int(match.group(3))) == (config.num_layers, config.model_dim)


def test_every_figure_is_linked_and_all_stay_small():
    linked = {
        (page.parent / path).resolve()
        for page in [*PAGES, ROOT / "README.md", *sorted((DOCS / "guide").glob("*.md"))]
        for path in figure_files(page.read_text(encoding="utf-8"))
    }
    drawn = set((DOCS / "figures").glob("*.png"))
    assert {path.resolve() for path in drawn} <= linked
    assert sum(path.stat().st_size for path in drawn) < 3 * 2**20


def shown_text_pixels(points, dpi, width, page_width=plots.PAGE_WIDTH):
    """The height in screen pixels of `points`-point text of a PNG saved at `dpi` and `width`
    pixels wide, shown in a page column `page_width` pixels wide (never enlarged)."""
    return points * dpi / 72 * min(1.0, page_width / width)


def png_width_and_dpi(path):
    with Image.open(path) as image:
        return image.width, image.info["dpi"][0]


def test_every_figure_is_readable_at_page_width():
    """docs/README.md's rule: each PNG at plots.DPI, text of plots.MIN_FONT_POINTS or more
    (plots.save_figure refuses smaller), so 12.5 pixels at least; shown inline, a figure is
    at most plots.PAGE_WIDTH wide and is not shrunk; linked figures open at their own size."""
    shown = {
        (page.parent / path).resolve()
        for page in [*PAGES, ROOT / "README.md", *sorted((DOCS / "guide").glob("*.md"))]
        for path in images(page.read_text(encoding="utf-8"))
    }
    smallest = shown_text_pixels(plots.MIN_FONT_POINTS, plots.DPI, plots.PAGE_WIDTH)
    assert smallest == pytest.approx(12.5)
    for path in sorted((DOCS / "figures").glob("*.png")):
        width, dpi = png_width_and_dpi(path)
        assert dpi == pytest.approx(plots.DPI, abs=0.01), path.name
        if path.resolve() in shown:
            assert width <= plots.PAGE_WIDTH, f"{path.name} is {width} px wide: link it instead"
            pixels = shown_text_pixels(plots.MIN_FONT_POINTS, dpi, width)
        else:  # opened at its own size
            pixels = plots.MIN_FONT_POINTS * dpi / 72
        assert pixels >= smallest - 0.01, path.name


def test_shown_text_shrinks_with_wide_figures():
    assert shown_text_pixels(9, 100, 900) == pytest.approx(12.5)
    assert shown_text_pixels(9, 100, 600) == pytest.approx(12.5)  # narrower: not enlarged
    assert shown_text_pixels(6, 100, 2945) == pytest.approx(2.55, abs=0.01)  # the old grids


@pytest.mark.parametrize("page", [*PAGES, DOCS / "README.md"], ids=lambda path: path.stem)
def test_a_page_links_only_figures_that_exist(page):
    for path in figure_files(page.read_text(encoding="utf-8")):
        assert (page.parent / path).is_file(), f"{page.name} links {path}, which is missing"


def test_every_figure_is_used_by_a_page_of_docs():
    used = {
        (page.parent / path).resolve()
        for page in sorted(DOCS.rglob("*.md"))
        for path in figure_files(page.read_text(encoding="utf-8"))
    }
    unused = [
        path.name for path in sorted((DOCS / "figures").glob("*.png")) if path.resolve() not in used
    ]
    assert not unused, f"figures no page of docs/ shows or links: {unused}"


EXERCISE = re.compile(r"^\*\*(\d+)\. ", re.M)
ANSWER = re.compile(r"<details>\s*<summary>Answer</summary>\n(.*?)</details>", re.S)


def exercises(text):
    """The text of each exercise of a page's last section, `## Exercises`."""
    section = text[text.index("\n## Exercises\n") :]
    starts = [match.start() for match in EXERCISE.finditer(section)] + [len(section)]
    return [section[start:end] for start, end in itertools.pairwise(starts)]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_every_page_ends_with_exercises_answered_in_a_fold(page):
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"^## (.+)$", text, re.M)[-1] == "Exercises"
    found = exercises(text)
    assert 2 <= len(found) <= 4, f"{page.name}: {len(found)} exercises"
    for number, exercise in enumerate(found, start=1):
        assert exercise.startswith(f"**{number}. "), exercise[:40]
        assert any(line.startswith("kerasnlp-lab ") for line in commands(exercise)), exercise[:60]
        answers = ANSWER.findall(exercise)
        assert len(answers) == 1 and answers[0].strip(), f"{page.name}, exercise {number}"


@pytest.mark.parametrize("page", [*PAGES, DOCS / "README.md"], ids=lambda path: path.stem)
def test_the_command_check_reads_every_code_block_and_fold(page):
    """Code blocks open with a bare fence (the pattern `commands` reads), so the commands
    in exercises and in their answer folds are parsed by the test above too."""
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"^[ \t]*```(\S+)", text, re.M) == [], "a fence with a language tag"
    shown = commands(text)
    for fold in ANSWER.findall(text):
        assert set(commands(fold)) <= set(shown)


def test_evaluate_draws_the_verse_the_pages_read():
    verse = committed_sections("bahdanau_attention")["verse"].split("\n\n")[0]
    assert verse == f"Source: {FIXED_VERSE}"


def test_replace_section():
    text = "a\n<!-- generated: x -->\nold\n<!-- generated: end -->\nb\n"
    assert figures.replace_section(text, "x", "new | 1") == (
        "a\n<!-- generated: x -->\nnew | 1\n<!-- generated: end -->\nb\n"
    )
    with pytest.raises(UserError, match="Expected a section <!-- generated: y -->"):
        figures.replace_section(text, "y", "new")


def test_unknown_pages_are_refused():
    with pytest.raises(UserError, match="Unknown pages nope: expected some of autoencoder,"):
        figures.make_figures(pages=["nope"])


def test_markdown_table_escapes_pipes():
    assert markdown_table(("a", "b"), [(1, "x|y")]) == "| a | b |\n| --- | --- |\n| 1 | x\\|y |"


def test_an_offset_is_one_rotation_for_every_position():
    table = positional_encoding.sinusoid_table(64, 16)
    errors = positional_encoding.offset_errors(table, (1, 7, 63, 64))
    assert set(errors) == {1, 7, 63} and max(errors.values()) < 1e-12
    similarity = table @ table.T
    assert positional_encoding.diagonal_spread(similarity) < 1e-12
    assert np.allclose(np.diag(similarity), 8.0)  # depth / 2
    rotation = positional_encoding.offset_matrix(3, 16)
    assert np.allclose(rotation @ rotation.T, np.eye(16))


def test_the_wide_path_reads_as_bigrams_and_trigrams():
    chars = ["", "", "a", "b", "c"]  # ids 0 and 1 reserved
    head = WideAndDeepHead(units=5, num_ids=5, num_hash_bins=32, deep_units=())
    head.build((None, 4), (None, 2))
    unigram = np.zeros((10, 5), "float32")
    unigram[2, 3] = 2.0  # current a -> next b
    unigram[0, 4] = 9.0  # padding row: never read
    cross = np.zeros((32, 5), "float32")
    cross[(4 * 5 + 3) % 32, 2] = 3.0  # previous b, current c -> next a
    head.unigram_table.assign(unigram)
    head.cross_table.assign(cross)
    ngrams = char_page.wide_ngrams(head, chars, count=2)
    assert ngrams["bigrams"][0] == ("a", "b", 2.0)
    assert ngrams["trigrams"][0] == ("bc", "a", 3.0)


def test_reading_an_alignment():
    weights = np.array([[0.1, 0.7, 0.2], [0.5, 0.0, 0.5]], "float32")
    table = bahdanau_attention.reading(weights, ["[START]", "perro", "[END]"], ["dog", "[END]"])
    assert table.splitlines()[2:] == [
        "| 1 | `dog` | `perro` | 0.70 | `[END]` | 0.20 |",
        "| 2 | `[END]` | `[START]` | 0.50 | `[END]` | 0.50 |",
    ]


def save_untrained(workdir, model_module, config, dataset, build):
    """A run folder holding an untrained model of `config` (build: () -> compiled model)."""
    workdir_lib.save_run_description(
        workdir,
        model_name=model_module.MODEL_NAME,
        preset="tiny",
        dataset=dataset,
        config=config,
        seed=0,
    )
    workdir_lib.save_model(workdir, build())
    return workdir


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """{model: run folder} of untrained tiny models over toy data (images: Fashion-MNIST)."""
    reason = catalog.missing_offline_message("local_fashion_mnist")
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("tiny")
    pairs = write_toy_tsv(root / "toy.tsv", count=400)
    text = write_corpus(root / "words.txt")
    folders = {}
    config = autoencoder.get_config("tiny")
    folders["autoencoder"] = save_untrained(
        str(root / "autoencoder"),
        autoencoder,
        config,
        "local_fashion_mnist",
        lambda: autoencoder.build_autoencoder(config),
    )
    for module, training in (
        (attention_nmt, attention_training),
        (transformer, transformer_training),
    ):
        config = module.get_config("tiny")
        workdir = str(root / module.MODEL_NAME)
        vectorizers = pipeline.learn_vectorizers(
            pipeline.load_pairs(pairs, "train"),
            config.source_vocab_size,
            config.target_vocab_size,
            config.tokenizer,
        )
        pipeline.save_vectorizers(workdir, *vectorizers)
        folders[module.MODEL_NAME] = save_untrained(
            workdir,
            module,
            config,
            pairs,
            lambda config=config, training=training, workdir=workdir: training.build_for_run(
                config, workdir
            ),
        )
    config = char_generator.get_config("tiny")
    workdir = str(root / "char_generator")
    vocabulary = char_training.build_vocabulary(char_training.read_text(text, "train"), 40)
    os.makedirs(workdir)
    vocabulary.save(char_training.vocabulary_path(workdir))
    folders["char_generator"] = save_untrained(
        workdir,
        char_generator,
        config,
        text,
        lambda: char_training.build_for_run(config, workdir),
    )
    return folders


def test_the_figure_code_draws_every_page_on_tiny_models(tiny_folders, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in PAGES:
        shutil.copy(page, docs / page.name)
    for name in subword_tokenization.DATA_FILES:
        shutil.copy(DOCS / name, docs / name)
    result = length_buckets.evaluate("attention_nmt", tiny_folders["attention_nmt"], limit=20)
    assert result["label"] == "attention_nmt/bahdanau"
    assert sum(bucket["pairs"] for bucket in result["buckets"]) == result["test_pairs"] > 0
    length_buckets.write_result(result, str(docs / "bottleneck.json"))

    made = figures.make_figures(docs_dir=str(docs), folders=tiny_folders, quick=True)

    assert list(made) == list(figures.PAGES)
    for page in PAGES:
        text = (docs / page.name).read_text(encoding="utf-8")
        linked = {str(docs / path) for path in figure_files(text)}
        assert linked == set(made[page.stem]), page.name
        for path in linked:
            with open(path, "rb") as file:
                assert file.read(8) == b"\x89PNG\r\n\x1a\n"
        sections = GENERATED.findall(text)
        assert all(body.strip() for _, body in sections), page.name
    bottleneck = (docs / "bottleneck.md").read_text(encoding="utf-8")
    assert (
        "| source words | test pairs | GRU + additive attention, Bahdanau's order (words) |"
        in bottleneck
    )
    samples = (docs / "char_generator.md").read_text(encoding="utf-8")
    assert all(f"**Temperature {t}**" in samples for t in char_page.TEMPERATURES)
