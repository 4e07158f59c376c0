"""docs/subword_tokenization.md: words against WordPiece on our corpus, and greedy
longest-match-first step by step on a verse.

The experiment's numbers come from docs/vocabulary.json (`kerasnlp-lab vocabulary-report`
gathers each run of `make vocabulary` there, with what the run's vocabularies make of the
test split). The walkthrough tokenizes `VERSE` and `UNKNOWN_WORD` with the 2,000-piece source
vocabulary kept in docs/ (`VOCABULARY_FILE`) and with the experiment's 12,000-word source
vocabulary, kept there too (`WORDS_FILE`). Nothing trains and no model runs, so redrawing
takes seconds.
"""

import json
import os

import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.lab import vocabulary
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.text.tokenizers import load_vectorizer
from kerasnlp_lab.text.wordpiece import MAX_WORD_BYTES, SUFFIX, piece_length

FIGURE_PNG = "subword_tokenization.png"
# The source vocabulary of `make vocabulary`'s wordpiece_2000 run (learned from the training
# split; the same file as tests/text/data/source_vocabulary.json).
VOCABULARY_FILE = "wordpiece_source_vocabulary.json"
WORDS_FILE = "words_source_vocabulary.json"
DATA_FILES = (vocabulary.RESULTS_FILE, VOCABULARY_FILE, WORDS_FILE)
# Genesis 1:1 in modern spelling: the corpus (Reina-Valera 1909) spells the verb "crió".
VERSE = "En el principio creó Dios los cielos y la tierra."
# A word with a character that no Spanish training verse holds ("w").
UNKNOWN_WORD = "Kuwait"
# The verb as the corpus spells it.
CORPUS_SPELLING = "crió"
UNKNOWN = "[UNK]"


def greedy_steps(word, pieces):
    """Greedy longest-match-first WordPiece of one word, step by step.

    A plain-Python trace of what `kerasnlp_lab.text.wordpiece.wordpiece_ids` computes for
    all words at once: at each step the candidates from the current position, longest
    first (at most the longest piece of the vocabulary), with `##` in front after the first
    piece; the first candidate that is a piece is kept.

    Args:
        word: one standardized word.
        pieces: the vocabulary, a set of strings.

    Returns:
        (tokens, steps): the word's pieces (["[UNK]"] if some position has no piece, or
        the word is longer than MAX_WORD_BYTES), and one (start, candidates tried, piece
        kept or None) per step, `start` being the character the step starts at.
    """
    if len(word.encode("utf-8")) > MAX_WORD_BYTES:
        return [UNKNOWN], []
    longest = max(piece_length(piece) for piece in pieces)
    tokens, steps, start = [], [], 0
    while start < len(word):
        prefix = SUFFIX if start else ""
        tried, kept = [], None
        for end in range(min(len(word), start + longest), start, -1):
            candidate = prefix + word[start:end]
            tried.append(candidate)
            if candidate in pieces:
                kept = candidate
                break
        steps.append((start, tried, kept))
        if kept is None:
            return [UNKNOWN], steps
        tokens.append(kept)
        start += piece_length(kept)
    return tokens, steps


def tokens_of(vectorizer, text):
    """The tokens our vectorizer makes of `text` (its core-op tokenizer, no [START]/[END])."""
    ids = vectorizer.text_ids([text])[0]
    return [token.decode("utf-8") for token in vectorizer.ids_to_tokens(ids).numpy()]


def words_of(vectorizer, text):
    """The words of `text` as the vectorizer sees them (our `standardize`, split)."""
    words = tf.strings.split(standardize(text, lowercase=vectorizer.lowercase))
    return [word.decode("utf-8") for word in words.numpy()]


def traced_words(text, vectorizer):
    """[(word, tokens, steps)] for every word of `text`; ValueError unless the traced tokens
    are the ones our core-op WordPiece gives."""
    pieces = set(vectorizer.vocabulary)
    traced = [(word, *greedy_steps(word, pieces)) for word in words_of(vectorizer, text)]
    traced_tokens = [token for _, tokens, _ in traced for token in tokens]
    computed = tokens_of(vectorizer, text)
    if traced_tokens != computed:
        raise ValueError(
            f"Expected the traced pieces of {text!r} to be our tokenizer's {computed}; "
            f"received {traced_tokens}."
        )
    return traced


def shown_tokens(tokens):
    return " ".join(f"`{token}`" for token in tokens)


def steps_table(traced):
    """A Markdown table of every step of the words that take more than one step or become
    [UNK]: the rest of the word, the candidates looked up (longest first), the piece kept."""
    rows = []
    for word, tokens, steps in traced:
        if tokens != [UNKNOWN] and len(steps) == 1:
            continue
        for number, (start, tried, kept) in enumerate(steps, start=1):
            rest = (SUFFIX if start else "") + word[start:]
            looked_up = [f"`{candidate}` ✗" for candidate in tried if candidate != kept]
            rows.append(
                (
                    f"`{word}`",
                    number,
                    f"`{rest}`",
                    " ".join(looked_up + ([f"`{kept}` ✓"] if kept else [])),
                    f"`{kept}`" if kept else f"none: the whole word is `{UNKNOWN}`",
                )
            )
    header = ("word", "step", "rest of the word", "looked up, longest first", "piece kept")
    return markdown_table(header, rows)


def walkthrough(pieces_vectorizer, words_vectorizer, verse=VERSE, unknown_word=UNKNOWN_WORD):
    """The verse (and the corpus spelling of its verb) in word tokens and in pieces, then
    the steps of greedy longest-match-first on its words and on `unknown_word`."""
    traced = traced_words(verse, pieces_vectorizer)
    whole = [word for word, tokens, steps in traced if len(steps) == 1 and tokens != [UNKNOWN]]
    unknown = traced_words(unknown_word, pieces_vectorizer)
    unknown_tokens = [token for _, tokens, _ in unknown for token in tokens]
    lines = [f"Verse: {verse}"]
    for vectorizer, name in (
        (words_vectorizer, f"Words ({words_vectorizer.vocab_size:,}-word source vocabulary)"),
        (pieces_vectorizer, f"WordPiece ({pieces_vectorizer.vocab_size:,} pieces)"),
    ):
        lines.append(
            f"{name}: {shown_tokens(tokens_of(vectorizer, verse))}; the corpus spelling "
            f"`{CORPUS_SPELLING}`: {shown_tokens(tokens_of(vectorizer, CORPUS_SPELLING))}"
        )
    lines.append(
        f"Whole words at the first step: {shown_tokens(whole) or 'none'}. Every step of the "
        f"other words, and of `{unknown_word}` ({shown_tokens(unknown_tokens)}):"
    )
    return "\n\n".join(lines) + f"\n\n{steps_table(traced + unknown)}"


def percent(part, whole):
    return f"{100 * part / whole:.2f}%"


def sizes(run):
    return " / ".join(f"{size:,}" for size in run["vocabulary_sizes"])


def run_label(run):
    """A run and its vocabulary sizes (source / target), for tables."""
    return f"{run['run']} ({sizes(run)})"


def tick_label(run):
    """The tokenizer, then the source and the target vocabulary size, one a line."""
    name = "WordPiece" if run["tokenizer"] == "wordpiece" else run["tokenizer"]
    return "\n".join([name, *(f"{size:,}" for size in run["vocabulary_sizes"])])


def tokenization_table(results):
    """One row per run: [UNK], pieces per word and sentence lengths on the test split."""
    rows = []
    for run in results["runs"]:
        source, target = run["tokenization"]["source"], run["tokenization"]["target"]
        rows.append(
            (
                run_label(run),
                f"{percent(source['unknown_words'], source['words'])} / "
                f"{percent(target['unknown_words'], target['words'])}",
                f"{source['tokens'] / source['words']:.3f} / "
                f"{target['tokens'] / target['words']:.3f}",
                f"{percent(source['split_words'], source['words'])} / "
                f"{percent(target['split_words'], target['words'])}",
                *(sentence_lengths(side) for side in (source, target)),
                f"{source['over_length_limit']} / {target['over_length_limit']}",
            )
        )
    header = (
        "run (source / target vocabulary)",
        "words -> [UNK] (source / target)",
        "tokens per word",
        "words split into 2+ tokens",
        "source tokens per verse: mean, median (5–95%), max",
        "target tokens per verse",
        "verses over the length limit",
    )
    return markdown_table(header, rows)


def sentence_lengths(side):
    """Mean, median (5th–95th percentile) and longest tokens per verse."""
    lengths = side["tokens_per_sentence"]
    spread = f"{lengths['p50']} ({lengths['p5']}–{lengths['p95']})"
    return f"{lengths['mean']:.1f}, {spread}, {lengths['max']}"


def experiment_section(results):
    """The experiment's two tables and where their numbers come from."""
    runs = results["runs"]
    epochs = ", ".join(f"{run['run']} {run['epochs']}" for run in runs)
    test_pairs = ", ".join(sorted({f"{run['test_pairs']:,}" for run in runs}))
    limits = sorted(
        {run["tokenization"][side]["length_limit"] for run in runs for side in ("source", "target")}
    )
    unseen = sorted(
        {
            " and ".join(
                f"{percent(counts['unseen_words'], counts['words'])} of the {side} side's"
                for side, counts in run["tokenization"].items()
            )
            for run in runs
        }
    )
    return (
        f"{vocabulary.table(results)}\n\n{tokenization_table(results)}\n\n"
        f"{' / '.join(unseen)} test words never occur in the training split: no word "
        f"vocabulary learned from it can cover them.\n\n"
        f"Epochs trained: {epochs}. Test pairs: {test_pairs} (sacreBLEU, cased). "
        f"Words are those of our `standardize` (punctuation marks count as words); a verse "
        f"is over the length limit when its tokens with [START] and [END] exceed "
        f"{' / '.join(map(str, limits))} (training and serving cut it)."
    )


def findings(results):
    """What the runs in the file say against the words run, in a few generated sentences."""
    runs = {run["run"]: run for run in results["runs"]}
    words = runs.get("words")
    pieces = [run for run in results["runs"] if run["tokenizer"] == "wordpiece"]
    if words is None or not pieces:
        return (
            f"`docs/vocabulary.json` holds {', '.join(runs)} so far: the comparison needs the "
            f"words run and at least one WordPiece run, trained, evaluated and gathered "
            f"(`make vocabulary`, or the steps under Reproduce)."
        )
    lines = [f"- {run_label(run)}: {against_words(run, words)}" for run in pieces]
    best = max(results["runs"], key=lambda run: run["beam"]["bleu"])
    lines.append(f"\nHighest beam BLEU: {run_label(best)}, {best['beam']['bleu']:.2f}.")
    return "\n".join(lines)


def against_words(run, words):
    """One run's BLEU, [UNK] shares, verse lengths and beam time beside the words run's."""

    def unknown(run, side):
        counts = run["tokenization"][side]
        return percent(counts["unknown_words"], counts["words"])

    def longer(side):
        mean = run["tokenization"][side]["tokens_per_sentence"]["mean"]
        words_mean = words["tokenization"][side]["tokens_per_sentence"]["mean"]
        return f"{100 * (mean / words_mean - 1):+.0f}%"

    bleu = {search: run[search]["bleu"] - words[search]["bleu"] for search in ("beam", "greedy")}
    return (
        f"beam BLEU {run['beam']['bleu']:.2f} ({bleu['beam']:+.2f} against words), greedy "
        f"{run['greedy']['bleu']:.2f} ({bleu['greedy']:+.2f}); words -> [UNK]: source "
        f"{unknown(run, 'source')} (words: {unknown(words, 'source')}), target "
        f"{unknown(run, 'target')} (words: {unknown(words, 'target')}); mean tokens per "
        f"verse {longer('source')} (source) and {longer('target')} (target); beam search "
        f"over the test split {run['beam']['seconds']:.0f} s (words: "
        f"{words['beam']['seconds']:.0f} s)."
    )


def plot_series(axes, runs, values, label, marker):
    """One value per run: markers for every run, a line through the WordPiece runs only."""
    positions = range(len(runs))
    line = axes.plot(positions, values, marker=marker, linestyle="none", label=label)[0]
    pieces = [index for index, run in enumerate(runs) if run["tokenizer"] == "wordpiece"]
    axes.plot(pieces, [values[index] for index in pieces], color=line.get_color())


def plot(results, path):
    """BLEU, [UNK] share, tokens per word and the spread of verse lengths, by run."""
    runs = results["runs"]
    figure, grid = plots.plt.subplots(2, 2, figsize=(8.6, 7.4), layout="constrained")
    bleu, unknown, per_word, lengths = grid.flat
    plot_series(bleu, runs, [run["beam"]["bleu"] for run in runs], "beam", "o")
    plot_series(bleu, runs, [run["greedy"]["bleu"] for run in runs], "greedy", "s")
    bleu.set_ylabel("test BLEU")
    bleu.set_title("Translation quality")
    for side, marker in (("source", "o"), ("target", "s")):
        counts = [run["tokenization"][side] for run in runs]
        plot_series(
            unknown, runs, [100 * c["unknown_words"] / c["words"] for c in counts], side, marker
        )
        plot_series(per_word, runs, [c["tokens"] / c["words"] for c in counts], side, marker)
    unknown.set_ylabel("% of test words")
    unknown.set_title("Words that become [UNK]")
    per_word.set_ylabel("tokens per word")
    per_word.set_title("Pieces per word")
    boxes = []
    for run in runs:
        for side in ("source", "target"):
            spread = run["tokenization"][side]["tokens_per_sentence"]
            boxes.append(
                {
                    "whislo": spread["p5"],
                    "q1": spread["p25"],
                    "med": spread["p50"],
                    "q3": spread["p75"],
                    "whishi": spread["p95"],
                    "mean": spread["mean"],
                    "fliers": [spread["max"]],
                }
            )
    positions = [index + offset for index in range(len(runs)) for offset in (-0.17, 0.17)]
    drawn = lengths.bxp(
        boxes,
        positions=positions,
        widths=0.28,
        showmeans=True,
        patch_artist=True,
        medianprops={"color": "black"},
    )
    for index, box in enumerate(drawn["boxes"]):
        box.set_facecolor(("tab:blue", "tab:orange")[index % 2])
    lengths.legend(drawn["boxes"][:2], ["source", "target"], fontsize=9, loc="upper left")
    lengths.set_ylabel("tokens per verse")
    lengths.set_title("Verse length: 5–25–50–75–95%, ▲ mean, ○ max")
    ticks = [tick_label(run) for run in runs]
    for axes in grid.flat:
        axes.set_xticks(range(len(runs)), ticks)
        axes.set_xlim(-0.6, len(runs) - 0.4)
        axes.grid(alpha=0.3)
    for axes in grid[1]:
        axes.set_xlabel("tokenizer, source / target vocabulary")
    for axes in (bleu, unknown):
        axes.set_ylim(bottom=0)
    for axes in (bleu, unknown, per_word):
        axes.legend(fontsize=9)
    return plots.save_figure(figure, path)


def read_results(docs_dir):
    """The runs of docs/vocabulary.json; UserError if there are none."""
    path = os.path.join(docs_dir, vocabulary.RESULTS_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            results = json.load(file)
    except FileNotFoundError:
        results = {"runs": []}
    if not results["runs"]:
        raise UserError(
            f"No runs in {path}: run `make vocabulary` (or `kerasnlp-lab vocabulary-report`)."
        )
    return results


def make(lab):
    """The figure and tables from docs/vocabulary.json; the walkthrough from the 2,000-piece
    and the 12,000-word source vocabularies in docs/."""
    results = read_results(lab.docs_dir)
    pieces_vectorizer = load_vectorizer(os.path.join(lab.docs_dir, VOCABULARY_FILE))
    words_vectorizer = load_vectorizer(os.path.join(lab.docs_dir, WORDS_FILE))
    sections = {
        "experiment": experiment_section(results),
        "findings": findings(results),
        "walkthrough": walkthrough(pieces_vectorizer, words_vectorizer),
    }
    return [plot(results, lab.figure(FIGURE_PNG))], sections
