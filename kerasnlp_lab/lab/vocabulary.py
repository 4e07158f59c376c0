"""The vocabulary-size experiment: words against WordPiece of several sizes, one table.

Each run is the same Transformer (`small`) and schedule, trained for the same epochs with a
different `--tokenizer` / `--source-vocab-size` / `--target-vocab-size` (`make vocabulary`),
then evaluated on the whole test split (`kerasnlp-lab evaluate`, which writes metrics.json
into the run). `report` gathers what each run measured into docs/vocabulary.json, with what
the run's own vocabularies make of the test split (`tokenization_statistics`); the table and
the subword page are drawn from that file, so redrawing needs no model.
"""

import csv
import json
import os

import numpy as np
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation.translation import METRICS_FILE, read_pairs
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.text import vocabulary_files
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.training import fit
from kerasnlp_lab.training.workdir import RUN_FILE

RESULTS_FILE = "vocabulary.json"
TABLE_COLUMNS = (
    "run",
    "vocabulary (source / target)",
    "beam BLEU",
    "beam chrF",
    "greedy BLEU",
    "source / target tokens per sentence",
    "source words -> [UNK]",
    "beam outputs repeating a 3-gram",
    "greedy / beam decoding (s, test split)",
)
PERCENTILES = (5, 25, 50, 75, 95)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise UserError(f"{path} not found: train and evaluate the run first.") from None


def standardized_words(texts, lowercase):
    """The words of our `standardize` in `texts` (a list of strings): string (W,)."""
    return tf.strings.split(standardize(np.asarray(texts, object), lowercase=lowercase)).flat_values


def tokenization_statistics(vectorizer, texts, training_texts, max_length):
    """What `vectorizer` makes of `texts` (one side of the test split), as counts.

    words: the words of our `standardize`; unseen_words: words that no text of
    `training_texts` holds (no word vocabulary learned from them covers these); tokens: the
    ids of the texts; unknown_words: words that become [UNK]; split_words: words cut into
    2 or more tokens; tokens_per_sentence: their mean, percentiles (5, 25, 50, 75, 95: the
    nearest length) and maximum; over_length_limit: texts longer than `max_length` ids with
    [START] and [END], which training and serving cut.
    """
    words = standardized_words(texts, vectorizer.lowercase)  # (W,)
    seen = set(standardized_words(training_texts, vectorizer.lowercase).numpy())
    word_tokens = vectorizer.text_ids(words)  # (W, None): a word alone keeps its tokens
    tokens_per_word = word_tokens.row_lengths().numpy()
    lengths = vectorizer.text_ids(np.asarray(texts, object)).row_lengths().numpy()  # (B,)
    percentiles = np.percentile(lengths, PERCENTILES, method="nearest")
    return {
        "sentences": len(texts),
        "words": len(tokens_per_word),
        "unseen_words": sum(word not in seen for word in words.numpy()),
        "tokens": int(lengths.sum()),
        "unknown_words": int((word_tokens.flat_values.numpy() == vectorizer.oov_id).sum()),
        "split_words": int((tokens_per_word > 1).sum()),
        "tokens_per_sentence": {
            "mean": round(float(lengths.mean()), 2),
            **{f"p{p}": int(value) for p, value in zip(PERCENTILES, percentiles, strict=True)},
            "max": int(lengths.max()),
        },
        "length_limit": max_length,
        "over_length_limit": int((lengths + 2 > max_length).sum()),
    }


def tokenization_of_test_split(workdir, run):
    """{"source": ..., "target": ...}: `tokenization_statistics` of the run's vocabularies
    on its dataset's test split, against the training pairs it learned them from."""
    config = run["config"]
    sources, references = read_pairs(run["dataset"], "test")
    training_sources, training_references = read_pairs(
        run["dataset"], "train", config.get("train_examples")
    )
    source, target = pipeline.load_vectorizers(workdir)
    return {
        "source": tokenization_statistics(
            source, sources, training_sources, config["max_source_length"]
        ),
        "target": tokenization_statistics(
            target, references, training_references, config["max_target_length"]
        ),
    }


def summarize(workdir):
    """What one run of the experiment measured, from its own files."""
    run = _read_json(os.path.join(workdir, RUN_FILE))
    metrics = _read_json(os.path.join(workdir, METRICS_FILE))
    config = run["config"]
    sizes = [
        len(vocabulary_files.load_config(os.path.join(workdir, name), "vocabulary")["vocabulary"])
        for name in (pipeline.SOURCE_VOCABULARY_FILE, pipeline.TARGET_VOCABULARY_FILE)
    ]
    with open(os.path.join(workdir, fit.HISTORY_FILE), encoding="utf-8") as file:
        history = list(csv.DictReader(file))
    return {
        "run": os.path.basename(os.path.normpath(workdir)),
        "tokenizer": config.get("tokenizer", "words"),
        "requested_sizes": [config["source_vocab_size"], config["target_vocab_size"]],
        "vocabulary_sizes": sizes,
        "epochs": len(history),
        "final_val_loss": round(float(history[-1]["val_loss"]), 4),
        "test_pairs": metrics["test_pairs"],
        "greedy": {key: metrics["greedy"][key] for key in ("bleu", "chrf", "seconds")},
        "beam": {key: metrics["beam"][key] for key in ("bleu", "chrf", "seconds")},
        "repetitive_outputs": {
            "greedy": metrics["greedy"]["repetitive_outputs"],
            "beam": metrics["beam"]["repetitive_outputs"],
            "references": metrics["repetitive_references"],
        },
        "unknown_outputs_unbanned": metrics["unknown_outputs_unbanned"],
        "source_tokens_per_sentence": metrics["source_tokens_per_sentence"],
        "target_tokens_per_sentence": metrics["target_tokens_per_sentence"],
        "source_unknown_word_rate": metrics["source_unknown_word_rate"],
        "tokenization": tokenization_of_test_split(workdir, run),
    }


def report(workdirs, path):
    """Adds (or replaces, by run name) the summaries of `workdirs` in the JSON file `path`.

    Runs already in the file stay, so an experiment can be completed in several sittings.
    Returns everything the file holds, in run-name order.
    """
    runs = {}
    if os.path.exists(path):
        runs = {run["run"]: run for run in _read_json(path)["runs"]}
    runs.update((run["run"], run) for run in map(summarize, workdirs))
    results = {"runs": [runs[name] for name in sorted(runs, key=_run_order)]}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=2, ensure_ascii=False)
        file.write("\n")
    return results


def _run_order(name):
    """words first, then WordPiece by size: wordpiece_2000 < wordpiece_10000."""
    kind, _, size = name.partition("_")
    return (kind != "words", kind, int(size) if size.isdigit() else 0, name)


def table(results):
    """The experiment's markdown table, one row per run."""
    rows = [
        (
            run["run"],
            " / ".join(f"{size:,}" for size in run["vocabulary_sizes"]),
            f"{run['beam']['bleu']:.2f}",
            f"{run['beam']['chrf']:.2f}",
            f"{run['greedy']['bleu']:.2f}",
            f"{run['source_tokens_per_sentence']:.1f} / {run['target_tokens_per_sentence']:.1f}",
            f"{100 * run['source_unknown_word_rate']:.2f}%",
            str(run["repetitive_outputs"]["beam"]),
            f"{run['greedy']['seconds']:.0f} / {run['beam']['seconds']:.0f}",
        )
        for run in results["runs"]
    ]
    return markdown_table(TABLE_COLUMNS, rows)
