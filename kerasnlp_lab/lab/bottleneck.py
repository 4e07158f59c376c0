"""docs/bottleneck.md: test BLEU per source-length bucket, with and without attention.

Reads docs/bottleneck.json (written by `kerasnlp-lab bleu-by-length`, one entry per run) and
draws the plot and the tables; it loads no model, so redrawing needs no retraining.
"""

import os

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import length_buckets, plots
from kerasnlp_lab.lab.context import markdown_table

RESULTS_FILE = "bottleneck.json"
PLOT_PNG = "bottleneck.png"
# What the plot and tables call each run (other labels are shown as they are), followed by
# the run's vocabulary. The release attention_nmt attended in Luong's order until v2 (words);
# v2 attends in Bahdanau's (WordPiece).
RUN_NAMES = {
    "attention_nmt/none": "GRU encoder-decoder, no attention",
    "attention_nmt/luong_additive": "GRU + additive attention, Luong's order",
    "attention_nmt/bahdanau": "GRU + additive attention, Bahdanau's order",
    "transformer_translator": "Transformer",
}
TOKENIZER_NAMES = {"words": "words", "wordpiece": "WordPiece"}


def run_name(run):
    """The run's name and vocabulary, e.g. "Transformer (WordPiece)"."""
    name = RUN_NAMES.get(run["label"], run["label"])
    return f"{name} ({TOKENIZER_NAMES[run['tokenizer']]})"


def ordered_runs(runs):
    """The runs in the order of RUN_NAMES, then any others."""
    known = [runs[label] for label in RUN_NAMES if label in runs]
    return known + [run for label, run in runs.items() if label not in RUN_NAMES]


def plot(runs, path):
    """BLEU per source-length bucket, one line per run; the pairs per bucket under the axis."""
    figure, axes = plots.plt.subplots(figsize=(6.5, 4))
    counts = [bucket["pairs"] for bucket in runs[0]["buckets"]]
    positions = range(len(counts))
    for run in runs:
        axes.plot(
            positions,
            [bucket["bleu"] for bucket in run["buckets"]],
            marker="o",
            label=f"{run_name(run)} (all: {run['bleu']:.1f})",
        )
    axes.set_xticks(
        positions,
        [
            f"{bucket}\n{count} pairs"
            for bucket, count in zip(length_buckets.BUCKET_LABELS, counts, strict=True)
        ],
    )
    axes.set_xlabel("source sentence length (words)")
    axes.set_ylabel(f"test BLEU ({runs[0]['decoding']})")
    top = max(bucket["bleu"] or 0.0 for run in runs for bucket in run["buckets"])
    axes.set_ylim(0, max(top, 1.0) * 1.45)  # room above the curves for the legend
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9, loc="upper center", ncol=1)
    axes.set_title("Translation quality by sentence length")
    return plots.save_figure(figure, path)


def tables(runs):
    """Markdown: BLEU per bucket (one column per run), then hypothesis/reference length."""
    header = ("source words", "test pairs", *(run_name(run) for run in runs))
    rows = []
    for index, label in enumerate(length_buckets.BUCKET_LABELS):
        bleus = [run["buckets"][index]["bleu"] for run in runs]
        rows.append(
            (
                label,
                runs[0]["buckets"][index]["pairs"],
                *("—" if bleu is None else f"{bleu:.2f}" for bleu in bleus),
            )
        )
    rows.append(("all", runs[0]["test_pairs"], *(f"**{run['bleu']:.2f}**" for run in runs)))
    ratios = [
        (
            label,
            *(
                "—"
                if run["buckets"][index]["length_ratio"] is None
                else f"{run['buckets'][index]['length_ratio']:.2f}"
                for run in runs
            ),
        )
        for index, label in enumerate(length_buckets.BUCKET_LABELS)
    ]
    return (
        f"Test BLEU ({runs[0]['decoding']} decoding, sacreBLEU `{runs[0]['bleu_signature']}`):"
        f"\n\n{markdown_table(header, rows)}\n\nLength of the translations over the length of "
        f"the references (sacreBLEU's sys_len / ref_len; below 1 BLEU's brevity penalty "
        f"applies):\n\n{markdown_table(header[:1] + header[2:], ratios)}"
    )


def make(lab):
    """The plot and the tables from docs/bottleneck.json."""
    path = os.path.join(lab.docs_dir, RESULTS_FILE)
    results = length_buckets.read_results(path)
    if not results:
        raise UserError(
            f"No results in {path}: run `make bottleneck` (or `kerasnlp-lab bleu-by-length`) first."
        )
    runs = ordered_runs(results)
    return [plot(runs, lab.figure(PLOT_PNG))], {"bottleneck": tables(runs)}
