"""docs/subword_tokenization.md: the greedy longest-match trace, the tables drawn from
docs/vocabulary.json, and the committed page regenerated from its data files."""

import filecmp
import json
import pathlib
import re
import shutil

import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.lab import subword_tokenization as page
from kerasnlp_lab.lab.context import Lab
from kerasnlp_lab.text.vectorizer import RESERVED_TOKENS, WordVectorizer
from kerasnlp_lab.text.wordpiece import WordPieceVectorizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED = re.compile(r"<!-- generated: (\w+) -->\n(.*?)\n<!-- generated: end -->", re.S)
TOY = ["[PAD]", "[UNK]", "[START]", "[END]", "cre", "##ó", "##o", "c", "##r", "dios", "."]


def test_greedy_steps_keep_the_longest_piece_at_each_position():
    pieces = set(TOY)
    assert page.greedy_steps("creó", pieces) == (
        ["cre", "##ó"],
        [(0, ["creó", "cre"], "cre"), (3, ["##ó"], "##ó")],
    )
    # Candidates are at most 7 characters long: the longest token, "[START]", as our
    # tokenizer counts it (no piece of TOY is as long).
    tokens, steps = page.greedy_steps("croooooo", pieces)
    assert tokens == ["c", "##r", *["##o"] * 6]
    assert steps[0] == (0, ["crooooo", "croooo", "crooo", "croo", "cro", "cr", "c"], "c")
    assert steps[2] == (2, ["##oooooo", "##ooooo", "##oooo", "##ooo", "##oo", "##o"], "##o")
    assert len(steps) == 8


def test_a_word_with_an_uncovered_position_is_one_unknown():
    pieces = set(TOY)
    assert page.greedy_steps("crx", pieces) == (
        ["[UNK]"],
        [(0, ["crx", "cr", "c"], "c"), (1, ["##rx", "##r"], "##r"), (2, ["##x"], None)],
    )
    assert page.greedy_steps("c" * 101, pieces) == (["[UNK]"], [])  # over 100 bytes


def test_the_trace_must_give_our_tokenizers_pieces(monkeypatch):
    vectorizer = WordPieceVectorizer(TOY)
    traced = page.traced_words("Creó dios crx.", vectorizer)
    assert [(word, tokens) for word, tokens, _ in traced] == [
        ("creó", ["cre", "##ó"]),
        ("dios", ["dios"]),
        ("crx", ["[UNK]"]),
        (".", ["."]),
    ]

    def shortest_first(word, pieces):
        return [word[0], *(f"##{char}" for char in word[1:])], []

    monkeypatch.setattr(page, "greedy_steps", shortest_first)
    with pytest.raises(ValueError, match=r"our tokenizer's \['cre', '##ó'\]; received"):
        page.traced_words("creó", vectorizer)


def test_the_steps_table_shows_every_step_of_words_that_take_more_than_one():
    traced = page.traced_words("Creó dios crx", WordPieceVectorizer(TOY))
    assert page.steps_table(traced).splitlines()[2:] == [
        "| `creó` | 1 | `creó` | `creó` ✗ `cre` ✓ | `cre` |",
        "| `creó` | 2 | `##ó` | `##ó` ✓ | `##ó` |",
        "| `crx` | 1 | `crx` | `crx` ✗ `cr` ✗ `c` ✓ | `c` |",
        "| `crx` | 2 | `##rx` | `##rx` ✗ `##r` ✓ | `##r` |",
        "| `crx` | 3 | `##x` | `##x` ✗ | none: the whole word is `[UNK]` |",
    ]


def test_the_walkthrough_compares_words_and_pieces():
    words = WordVectorizer([*RESERVED_TOKENS, "dios", "crió"])
    text = page.walkthrough(WordPieceVectorizer(TOY), words, verse="Creó Dios.", unknown_word="x")
    assert text.split("\n\n")[:4] == [
        "Verse: Creó Dios.",
        "Words (6-word source vocabulary): `[UNK]` `dios` `[UNK]`; the corpus spelling `crió`: "
        "`crió`",
        "WordPiece (11 pieces): `cre` `##ó` `dios` `.`; the corpus spelling `crió`: `[UNK]`",
        "Whole words at the first step: `dios` `.`. Every step of the other words, and of `x` "
        "(`[UNK]`):",
    ]


def run(name, tokenizer, sizes, beam, greedy, source_counts, target_counts):
    """A run of docs/vocabulary.json with the fields the page reads."""

    def side(words, unseen, tokens, unknown, split, mean):
        return {
            "sentences": 10,
            "words": words,
            "unseen_words": unseen,
            "tokens": tokens,
            "unknown_words": unknown,
            "split_words": split,
            "tokens_per_sentence": {
                "mean": mean,
                "p5": 2,
                "p25": 5,
                "p50": 9,
                "p75": 12,
                "p95": 20,
                "max": 31,
            },
            "length_limit": 128,
            "over_length_limit": 0,
        }

    return {
        "run": name,
        "tokenizer": tokenizer,
        "vocabulary_sizes": sizes,
        "epochs": 3,
        "test_pairs": 10,
        "beam": {"bleu": beam, "chrf": 40.0, "seconds": 50.0 + beam},
        "greedy": {"bleu": greedy, "chrf": 38.0, "seconds": 12.0},
        "repetitive_outputs": {"greedy": 2, "beam": 1, "references": 0},
        "source_tokens_per_sentence": source_counts[2] / 10,
        "target_tokens_per_sentence": target_counts[2] / 10,
        "source_unknown_word_rate": source_counts[3] / source_counts[0],
        "tokenization": {"source": side(*source_counts), "target": side(*target_counts)},
    }


# Per side: (words, unseen, tokens, unknown, split, mean tokens per verse) of 10 verses.
WORDS = run(
    "words",
    "words",
    [12_000, 8_000],
    14.45,
    12.22,
    (100, 2, 100, 4, 0, 10.0),
    (120, 1, 120, 2, 0, 12.0),
)
PIECES = run(
    "wordpiece_2000",
    "wordpiece",
    [1_960, 1_959],
    16.0,
    13.0,
    (100, 2, 150, 0, 30, 15.0),
    (120, 1, 144, 0, 20, 14.4),
)
RESULTS = {"runs": [WORDS, PIECES]}  # fmt: skip


def test_the_tokenization_table_and_the_findings_compare_each_run_with_words():
    assert page.tokenization_table(RESULTS).splitlines()[2:] == [
        "| words (12,000 / 8,000) | 4.00% / 1.67% | 1.000 / 1.000 | 0.00% / 0.00% "
        "| 10.0, 9 (2–20), 31 | 12.0, 9 (2–20), 31 | 0 / 0 |",
        "| wordpiece_2000 (1,960 / 1,959) | 0.00% / 0.00% | 1.500 / 1.200 | 30.00% / 16.67% "
        "| 15.0, 9 (2–20), 31 | 14.4, 9 (2–20), 31 | 0 / 0 |",
    ]
    assert page.findings(RESULTS) == (
        "- wordpiece_2000 (1,960 / 1,959): beam BLEU 16.00 (+1.55 against words), greedy "
        "13.00 (+0.78); words -> [UNK]: source 0.00% (words: 4.00%), target 0.00% (words: "
        "1.67%); mean tokens per verse +50% (source) and +20% (target); beam search over the "
        "test split 66 s (words: 64 s).\n\nHighest beam BLEU: wordpiece_2000 (1,960 / 1,959), "
        "16.00."
    )
    words_only = {"runs": [WORDS]}
    assert page.findings(words_only).startswith(
        "`docs/vocabulary.json` holds words so far: the comparison needs the words run and at "
        "least one WordPiece run"
    )
    assert "2.00% of the source side's and 0.83% of the target side's test words never" in (
        page.experiment_section(RESULTS)
    )


def test_a_docs_folder_without_runs_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"No runs in .*vocabulary.json: run `make vocabulary`"):
        page.read_results(str(tmp_path))


def test_the_pages_vocabulary_is_the_one_the_wordpiece_tests_check():
    kept = ROOT / "tests" / "text" / "data" / "source_vocabulary.json"
    assert filecmp.cmp(DOCS / page.VOCABULARY_FILE, kept, shallow=False)


def test_the_committed_page_is_what_its_data_files_give(tmp_path, monkeypatch):
    """The generated sections of docs/subword_tokenization.md, regenerated from the committed
    docs/vocabulary.json and the two vocabularies in docs/."""
    for name in page.DATA_FILES:
        shutil.copy(DOCS / name, tmp_path / name)
    monkeypatch.setattr(page, "plot", lambda results, path: path)
    _, sections = page.make(Lab(folders={}, docs_dir=str(tmp_path)))
    committed = dict(GENERATED.findall((DOCS / "subword_tokenization.md").read_text("utf-8")))
    assert sections == committed
    runs = json.loads((DOCS / "vocabulary.json").read_text("utf-8"))["runs"]
    assert all(f"| {run['run']} (" in committed["experiment"] for run in runs)
