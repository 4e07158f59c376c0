"""Translation quality and attention figures shared by the translation models.

Scores are sacreBLEU's BLEU and chrF of detokenized outputs against the raw references
(one reference per sentence), each with its sacreBLEU signature so a number can be
reproduced. The target vocabularies keep case, so the headline is the standard
(case-sensitive) BLEU; the case-insensitive one (`lowercase=True`, signature `case:lc`) is
reported beside it.

Beside the scores: how long each search takes over the split (in-process, this machine),
how many outputs repeat themselves (`REPEAT_NGRAM`: a word n-gram, words split on
whitespace, that occurs `REPEAT_COUNT` or more times in one output; the references of the
test split have 21 such sentences of 1,009), how many would hold [UNK] if it were not banned,
and what the tokenizers make of the split (tokens per sentence, source words that become
[UNK]).
"""

import collections
import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from sacrebleu.metrics import BLEU, CHRF

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.evaluation import plots
from kerasnlp_lab.text.standardize import standardize
from kerasnlp_lab.training import fit
from kerasnlp_lab.training import translation as training

METRICS_FILE = "metrics.json"
LOSS_CURVES_PNG = "loss_curves.png"

SHOWN_EXAMPLES = 3
REPEAT_NGRAM, REPEAT_COUNT = 3, 3
# The length penalties (GNMT alpha) `release` compares with beam search on the validation
# split; the release translators decode with the best of them.
LENGTH_PENALTIES = (0.0, 0.6, 1.0)
# The n-gram bans (`no_repeat_ngram_size`; 0, none, first) `release` then compares at the chosen
# length penalty; a ban is kept only where it scores a higher validation BLEU than none.
NO_REPEAT_NGRAM_SIZES = (0, 3, 4)


def read_pairs(dataset, split, limit=None):
    """(sources, references) of a split as two lists of Python strings."""
    sources, references = [], []
    for source, target in pipeline.load_pairs(dataset, split, limit).as_numpy_iterator():
        sources.append(source.decode("utf-8"))
        references.append(target.decode("utf-8"))
    return sources, references


def limit_examples(config, limit):
    """`config` evaluating at most `limit` pairs per split (None: unchanged)."""
    if limit is None:
        return config
    return dataclasses.replace(config, eval_examples=min(limit, config.eval_examples or limit))


def corpus_scores(hypotheses, references):
    """{bleu, bleu_signature, bleu_lowercase, ..., chrf, chrf_signature} of a test set."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"Expected one hypothesis per reference, got {len(hypotheses)} hypotheses "
            f"and {len(references)} references."
        )
    scores = {}
    for name, metric in (
        ("bleu", BLEU()),
        ("bleu_lowercase", BLEU(lowercase=True)),
        ("chrf", CHRF()),
    ):
        scores[name] = round(metric.corpus_score(list(hypotheses), [list(references)]).score, 2)
        scores[f"{name}_signature"] = str(metric.get_signature())
    return scores


def repeats_itself(text, n=REPEAT_NGRAM, count=REPEAT_COUNT):
    """True when a word n-gram of `text` (whitespace-split words) occurs `count`+ times."""
    words = text.split()
    ngrams = collections.Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return any(seen >= count for seen in ngrams.values())


def count_repetitive(texts):
    """How many of `texts` repeat a word n-gram (`repeats_itself`)."""
    return sum(repeats_itself(text) for text in texts)


def tokenization_stats(serving, sources, references):
    """Tokens per sentence of both sides and the share of source words that become [UNK]."""
    source = serving.source_vectorizer
    source_ids = source.text_ids(np.asarray(sources, object)).flat_values.numpy()
    target_ids = serving.target_vectorizer.text_ids(np.asarray(references, object)).flat_values
    words = int(tf.size(tf.strings.split(standardize(np.asarray(sources, object))).flat_values))
    return {
        "source_tokens_per_sentence": round(len(source_ids) / len(sources), 2),
        "target_tokens_per_sentence": round(int(target_ids.shape[0]) / len(references), 2),
        "source_unknown_word_rate": round(float((source_ids == source.oov_id).sum()) / words, 5),
    }


def translation_scores(serving, sources, references, batch_size=64):
    """{"greedy": scores, "beam": scores, "examples": [...]} of a `TranslatorServing`.

    Each search also reports its time over the split (`seconds`) and how many of its
    outputs repeat themselves (`repetitive_outputs`).
    """
    results = {}
    translations = {}
    for method, beam in (("greedy", False), ("beam", True)):
        start = time.perf_counter()
        translations[method] = serving.translate_texts(sources, beam=beam, batch_size=batch_size)
        seconds = time.perf_counter() - start
        results[method] = corpus_scores(translations[method], references)
        results[method]["seconds"] = round(seconds, 1)
        results[method]["repetitive_outputs"] = count_repetitive(translations[method])
    results["beam"]["beam_size"] = serving.beam_size
    results["beam"]["length_penalty"] = serving.length_penalty
    results["no_repeat_ngram_size"] = serving.no_repeat_ngram_size
    results["examples"] = [
        {"source": source, "reference": reference, "greedy": greedy, "beam": beam}
        for source, reference, greedy, beam in list(
            zip(sources, references, translations["greedy"], translations["beam"], strict=True)
        )[:SHOWN_EXAMPLES]
    ]
    return results


def count_unknown_outputs(serving, sources, batch_size=64):
    """How many greedy translations hold [UNK] when the decoder is allowed to generate it."""
    unbanned = serving.with_decoding(generate_unknown=True)
    unknown = serving.target_vectorizer.vocabulary[serving.target_vectorizer.oov_id]
    translations = unbanned.translate_texts(sources, batch_size=batch_size)
    return sum(unknown in text for text in translations)


def beam_scores(search, sources, references, batch_size=64):
    """{bleu, chrf, length_ratio, repetitive_outputs} of the beam search of a
    `TranslatorServing`, the length ratio being output over reference tokens (sacreBLEU's
    13a tokens, over the corpus)."""
    hypotheses = search.translate_texts(sources, beam=True, batch_size=batch_size)
    bleu = BLEU().corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(CHRF().corpus_score(hypotheses, [references]).score, 2),
        "length_ratio": round(bleu.sys_len / max(bleu.ref_len, 1), 3),
        "repetitive_outputs": count_repetitive(hypotheses),
    }


def decoding_sweep(serving, sources, references, setting, values, label, batch_size=64):
    """Beam search of `sources` with the decoding `setting` (a `with_decoding` argument) at
    each of `values`: [{label: value, bleu, chrf, length_ratio, repetitive_outputs}]."""
    return [
        {
            label: value,
            **beam_scores(
                serving.with_decoding(**{setting: value}), sources, references, batch_size
            ),
        }
        for value in values
    ]


def best_setting(sweep, label):
    """The `label` value of the sweep's highest BLEU; the smallest among equal scores."""
    return min(sweep, key=lambda row: (-row["bleu"], row[label]))[label]


def length_penalty_sweep(serving, sources, references, alphas=LENGTH_PENALTIES, batch_size=64):
    """[{alpha, bleu, chrf, length_ratio, repetitive_outputs}] of a beam at each alpha."""
    return decoding_sweep(
        serving, sources, references, "length_penalty", alphas, "alpha", batch_size
    )


def best_length_penalty(sweep):
    """The alpha of the sweep's highest BLEU; the smallest alpha among equal scores."""
    return best_setting(sweep, "alpha")


def no_repeat_sweep(serving, sources, references, sizes=NO_REPEAT_NGRAM_SIZES, batch_size=64):
    """[{no_repeat_ngram_size, bleu, chrf, length_ratio, repetitive_outputs}] of a beam with
    each n-gram ban of `sizes` (0: none)."""
    label = "no_repeat_ngram_size"
    return decoding_sweep(serving, sources, references, label, sizes, label, batch_size)


def best_no_repeat(sweep):
    """The n-gram ban of the sweep's highest BLEU; the smallest (0: none) among equal scores."""
    return best_setting(sweep, "no_repeat_ngram_size")


def plot_attention(weights, source_tokens, target_tokens, path, title=""):
    """A heatmap of attention weights (target tokens x source tokens) as a PNG, on the
    fixed scale 0..1 of a softmax (colour bar beside it)."""
    weights = np.asarray(weights)[: len(target_tokens), : len(source_tokens)]
    width = max(4.0, 0.35 * len(source_tokens) + 2.0)
    height = max(3.0, 0.3 * len(target_tokens) + 1.5)
    figure, axes = plots.plt.subplots(figsize=(width, height))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    axes.set_yticks(range(len(target_tokens)), target_tokens)
    axes.set_xlabel("source token (attended)")
    axes.set_ylabel("generated token")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.04, label="attention weight")
    return plots.save_figure(figure, path)


def evaluate_translator(run, serving, config, workdir, output_dir, loss_title):
    """The metrics both translators report on the test split (first `eval_examples` pairs).

    (metrics, sources): teacher-forcing loss and token accuracy, BLEU/chrF of greedy and
    beam translations, the token efficiency of the run, and the loss curves figure.
    """
    dataset = run["dataset"]
    sources, references = read_pairs(dataset, "test", config.eval_examples)
    vectorizers = (serving.source_vectorizer, serving.target_vectorizer)
    test_examples = training.split_examples(
        dataset, "test", vectorizers, config, config.eval_examples
    )
    loss, accuracy = serving.model.evaluate(
        training.evaluation_batches(test_examples, config), verbose=0
    )
    metrics = {
        "model": run["model"],
        "preset": run["preset"],
        "dataset": dataset,
        "test_pairs": len(sources),
        "test_loss": round(float(loss), 4),
        "test_token_accuracy": round(float(accuracy), 4),
        **translation_scores(serving, sources, references, config.batch_size),
        "repetitive_references": count_repetitive(references),
        "unknown_outputs_unbanned": count_unknown_outputs(serving, sources, config.batch_size),
        **tokenization_stats(serving, sources, references),
    }
    efficiency_path = os.path.join(workdir, training.TOKEN_EFFICIENCY_FILE)
    if os.path.exists(efficiency_path):
        with open(efficiency_path) as file:
            metrics["token_efficiency"] = {
                name: round(value, 3) for name, value in json.load(file).items()
            }
    metrics["figures"] = {}
    history = os.path.join(workdir, fit.HISTORY_FILE)
    if os.path.exists(history):
        metrics["figures"]["loss_curves"] = plots.plot_loss_curves(
            history, os.path.join(output_dir, LOSS_CURVES_PNG), loss_title
        )
    return metrics, sources


def write_metrics(metrics, output_dir):
    """Writes metrics.json into `output_dir`; returns `metrics`."""
    with open(os.path.join(output_dir, METRICS_FILE), "w") as file:
        json.dump(metrics, file, indent=2, ensure_ascii=False)
    return metrics
