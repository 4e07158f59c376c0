"""docs/beam_search.md: BLEU worked by hand against sacreBLEU, the experiment's grid and
command, the n-best of a tiny model, and the committed page regenerated from its sources."""

import json
import math
import pathlib
import re
import shlex

import pytest
import tensorflow as tf
from sacrebleu.metrics import BLEU

from kerasnlp_lab import cli
from kerasnlp_lab.decoding.translation import translate
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.translator import trim_padding
from kerasnlp_lab.lab import beam_search as page
from kerasnlp_lab.lab.context import Lab
from kerasnlp_lab.models import transformer
from tests.export.test_transformer_export import make_serving

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PRESET = ROOT / "presets" / transformer.MODEL_NAME
GENERATED = re.compile(r"<!-- generated: (\w+) -->\n(.*?)\n<!-- generated: end -->", re.S)

# (hypothesis, reference): exact, clipped repeats, no 3- or 4-gram match (smoothed), no match
# at all, shorter than 4 tokens (no 4-grams), shorter than the reference (brevity penalty),
# empty, punctuation and a number that 13a splits or keeps, trailing spaces.
PAIRS = [
    ("In the beginning God created the heavens.", "In the beginning God created the heavens."),
    ("the the the the", "the cat sat on the mat"),
    ("He said these things to understand what death was to die.",
     "But he said this, signifying by what kind of death he should die."),
    ("Nothing here matches.", "In the beginning God created the heavens."),
    ("God created", "In the beginning God created the heavens."),
    ("God created the heavens and", "In the beginning God created the heavens and the earth."),
    ("", "A reference."),
    ("They were 3.5 cubits, (long); \"said\" he.", "They were 3.5 cubits long, he said."),
    ("And it was so.  ", "And it was so."),
]  # fmt: skip


@pytest.mark.parametrize("hypothesis, reference", PAIRS)
def test_our_sentence_bleu_is_sacrebleus(hypothesis, reference):
    ours = page.sentence_bleu(hypothesis, reference)
    theirs = BLEU().sentence_score(hypothesis, [reference])
    assert ours["score"] == pytest.approx(theirs.score, abs=1e-9)
    assert ours["precisions"] == pytest.approx(theirs.precisions, abs=1e-9)
    assert ours["brevity_penalty"] == pytest.approx(theirs.bp, abs=1e-12)
    counts = page.sentence_statistics(hypothesis, reference)
    assert (counts["hypothesis_length"], counts["reference_length"]) == (
        theirs.sys_len,
        theirs.ref_len,
    )
    assert (counts["matches"], counts["totals"]) == (theirs.counts, theirs.totals)


def test_our_corpus_bleu_sums_the_counts_as_sacrebleu_does():
    hypotheses = [hypothesis for hypothesis, _ in PAIRS]
    references = [reference for _, reference in PAIRS]
    total = page.add_statistics(
        [page.sentence_statistics(h, r) for h, r in zip(hypotheses, references, strict=True)]
    )
    ours = page.bleu_from_statistics(total)
    theirs = BLEU().corpus_score(hypotheses, [references])
    assert ours["score"] == pytest.approx(theirs.score, abs=1e-9)
    assert ours["precisions"] == pytest.approx(theirs.precisions, abs=1e-9)
    assert ours["brevity_penalty"] == pytest.approx(theirs.bp, abs=1e-12)


def test_bleu_counts_by_hand():
    assert page.clipped_matches(["the"] * 4, ["the", "cat", "sat", "on", "the", "mat"], 1) == {
        ("the",): (4, 2)  # four times in the hypothesis, matched only as often as the reference
    }
    counts = page.sentence_statistics("God created", "In the beginning God created the heavens.")
    assert counts == {
        "hypothesis_length": 2,
        "reference_length": 8,
        "matches": [2, 1, 0, 0],
        "totals": [2, 1, 0, 0],
    }
    result = page.bleu_from_statistics(counts)
    assert result["precisions"] == [100.0, 100.0, 0.0, 0.0]  # no trigrams: the score is 0
    assert result["score"] == 0.0
    assert result["brevity_penalty"] == pytest.approx(math.exp(1 - 8 / 2))
    smoothed = page.bleu_from_statistics(
        {"hypothesis_length": 9, "reference_length": 9, "matches": [6, 2, 0, 0],
         "totals": [9, 8, 7, 6]}
    )  # fmt: skip
    # The first order without a match gets 100 / (2 · 7), the second 100 / (4 · 6).
    assert smoothed["precisions"] == pytest.approx([600 / 9, 25.0, 100 / 14, 100 / 24])
    assert smoothed["score"] == pytest.approx(
        math.exp(sum(math.log(p) for p in smoothed["precisions"]) / 4)
    )
    assert page.brevity_penalty(10, 12) == pytest.approx(math.exp(1 - 12 / 10))
    assert page.brevity_penalty(12, 10) == 1.0 and page.brevity_penalty(0, 5) == 0.0


def test_the_sentence_and_corpus_sections_show_the_arithmetic():
    hypothesis, reference = PAIRS[2]
    section = page.sentence_section(hypothesis, reference)
    assert "| 1 | 12 | 5 | `said`, `what`, `death`, `die`, `.` | 41.67 |" in section
    assert "| 3 | 10 | 0 | none | 5.00 = 100 / (2^1 · 10) (no match: smoothed) |" in section
    assert "c = 12 < r = 15: BP = exp(1 − 15/12) = 0.7788" in section
    assert "BLEU = BP · mean = 6.6327 (ours); sacreBLEU's `BLEU().sentence_score`: 6.6327." in (
        section
    )
    corpus = page.corpus_section(*zip(*PAIRS[1:3], strict=True))
    # "the the the the" scores 11.52: one clipped match and smoothing, on 4 tokens.
    assert "| 1 | 4 | 6 | 2/4 | 0/3 | 0/2 | 0/1 | 11.52 |" in corpus
    assert "| sum | 16 | 21 | 7/16 | 1/14 | 0/12 | 0/10 | **5.53** |" in corpus
    assert "The mean of the sentence BLEUs is 9.0772." in corpus


def test_the_grid_each_beam_size_at_the_models_alpha_then_each_alpha():
    assert page.settings(page.BEAM_SIZES, page.ALPHAS, 1.0) == [
        (1, None),
        (2, 1.0),
        (4, 1.0),
        (8, 1.0),
        (4, 0.0),
        (4, 0.6),
        (4, 1.5),
    ]
    assert page.settings((1, 2), (0.0, 0.5), 0.5, alpha_beam_size=2) == [
        (1, None),
        (2, 0.5),
        (2, 0.0),
    ]
    with pytest.raises(UserError, match="need a beam of 2 or more"):
        page.settings((1, 4), (0.0,), 1.0, alpha_beam_size=1)
    with pytest.raises(UserError, match="Beam search is for the translators"):
        page.run_experiment("autoencoder", "presets/autoencoder")


def test_the_command_line_reaches_the_experiment():
    assert (cli.BEAM_SEARCH_SIZES, cli.BEAM_SEARCH_ALPHAS) == (page.BEAM_SIZES, page.ALPHAS)
    assert cli.BEAM_SEARCH_ALPHA_BEAM_SIZE == page.ALPHA_BEAM_SIZE
    assert f"docs/{page.RESULTS_FILE}" == cli.BEAM_SEARCH_JSON
    args = cli.build_parser().parse_args(["beam-search", "transformer-translator"])
    assert (args.model, args.workdir, args.split, args.limit, args.output) == (
        "transformer_translator",
        None,
        "test",
        None,
        cli.BEAM_SEARCH_JSON,
    )
    assert (args.beam_sizes, args.alphas, args.alpha_beam_size) == (
        [1, 2, 4, 8],
        [0.0, 0.6, 1.0, 1.5],
        4,
    )
    for bad in (
        ["--alphas", "-1"],
        ["--alphas", "nan"],
        ["--beam-sizes", "0"],
        ["--split", "train"],
    ):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["beam-search", "attention_nmt", *bad])


def exercise_commands():
    text = (DOCS / "beam_search.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Exercises\n") :]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    return [
        line for block in blocks for line in block.splitlines() if line.startswith("kerasnlp-lab ")
    ]


def test_the_exercises_commands_parse_and_leave_the_pages_data_alone():
    commands = exercise_commands()
    assert len(commands) == 3
    for line in commands:
        args = cli.build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == "beam-search"
        assert args.output.startswith("runs/beam_search/"), line
    assert "--split validation" in commands[-1]


@pytest.fixture(scope="module")
def tiny_translator():
    """The serving module of an untrained tiny Transformer over toy pairs."""
    return make_serving(fit_steps=False)


def test_the_nbest_is_ranked_by_log_prob_over_the_length_penalty(tiny_translator):
    serving = tiny_translator
    text = "el perro come pan"
    hypotheses = page.nbest(serving, text, beam_size=3, alpha=1.5)
    assert len(hypotheses) == 3
    scores = [hypothesis["score"] for hypothesis in hypotheses]
    assert scores == sorted(scores, reverse=True)
    for hypothesis in hypotheses:
        assert hypothesis["penalty"] == pytest.approx(((5 + hypothesis["length"]) / 6) ** 1.5)
        assert hypothesis["log_prob"] == pytest.approx(hypothesis["score"] * hypothesis["penalty"])
        assert hypothesis["log_prob"] < 0.0
        assert hypothesis["ended"] or hypothesis["length"] == serving.max_output_length
    best = translate(
        serving.translator,
        serving.source_ids(tf.constant([text])),
        beam_size=3,
        length_penalty_alpha=1.5,
        **serving.search_ids(),
    )
    best = trim_padding(best, serving.target_vectorizer.pad_id)
    tokens = serving.target_vectorizer.detokenize(best).numpy()[0].decode("utf-8")
    assert tokens == hypotheses[0]["translation"]  # beam_search's answer leads the n-best
    at_zero = page.nbest(serving, text, beam_size=3, alpha=0.0)
    assert all(hypothesis["penalty"] == 1.0 for hypothesis in at_zero)
    assert [h["score"] for h in at_zero] == pytest.approx([h["log_prob"] for h in at_zero])


def test_the_nbest_section_shows_each_alpha(tiny_translator):
    section = page.nbest_section(tiny_translator, "el perro", "the dog", 2, [0.0, 1.0])
    parts = section.split("\n\n")
    assert parts[:2] == ["Source: el perro", "Reference: the dog"]
    assert parts[2].startswith("Greedy (beam size 1): ")
    assert parts[3] == "Beam size 2, α = 0:"
    assert parts[4].splitlines()[0] == (
        "| rank | translation | tokens n | log P | lp(n) | score | sentence BLEU |"
    )
    assert [line.split(" | ")[0] for line in parts[4].splitlines()[2:]] == ["| 1", "| 2"]
    assert parts[5] == "Beam size 2, α = 1:"


def committed_results():
    return page.read_results(str(DOCS / page.RESULTS_FILE))


def test_the_committed_results_hold_the_whole_grid():
    results = committed_results()
    assert list(results) == ["transformer_translator", "attention_nmt"]
    for model, result in results.items():
        config = json.loads((ROOT / "presets" / model / "config.json").read_text("utf-8"))
        assert (result["model_beam_size"], result["model_alpha"]) == (
            config["beam_size"],
            config["length_penalty"],
        )
        grid = page.settings(
            page.BEAM_SIZES, page.ALPHAS, result["model_alpha"], result["alpha_beam_size"]
        )
        assert [(run["beam_size"], run["alpha"]) for run in result["runs"]] == grid
        assert result["split"] == "test"
    assert results["transformer_translator"]["limit"] is None  # the whole test split
    assert results["attention_nmt"]["limit"] == results["attention_nmt"]["pairs"] == 300


def test_the_findings_follow_the_numbers():
    result = {
        "model": "transformer_translator",
        "pairs": 10,
        "split": "test",
        "limit": 10,
        "model_beam_size": 2,
        "model_alpha": 1.0,
        "alpha_beam_size": 2,
        "mean_reference_words": 12.0,
        "runs": [
            {"beam_size": 1, "alpha": None, "bleu": 20.0, "chrf": 40.0, "length_ratio": 1.1,
             "mean_output_words": 13.0, "repetitive_outputs": 3, "seconds": 2.0},
            {"beam_size": 2, "alpha": 1.0, "bleu": 22.5, "chrf": 43.0, "length_ratio": 1.05,
             "mean_output_words": 12.5, "repetitive_outputs": 1, "seconds": 5.0},
            {"beam_size": 2, "alpha": 0.0, "bleu": 23.0, "chrf": 41.0, "length_ratio": 0.98,
             "mean_output_words": 11.9, "repetitive_outputs": 1, "seconds": 4.0},
        ],
    }  # fmt: skip
    assert page.findings({"transformer_translator": result}).splitlines() == [
        "- **Transformer, 10 pairs**",
        "  - The model's own setting (beam 2, α 1) against greedy: BLEU +2.50 (22.50 against "
        "20.00), chrF +3.00, length ratio 1.050 against 1.100, repetitive outputs 1 against 3, "
        "2.5× greedy's decoding time.",
        "  - Beam size 1 → 2 (1: greedy; α 1): BLEU 20.00 → 22.50, repetitive outputs 3 → 1, "
        "decoding seconds 2 → 5.",
        "  - Length penalty at beam 2, α 0 → 1: length ratio 0.980 → 1.050, words per output "
        "11.9 → 12.5 (references: 12.0), repetitive outputs 1 → 1, BLEU 23.00 → 22.50, chrF "
        "41.00 → 43.00, decoding seconds 4 → 5.",
        "  - Highest BLEU: beam 2, α 0 (23.00); highest chrF: beam 2, α 1 (43.00): not the "
        "same setting.",
    ]


def test_the_committed_page_is_what_its_sources_give(tmp_path, monkeypatch):
    """Every generated section of docs/beam_search.md: the table and findings from the
    committed docs/beam_search.json, the n-best and BLEU examples from the release
    Transformer (it decodes one verse at three α and five verses: seconds, so the test
    runs it; beam search on CPU gives the same tokens run after run)."""
    (tmp_path / page.RESULTS_FILE).write_bytes((DOCS / page.RESULTS_FILE).read_bytes())
    monkeypatch.setattr(page, "plot_beam_sizes", lambda results, path: path)
    monkeypatch.setattr(page, "plot_alphas", lambda results, path: path)
    lab = Lab(folders={transformer.MODEL_NAME: str(PRESET)}, docs_dir=str(tmp_path))
    _, sections = page.make(lab)
    committed = dict(GENERATED.findall((DOCS / "beam_search.md").read_text("utf-8")))
    assert list(sections) == list(committed)
    for name, text in sections.items():
        assert text == committed[name], f"docs/beam_search.md, {name}: run `make figures`"
