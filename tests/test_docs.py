"""The lab (docs/): every page links images that exist, shows commands that parse, has its
generated tables filled in, and its figure code runs end to end on tiny models."""

import os
import pathlib
import re
import shlex
import shutil

import numpy as np
import pytest

from kerasnlp_lab import cli
from kerasnlp_lab.data import catalog
from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import length_buckets
from kerasnlp_lab.lab import bahdanau_attention, figures, positional_encoding
from kerasnlp_lab.lab import char_generator as char_page
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead
from kerasnlp_lab.models import attention_nmt, autoencoder, char_generator, transformer
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


def images(text):
    return IMAGE.findall(text)


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


def test_every_figure_is_linked_and_all_stay_small():
    linked = {
        (page.parent / path).resolve()
        for page in [*PAGES, ROOT / "README.md"]
        for path in images(page.read_text(encoding="utf-8"))
    }
    drawn = set((DOCS / "figures").glob("*.png"))
    assert {path.resolve() for path in drawn} <= linked
    assert sum(path.stat().st_size for path in drawn) < 3 * 2**20


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
    result = length_buckets.evaluate("attention_nmt", tiny_folders["attention_nmt"], limit=20)
    assert result["label"] == "attention_nmt/bahdanau"
    assert sum(bucket["pairs"] for bucket in result["buckets"]) == result["test_pairs"] > 0
    length_buckets.write_result(result, str(docs / "bottleneck.json"))

    made = figures.make_figures(docs_dir=str(docs), folders=tiny_folders, quick=True)

    assert list(made) == list(figures.PAGES)
    for page in PAGES:
        text = (docs / page.name).read_text(encoding="utf-8")
        linked = {str(docs / path) for path in images(text)}
        assert linked == set(made[page.stem]), page.name
        for path in linked:
            with open(path, "rb") as file:
                assert file.read(8) == b"\x89PNG\r\n\x1a\n"
        sections = GENERATED.findall(text)
        assert all(body.strip() for _, body in sections), page.name
    bottleneck = (docs / "bottleneck.md").read_text(encoding="utf-8")
    assert "| source words | test pairs | GRU encoder-decoder + Bahdanau attention |" in bottleneck
    samples = (docs / "char_generator.md").read_text(encoding="utf-8")
    assert all(f"**Temperature {t}**" in samples for t in char_page.TEMPERATURES)
