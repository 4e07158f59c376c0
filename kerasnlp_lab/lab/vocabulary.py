"""The vocabulary-size experiment: words against WordPiece of several sizes, one table.

Each run is the same Transformer (`small`) and schedule, trained for the same epochs with a
different `--tokenizer` / `--source-vocab-size` / `--target-vocab-size` (`make vocabulary`),
then evaluated on the whole test split (`kerasnlp-lab evaluate`, which writes metrics.json
into the run). `report` gathers what each run measured into docs/vocabulary.json; the table
and the subword page are drawn from that file, so redrawing needs no model.
"""

import csv
import json
import os

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation.translation import METRICS_FILE
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.text import vocabulary_files
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


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise UserError(f"{path} not found: train and evaluate the run first.") from None


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
