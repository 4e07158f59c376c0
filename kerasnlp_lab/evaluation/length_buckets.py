"""Test BLEU per source-length bucket: the bottleneck experiment (Bahdanau et al. 2014, Fig. 2).

A test pair falls in a bucket by the number of words of its source sentence (whitespace-
separated, punctuation attached: what a reader counts): <=10, 11-20, 21-30, 31-40, 41+.
Each bucket is scored as a corpus of its own with sacreBLEU (the same BLEU and chrF as
`evaluation.translation`) on the greedy translations. `write_result` keeps one entry per
run (a label) in a JSON file, so the runs of an experiment are measured one at a time and
plotted together (`kerasnlp_lab.lab.bottleneck`).
"""

import json
import os

from sacrebleu.metrics import BLEU, CHRF

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import translation
from kerasnlp_lab.export import attention_nmt as attention_nmt_export
from kerasnlp_lab.export import transformer as transformer_export
from kerasnlp_lab.models import attention_nmt, transformer

# (first, last) words of each bucket; None: no upper bound.
BUCKETS = ((1, 10), (11, 20), (21, 30), (31, 40), (41, None))
# model name -> (exporter with `load_serving`, model module with `config_from_dict`)
TRANSLATORS = {
    "attention_nmt": (attention_nmt_export, attention_nmt),
    "transformer_translator": (transformer_export, transformer),
}


def bucket_label(bucket):
    """ "≤10", "11–20", ..., "41+"."""
    first, last = bucket
    if last is None:
        return f"{first}+"
    return f"≤{last}" if first <= 1 else f"{first}–{last}"


BUCKET_LABELS = tuple(bucket_label(bucket) for bucket in BUCKETS)


def source_words(source):
    """The number of whitespace-separated words of a source sentence."""
    return len(source.split())


def bucket_index(num_words):
    """The index in BUCKETS of a sentence of `num_words` words (0 words: the first bucket)."""
    for index, (_, last) in enumerate(BUCKETS):
        if last is None or num_words <= last:
            return index
    raise AssertionError("the last bucket has no upper bound")


def bucket_scores(sources, references, hypotheses):
    """One {bucket, pairs, bleu, chrf, length_ratio} per bucket (None scores when empty).

    `length_ratio` is sacreBLEU's hypothesis / reference length of the bucket (below 1:
    the translations are too short, which BLEU's brevity penalty punishes).
    """
    if not len(sources) == len(references) == len(hypotheses):
        raise ValueError(
            f"Expected as many sources, references and hypotheses, got {len(sources)}, "
            f"{len(references)} and {len(hypotheses)}."
        )
    members = [[] for _ in BUCKETS]
    for row, source in enumerate(sources):
        members[bucket_index(source_words(source))].append(row)
    results = []
    for label, rows in zip(BUCKET_LABELS, members, strict=True):
        entry = {
            "bucket": label,
            "pairs": len(rows),
            "bleu": None,
            "chrf": None,
            "length_ratio": None,
        }
        if rows:
            hyps = [hypotheses[row] for row in rows]
            refs = [[references[row] for row in rows]]
            bleu = BLEU().corpus_score(hyps, refs)
            entry["bleu"] = round(bleu.score, 2)
            entry["chrf"] = round(CHRF().corpus_score(hyps, refs).score, 2)
            entry["length_ratio"] = round(bleu.sys_len / max(bleu.ref_len, 1), 3)
        results.append(entry)
    return results


def default_label(model_name, config):
    """attention_nmt/bahdanau, attention_nmt/none or transformer_translator."""
    attention = getattr(config, "attention", None)
    return f"{model_name}/{attention}" if attention else model_name


def evaluate(model_name, workdir, limit=None):
    """{model, workdir, preset, dataset, attention, tokenizer, test_pairs, bleu, chrf, buckets}
    of a run.

    Greedy translations of the test split (its first `limit` pairs) of the translator run
    or release preset in `workdir`.
    """
    if model_name not in TRANSLATORS:
        raise UserError(
            f"BLEU by source length is for the translators ({', '.join(TRANSLATORS)}); "
            f"got {model_name}."
        )
    exporter, model_module = TRANSLATORS[model_name]
    run, serving = exporter.load_serving(workdir)
    config = model_module.config_from_dict(run["config"])
    sources, references = translation.read_pairs(run["dataset"], "test", limit)
    hypotheses = serving.translate_texts(sources, batch_size=config.batch_size)
    overall = translation.corpus_scores(hypotheses, references)
    return {
        "label": default_label(model_name, config),
        "model": model_name,
        "workdir": workdir,
        "preset": run["preset"],
        "dataset": run["dataset"],
        "attention": getattr(config, "attention", None),
        "tokenizer": config.tokenizer,
        "decoding": "greedy",
        "test_pairs": len(sources),
        "bleu": overall["bleu"],
        "chrf": overall["chrf"],
        "bleu_signature": overall["bleu_signature"],
        "buckets": bucket_scores(sources, references, hypotheses),
    }


def read_results(path):
    """{label: result} of a results file ({} when it does not exist yet)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)["runs"]


def write_result(result, path, label=None):
    """Adds (or replaces) `result` under `label` (default: its own) in the JSON file `path`."""
    runs = read_results(path)
    runs[label or result["label"]] = {**result, "label": label or result["label"]}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(
            {"buckets": list(BUCKET_LABELS), "runs": runs}, file, indent=2, ensure_ascii=False
        )
        file.write("\n")
    return path
