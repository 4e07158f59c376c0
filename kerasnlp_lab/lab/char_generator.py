"""docs/char_generator.md: samples of the release model at four temperatures, and what the wide
path of its head memorises (its largest weights read as character bigrams and trigrams)."""

import numpy as np

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.evaluation.char_generator import SAMPLE_PROMPT, sample
from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.lab.context import markdown_table, shown_char
from kerasnlp_lab.layers.wide_and_deep_head import WideAndDeepHead
from kerasnlp_lab.text.chars import NUM_RESERVED_IDS

NGRAMS_PNG = "char_generator_wide_ngrams.png"
TEMPERATURES = (0.2, 0.5, 1.0, 1.2)
SAMPLE_SEED = 1
SHOWN_NGRAMS = 15


def id_chars(vocabulary):
    """The character of every id: "" for padding and OOV (never read as an n-gram)."""
    return [""] * NUM_RESERVED_IDS + vocabulary.chars


def top_entries(table, count):
    """(row, column, value) of the `count` largest entries of a 2-D array, largest first."""
    flat = np.argsort(-table, axis=None, kind="stable")[:count]
    rows, columns = np.unravel_index(flat, table.shape)
    return [(int(r), int(c), float(table[r, c])) for r, c in zip(rows, columns, strict=True)]


def wide_ngrams(head, chars, count=SHOWN_NGRAMS):
    """{"bigrams", "trigrams"}: the largest weights of the wide path as (context, next, weight).

    The wide columns are (current char, previous char): the first `num_ids` rows of the
    unigram table hold the logits the current char adds to each next char (a bigram
    "c -> n"); the cross table row (current * num_ids + previous) % bins those the pair adds
    (a trigram "pc -> n"). Rows of padding and OOV ids are left out.
    """
    num_ids = head.num_ids
    unigram = np.array(head.unigram_table)[:num_ids]  # (V, V): current char -> next
    unigram[:NUM_RESERVED_IDS] = -np.inf
    unigram[:, :NUM_RESERVED_IDS] = -np.inf
    cross = np.array(head.cross_table)[: head.num_hash_bins]  # (bins, V)
    real = np.arange(NUM_RESERVED_IDS, num_ids)
    current, previous = np.meshgrid(real, real, indexing="ij")
    rows = ((current * num_ids + previous) % head.num_hash_bins).ravel()  # (pairs,)
    pairs = cross[rows]  # (pairs, V)
    pairs[:, :NUM_RESERVED_IDS] = -np.inf
    return {
        "bigrams": [
            (chars[row], chars[column], value) for row, column, value in top_entries(unigram, count)
        ],
        "trigrams": [
            (chars[previous.ravel()[row]] + chars[current.ravel()[row]], chars[column], value)
            for row, column, value in top_entries(pairs, count)
        ],
    }


def shown(text):
    return "".join(shown_char(char) for char in text)


def plot_ngrams(ngrams, path):
    """Two bar charts: the largest bigram and trigram weights of the wide path."""
    figure, axes = plots.plt.subplots(1, 2, figsize=(8.6, 0.3 * SHOWN_NGRAMS + 1.5))
    for axis, (kind, entries) in zip(axes, ngrams.items(), strict=True):
        labels = [f"{shown(context)} → {shown(following)}" for context, following, _ in entries]
        axis.barh(range(len(entries)), [value for _, _, value in entries], color="tab:blue")
        axis.set_yticks(range(len(entries)), labels, fontsize=9, family="monospace")
        axis.invert_yaxis()
        axis.set_xlabel("wide logit (added to the next char's score)")
        axis.set_title(f"largest {kind[:-1]} weights")
    figure.subplots_adjust(wspace=0.35)
    return plots.save_figure(figure, path)


def samples(serving, num_chars):
    """Markdown: one continuation of SAMPLE_PROMPT per temperature, same seed."""
    blocks = []
    for temperature in TEMPERATURES:
        text = sample(serving, SAMPLE_PROMPT, num_chars, temperature, SAMPLE_SEED)
        blocks.append(f"**Temperature {temperature}**\n\n```\n{SAMPLE_PROMPT}{text}\n```")
    return "\n\n".join(blocks)


def make(lab):
    """The samples, the n-gram figure and its table."""
    _, serving = exporter.load_serving(lab.folders[exporter.MODEL_NAME])
    head = serving.model.get_layer("head")
    if not isinstance(head, WideAndDeepHead):
        raise UserError(
            f"Expected a char_generator with the wide-and-deep head, got one with a "
            f"{type(head).__name__} head ({lab.folders[exporter.MODEL_NAME]})."
        )
    sections = {"samples": samples(serving, lab.pick(300, 40))}
    ngrams = wide_ngrams(head, id_chars(serving.vocabulary))
    rows = [
        (
            f"`{shown(bigram[0])} → {shown(bigram[1])}` {bigram[2]:.2f}",
            f"`{shown(trigram[0])} → {shown(trigram[1])}` {trigram[2]:.2f}",
        )
        for bigram, trigram in zip(ngrams["bigrams"], ngrams["trigrams"], strict=True)
    ]
    sections["ngrams"] = markdown_table(("bigram, weight", "trigram, weight"), rows)
    return [plot_ngrams(ngrams, lab.figure(NGRAMS_PNG))], sections
