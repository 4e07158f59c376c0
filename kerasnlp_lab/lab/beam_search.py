"""docs/beam_search.md: the beam's n-best of a verse, the length penalty, and what BLEU counts.

Three parts:
- the n-best of one test verse from the release Transformer (`nbest`: the hypotheses of
  `decoding.translation.translate_nbest` with their scores, lengths and log-probabilities),
  at the release's length penalty and without one;
- BLEU worked by hand (`sentence_statistics`, `bleu_from_statistics`): the clipped n-gram
  matches, the precisions, the brevity penalty and the geometric mean of one sentence, and a
  corpus as sums of counts over its sentences, on sacreBLEU's 13a tokens; tests check that
  the scores equal sacreBLEU's;
- the experiment (`run_experiment`, `kerasnlp-lab beam-search`, `make beam-search`): BLEU,
  chrF, output length, repetitive outputs and decoding seconds of a translator on the test
  split for several beam sizes and length penalties, into docs/beam_search.json. It reports
  every setting and picks none: choosing one by these numbers would tune on the test split.

`make` runs the model for the n-best and the BLEU examples (a few verses, seconds) and draws
the experiment's figures, table and findings from docs/beam_search.json; in the tests' quick
mode it runs the experiment on a few pairs instead.
"""

import collections
import json
import math
import os
import time

import tensorflow as tf
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from kerasnlp_lab.decoding.beam import length_penalty
from kerasnlp_lab.decoding.translation import translate_nbest
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import plots, translation
from kerasnlp_lab.evaluation.length_buckets import TRANSLATORS
from kerasnlp_lab.export.translator import trim_padding
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.models import transformer

RESULTS_FILE = "beam_search.json"
SIZES_PNG = "beam_search_sizes.png"
ALPHA_PNG = "beam_search_alpha.png"
# The experiment: beam sizes at the model's own length penalty, and length penalties at
# ALPHA_BEAM_SIZE. Beam size 1 is greedy search, which has no length penalty.
BEAM_SIZES = (1, 2, 4, 8)
ALPHAS = (0.0, 0.6, 1.0, 1.5)
ALPHA_BEAM_SIZE = 4
BATCH_SIZE = 64
QUICK_PAIRS, QUICK_BEAM_SIZES, QUICK_ALPHAS = 8, (1, 2), (0.0, 1.0)
# The n-best and the BLEU example: the first test pair (John 12:33, the verse of pages 5
# and 6), its n-best at α 0, the model's α and the largest α of the experiment; the corpus
# example: the first CORPUS_PAIRS test pairs.
CORPUS_PAIRS = 5
MAX_ORDER = 4  # BLEU's n-grams: n = 1..4
TOKENIZER = Tokenizer13a()


# The experiment.


def settings(beam_sizes, alphas, model_alpha, alpha_beam_size=ALPHA_BEAM_SIZE):
    """[(beam size, alpha)]: each beam size at `model_alpha`, then each alpha at
    `alpha_beam_size`, without repeats; greedy (beam size 1) has alpha None."""
    if alpha_beam_size < 2:
        raise UserError(
            f"The length penalties need a beam of 2 or more (beam size 1 is greedy search, "
            f"which has no length penalty); got {alpha_beam_size}."
        )
    found = [(size, None if size == 1 else model_alpha) for size in beam_sizes]
    found += [(alpha_beam_size, alpha) for alpha in alphas]
    return list(dict.fromkeys(found))


def decode_texts(search, texts, beam_size):
    """The translations of `texts` by a `TranslatorServing`: greedy for beam size 1, else its
    beam search, in batches of BATCH_SIZE in their order."""
    return search.translate_texts(texts, beam=beam_size > 1, batch_size=BATCH_SIZE)


def mean_words(texts):
    return sum(len(text.split()) for text in texts) / len(texts)


def measure_setting(serving, sources, references, beam_size, alpha, metrics):
    """{beam_size, alpha, bleu, chrf, length_ratio, brevity_penalty, precisions,
    mean_output_words, repetitive_outputs, seconds} of one decoding of `sources`.

    Seconds: the decoding alone, after one traced call on the first source. `metrics`:
    sacreBLEU's (BLEU, CHRF)."""
    search = serving.with_decoding(beam_size=beam_size, length_penalty=alpha or 0.0)
    decode_texts(search, sources[:1], beam_size)  # traces
    start = time.perf_counter()
    hypotheses = decode_texts(search, sources, beam_size)
    seconds = time.perf_counter() - start
    bleu_metric, chrf_metric = metrics
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    return {
        "beam_size": beam_size,
        "alpha": alpha,
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf_metric.corpus_score(hypotheses, [references]).score, 2),
        "length_ratio": round(bleu.sys_len / bleu.ref_len, 3),
        "brevity_penalty": round(bleu.bp, 4),
        "precisions": [round(precision, 2) for precision in bleu.precisions],
        "mean_output_words": round(mean_words(hypotheses), 2),
        "repetitive_outputs": translation.count_repetitive(hypotheses),
        "seconds": round(seconds, 1),
    }


def run_experiment(
    model,
    workdir,
    limit=None,
    split="test",
    beam_sizes=BEAM_SIZES,
    alphas=ALPHAS,
    alpha_beam_size=ALPHA_BEAM_SIZE,
):
    """One model's results as docs/beam_search.json holds them: every setting of `settings`
    on `split` (its first `limit` pairs), one after the other. The page's runs read the test
    split and choose nothing; a setting is chosen on the validation split."""
    if model not in TRANSLATORS:
        raise UserError(
            f"Beam search is for the translators ({', '.join(TRANSLATORS)}); got {model}."
        )
    exporter, model_module = TRANSLATORS[model]
    start = time.perf_counter()
    run, serving = exporter.load_serving(workdir)
    config = model_module.config_from_dict(run["config"])
    sources, references = translation.read_pairs(run["dataset"], split, limit)
    metrics = BLEU(), CHRF()
    runs = [
        measure_setting(serving, sources, references, beam_size, alpha, metrics)
        for beam_size, alpha in settings(beam_sizes, alphas, config.length_penalty, alpha_beam_size)
    ]
    return {
        "model": model,
        "workdir": workdir,
        "preset": run["preset"],
        "dataset": run["dataset"],
        "split": split,
        "pairs": len(sources),
        "limit": limit,
        "model_beam_size": config.beam_size,
        "model_alpha": config.length_penalty,
        "alpha_beam_size": alpha_beam_size,
        "batch_size": BATCH_SIZE,
        "max_output_length": serving.max_output_length,
        "mean_reference_words": round(mean_words(references), 2),
        "repetitive_references": translation.count_repetitive(references),
        "bleu_signature": str(metrics[0].get_signature()),
        "chrf_signature": str(metrics[1].get_signature()),
        "cpu_count": os.cpu_count(),
        "runs": runs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def read_results(path):
    """{model: results} of a results file ({} when it does not exist yet)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_result(result, path):
    """Adds (or replaces) one model's `result` in the JSON file `path`."""
    results = read_results(path)
    results[result["model"]] = result
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1, ensure_ascii=False)
        file.write("\n")
    return path


# The n-best of one verse.


def nbest(serving, text, beam_size, alpha):
    """The beam's `beam_size` hypotheses of one source text, best first: [{translation,
    length, ended, log_prob, penalty, score}].

    `length` counts the generated tokens, [END] included (the length the penalty reads);
    `score` is the beam's ranking, log_prob / penalty, so `log_prob` = score · penalty: the
    sum of the log-probabilities of the tokens (over the tokens the decoder may generate).
    """
    tokens, scores = translate_nbest(
        serving.translator,
        serving.source_ids(tf.constant([text], tf.string)),
        beam_size=beam_size,
        length_penalty_alpha=alpha,
        **serving.search_ids(),
    )  # (1, K, L), (1, K)
    vectorizer = serving.target_vectorizer
    tokens = tokens[0]
    lengths = tf.reduce_sum(tf.cast(tokens != vectorizer.pad_id, tf.int32), axis=1)  # (K,)
    ended = tf.reduce_any(tokens == vectorizer.end_id, axis=1)  # (K,)
    penalties = length_penalty(lengths, alpha)  # (K,)
    texts = vectorizer.detokenize(trim_padding(tokens, vectorizer.pad_id))
    return [
        {
            "translation": translation_text.decode("utf-8"),
            "length": int(length),
            "ended": bool(end),
            "log_prob": float(score * penalty),
            "penalty": float(penalty),
            "score": float(score),
        }
        for translation_text, length, end, penalty, score in zip(
            texts.numpy(),
            lengths.numpy(),
            ended.numpy(),
            penalties.numpy(),
            scores[0].numpy(),
            strict=True,
        )
    ]


def nbest_table(hypotheses, reference):
    """Markdown: one row per hypothesis, best first, with its sentence BLEU (ours)."""
    rows = [
        (
            rank,
            hypothesis["translation"],
            hypothesis["length"] if hypothesis["ended"] else f"{hypothesis['length']} (no [END])",
            f"{hypothesis['log_prob']:.2f}",
            f"{hypothesis['penalty']:.3f}",
            f"{hypothesis['score']:.3f}",
            f"{sentence_bleu(hypothesis['translation'], reference)['score']:.1f}",
        )
        for rank, hypothesis in enumerate(hypotheses, start=1)
    ]
    header = ("rank", "translation", "tokens n", "log P", "lp(n)", "score", "sentence BLEU")
    return markdown_table(header, rows)


def nbest_section(serving, source, reference, beam_size, alphas):
    """Markdown: the verse and its greedy translation, then the n-best table at each length
    penalty of `alphas`."""
    greedy = serving.translate_texts([source])[0]
    parts = [f"Source: {source}\n\nReference: {reference}\n\nGreedy (beam size 1): {greedy}"]
    for alpha in alphas:
        parts.append(
            f"Beam size {beam_size}, α = {alpha:g}:\n\n"
            f"{nbest_table(nbest(serving, source, beam_size, alpha), reference)}"
        )
    return "\n\n".join(parts)


# BLEU worked by hand.


def bleu_tokens(text):
    """`text` as sacreBLEU's 13a tokenizer splits it (trailing spaces dropped first)."""
    return TOKENIZER(text.rstrip()).split()


def ngram_counts(tokens, n):
    """Counter of the n-grams (tuples) of a token list."""
    return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def clipped_matches(hypothesis_tokens, reference_tokens, n):
    """{n-gram: (times in the hypothesis, times matched)}: an n-gram of the hypothesis
    matches at most as many times as it occurs in the reference."""
    reference = ngram_counts(reference_tokens, n)
    return {
        ngram: (count, min(count, reference[ngram]))
        for ngram, count in ngram_counts(hypothesis_tokens, n).items()
    }


def sentence_statistics(hypothesis, reference):
    """BLEU's counts of one sentence: {hypothesis_length, reference_length, matches, totals},
    matches[n - 1] the clipped matches and totals[n - 1] the hypothesis's n-grams, n = 1..4."""
    hypothesis_tokens, reference_tokens = bleu_tokens(hypothesis), bleu_tokens(reference)
    matches, totals = [], []
    for n in range(1, MAX_ORDER + 1):
        counted = clipped_matches(hypothesis_tokens, reference_tokens, n).values()
        matches.append(sum(matched for _, matched in counted))
        totals.append(sum(count for count, _ in counted))
    return {
        "hypothesis_length": len(hypothesis_tokens),
        "reference_length": len(reference_tokens),
        "matches": matches,
        "totals": totals,
    }


def add_statistics(statistics):
    """The counts of a corpus: each count summed over its sentences."""
    return {
        "hypothesis_length": sum(entry["hypothesis_length"] for entry in statistics),
        "reference_length": sum(entry["reference_length"] for entry in statistics),
        "matches": [sum(entry["matches"][n] for entry in statistics) for n in range(MAX_ORDER)],
        "totals": [sum(entry["totals"][n] for entry in statistics) for n in range(MAX_ORDER)],
    }


def brevity_penalty(hypothesis_length, reference_length):
    """1 for a hypothesis at least as long as the reference, else exp(1 − r / c)."""
    if hypothesis_length >= reference_length:
        return 1.0
    return math.exp(1 - reference_length / hypothesis_length) if hypothesis_length else 0.0


def bleu_from_statistics(statistics):
    """{precisions, brevity_penalty, score} from BLEU's counts, as sacreBLEU's default BLEU
    (smoothing "exp") computes them.

    p_n = 100 · matches / totals. An order with no match gets 100 / (2^k · totals) instead,
    k counting such orders (1 for the first); the score is 0 when nothing matches, or when
    the hypothesis is too short to have n-grams of some order. BLEU = BP · exp(Σ ln p_n / 4).
    """
    penalty = brevity_penalty(statistics["hypothesis_length"], statistics["reference_length"])
    precisions = [0.0] * MAX_ORDER
    if not any(statistics["matches"]):
        return {"precisions": precisions, "brevity_penalty": penalty, "score": 0.0}
    smoothing = 1
    for index, (matches, total) in enumerate(
        zip(statistics["matches"], statistics["totals"], strict=True)
    ):
        if total == 0:
            break
        if matches == 0:
            smoothing *= 2
            precisions[index] = 100.0 / (smoothing * total)
        else:
            precisions[index] = 100.0 * matches / total
    score = 0.0
    if all(precisions):
        score = penalty * math.exp(sum(math.log(p) for p in precisions) / MAX_ORDER)
    return {"precisions": precisions, "brevity_penalty": penalty, "score": score}


def sentence_bleu(hypothesis, reference):
    """Our BLEU of one sentence: its counts and `bleu_from_statistics`."""
    return bleu_from_statistics(sentence_statistics(hypothesis, reference))


def shown_ngram(ngram, count, matched):
    """`a b` (or `a b` 2 of 3 when clipped, ×2 when it matched twice)."""
    text = f"`{' '.join(ngram)}`"
    if matched < count:
        return f"{text} {matched} of {count}"
    return f"{text} ×{count}" if count > 1 else text


def sentence_section(hypothesis, reference):
    """Markdown: the 13a tokens of both, one row per order n (n-grams, clipped matches, the
    matched n-grams, the precision), the brevity penalty and the geometric mean; our score
    beside sacreBLEU's `sentence_score`."""
    hypothesis_tokens, reference_tokens = bleu_tokens(hypothesis), bleu_tokens(reference)
    statistics = sentence_statistics(hypothesis, reference)
    result = bleu_from_statistics(statistics)
    rows = []
    smoothed = 0
    for n in range(1, MAX_ORDER + 1):
        counted = clipped_matches(hypothesis_tokens, reference_tokens, n)
        matches, total = statistics["matches"][n - 1], statistics["totals"][n - 1]
        precision = result["precisions"][n - 1]
        shown = f"{precision:.2f}"
        if matches == 0 and total:
            smoothed += 1
            shown = f"{precision:.2f} = 100 / (2^{smoothed} · {total}) (no match: smoothed)"
        matched = [shown_ngram(ngram, *counts) for ngram, counts in counted.items() if counts[1]]
        rows.append((n, total, matches, ", ".join(matched) or "none", shown))
    c, r = statistics["hypothesis_length"], statistics["reference_length"]
    penalty = (
        f"c = {c} ≥ r = {r}: BP = 1"
        if c >= r
        else f"c = {c} < r = {r}: BP = exp(1 − {r}/{c}) = {result['brevity_penalty']:.4f}"
    )
    if all(result["precisions"]):
        logs = " + ".join(f"ln {p:.2f}" for p in result["precisions"])
        geometric = math.exp(sum(math.log(p) for p in result["precisions"]) / MAX_ORDER)
        mean = f"exp(({logs}) / 4) = {geometric:.4f}"
    else:
        mean = "0 (no n-gram matches, or the hypothesis has no n-grams of some order)"
    sacrebleu_score = BLEU().sentence_score(hypothesis, [reference]).score
    header = ("n", "hypothesis n-grams", "matched, clipped", "the matched n-grams", "p_n (%)")
    return (
        f"Hypothesis, {c} tokens: {' '.join(f'`{t}`' for t in hypothesis_tokens)}\n\n"
        f"Reference, {r} tokens: {' '.join(f'`{t}`' for t in reference_tokens)}\n\n"
        f"{markdown_table(header, rows)}\n\n"
        f"Brevity penalty: {penalty}.\n\n"
        f"Geometric mean of the precisions: {mean}.\n\n"
        f"BLEU = BP · mean = {result['score']:.4f} (ours); sacreBLEU's "
        f"`BLEU().sentence_score`: {sacrebleu_score:.4f}."
    )


def corpus_section(hypotheses, references):
    """Markdown: the pairs, then each sentence's counts and BLEU, their sums, and the corpus
    BLEU of the sums beside sacreBLEU's `corpus_score` and the mean of the sentence BLEUs."""
    pairs = markdown_table(
        ("#", "reference", "translation"),
        [
            (row, reference, hypothesis)
            for row, (hypothesis, reference) in enumerate(
                zip(hypotheses, references, strict=True), start=1
            )
        ],
    )
    statistics = [
        sentence_statistics(hyp, ref) for hyp, ref in zip(hypotheses, references, strict=True)
    ]

    def counts(entry):
        return [
            entry["hypothesis_length"],
            entry["reference_length"],
            *(f"{m}/{t}" for m, t in zip(entry["matches"], entry["totals"], strict=True)),
        ]

    sentence_scores = [bleu_from_statistics(entry)["score"] for entry in statistics]
    rows = [
        (row, *counts(entry), f"{score:.2f}")
        for row, (entry, score) in enumerate(zip(statistics, sentence_scores, strict=True), 1)
    ]
    total = add_statistics(statistics)
    corpus = bleu_from_statistics(total)
    rows.append(("sum", *counts(total), f"**{corpus['score']:.2f}**"))
    header = ("#", "c", "r", "n = 1", "n = 2", "n = 3", "n = 4", "BLEU")
    sacrebleu_score = BLEU().corpus_score(hypotheses, [references]).score
    precisions = ", ".join(f"{p:.2f}" for p in corpus["precisions"])
    return (
        f"{pairs}\n\n{markdown_table(header, rows)}\n\n"
        f"c, r: hypothesis and reference tokens; n = k: clipped matches / hypothesis k-grams. "
        f"The sum row's BLEU is the corpus BLEU of the summed counts (precisions {precisions}, "
        f"BP {corpus['brevity_penalty']:.4f}): {corpus['score']:.4f} (ours); sacreBLEU's "
        f"`BLEU().corpus_score`: {sacrebleu_score:.4f}. The mean of the sentence BLEUs is "
        f"{sum(sentence_scores) / len(sentence_scores):.4f}."
    )


# The experiment's table and figures.

MODEL_LABELS = {"transformer_translator": "Transformer", "attention_nmt": "GRU + attention"}


def model_label(result):
    return f"{MODEL_LABELS.get(result['model'], result['model'])}, {result['pairs']:,} pairs"


def shown_pairs(result):
    """Says "all 1,009 pairs of the test split" or "the first 300 pairs of the test split"."""
    split = result["split"]
    if result["limit"] is None:
        return f"all {result['pairs']:,} pairs of the {split} split"
    return f"the first {result['pairs']:,} pairs of the {split} split"


def shown_alpha(alpha):
    return "— (greedy)" if alpha is None else f"{alpha:g}"


def size_runs(result):
    """The runs of each beam size at the model's own length penalty (greedy for size 1)."""
    return [run for run in result["runs"] if run["alpha"] in (None, result["model_alpha"])]


def alpha_runs(result):
    """The runs of each length penalty at the experiment's beam size, by α."""
    runs = [run for run in result["runs"] if run["beam_size"] == result["alpha_beam_size"]]
    return sorted(runs, key=lambda run: run["alpha"])


def results_section(results):
    """Markdown: one table per model (a row per setting), then what was measured how."""
    parts = []
    for result in results.values():
        rows = [
            (
                run["beam_size"],
                shown_alpha(run["alpha"]),
                f"{run['bleu']:.2f}",
                f"{run['chrf']:.2f}",
                f"{run['brevity_penalty']:.3f}",
                f"{run['length_ratio']:.3f}",
                f"{run['mean_output_words']:.1f}",
                run["repetitive_outputs"],
                f"{run['seconds']:.0f}",
            )
            for run in result["runs"]
        ]
        header = (
            "beam size",
            "α",
            "BLEU",
            "chrF",
            "BP",
            "length ratio",
            "words per output",
            "repetitive outputs",
            "seconds",
        )
        parts.append(
            f"**{model_label(result)}** ({shown_pairs(result)}; references: "
            f"{result['mean_reference_words']:.1f} words on average, "
            f"{result['repetitive_references']} repetitive; the model's own setting: beam "
            f"{result['model_beam_size']}, α {result['model_alpha']:g}; "
            f"{result['seconds'] / 60:.1f} minutes in all):\n\n{markdown_table(header, rows)}"
        )
    first = next(iter(results.values()))
    parts.append(
        f"BLEU and chrF: sacreBLEU (`{first['bleu_signature']}`, `{first['chrf_signature']}`). "
        "BP: BLEU's brevity penalty; length ratio: output tokens / reference tokens (13a "
        "tokens, over the corpus). Words per output: whitespace-separated words. Repetitive: "
        f"outputs in which a word {translation.REPEAT_NGRAM}-gram occurs "
        f"{translation.REPEAT_COUNT} times or more. Seconds: decoding alone, in "
        f"batches of {first['batch_size']} pairs in the split's order, on "
        f"{first['cpu_count']} CPU cores shared with other work."
    )
    return "\n\n".join(parts)


def setting_name(run):
    """A run's setting, as "greedy" or "beam 4, α 1"."""
    return "greedy" if run["alpha"] is None else f"beam {run['beam_size']}, α {run['alpha']:g}"


def arrows(runs, key, digits):
    """`runs`' values of `key`, rounded to `digits`, joined by arrows."""
    return " → ".join(f"{run[key]:.{digits}f}" for run in runs)


def best_run(result, key):
    return max(result["runs"], key=lambda run: run[key])


def model_findings(result):
    """Markdown bullets for one model: the beam against greedy, the beam size, the length
    penalty at the experiment's beam size, the settings the metrics rank first. Every number
    from `result`; none chosen by hand."""
    runs = result["runs"]
    greedy = next((run for run in runs if run["beam_size"] == 1), None)
    own_setting = (result["model_beam_size"], result["model_alpha"])
    own = next((run for run in runs if (run["beam_size"], run["alpha"]) == own_setting), None)
    lines = []
    if greedy and own:
        lines.append(
            f"The model's own setting ({setting_name(own)}) against greedy: BLEU "
            f"{own['bleu'] - greedy['bleu']:+.2f} ({own['bleu']:.2f} against "
            f"{greedy['bleu']:.2f}), chrF {own['chrf'] - greedy['chrf']:+.2f}, length ratio "
            f"{own['length_ratio']:.3f} against {greedy['length_ratio']:.3f}, repetitive "
            f"outputs {own['repetitive_outputs']} against {greedy['repetitive_outputs']}, "
            f"{own['seconds'] / greedy['seconds']:.1f}× "
            "greedy's decoding time."
        )
    sizes = size_runs(result)
    if len(sizes) > 1:
        lines.append(
            f"Beam size {' → '.join(str(run['beam_size']) for run in sizes)} (1: greedy; "
            f"α {result['model_alpha']:g}): BLEU {arrows(sizes, 'bleu', 2)}, repetitive outputs "
            f"{arrows(sizes, 'repetitive_outputs', 0)}, decoding seconds "
            f"{arrows(sizes, 'seconds', 0)}."
        )
    alphas = alpha_runs(result)
    if len(alphas) > 1:
        shown = " → ".join(f"{run['alpha']:g}" for run in alphas)
        lines.append(
            f"Length penalty at beam {result['alpha_beam_size']}, α {shown}: length ratio "
            f"{arrows(alphas, 'length_ratio', 3)}, words per output "
            f"{arrows(alphas, 'mean_output_words', 1)} (references: "
            f"{result['mean_reference_words']:.1f}), repetitive outputs "
            f"{arrows(alphas, 'repetitive_outputs', 0)}, BLEU {arrows(alphas, 'bleu', 2)}, "
            f"chrF {arrows(alphas, 'chrf', 2)}, decoding seconds {arrows(alphas, 'seconds', 0)}."
        )
    bleu, chrf = best_run(result, "bleu"), best_run(result, "chrf")
    agree = "the same setting" if bleu is chrf else "not the same setting"
    lines.append(
        f"Highest BLEU: {setting_name(bleu)} ({bleu['bleu']:.2f}); highest chrF: "
        f"{setting_name(chrf)} ({chrf['chrf']:.2f}): {agree}."
    )
    return "\n".join(f"  - {line}" for line in lines)


def findings(results):
    """Markdown: `model_findings` of each model of docs/beam_search.json."""
    return "\n".join(
        f"- **{model_label(result)}**\n{model_findings(result)}" for result in results.values()
    )


def plot_beam_sizes(results, path):
    """BLEU, chrF and decoding seconds against the beam size, one line per model."""
    figure, axes = plots.plt.subplots(1, 3, figsize=(8.8, 3.6), layout="constrained")
    for result in results.values():
        runs = size_runs(result)
        sizes = [run["beam_size"] for run in runs]
        for axis, key in zip(axes, ("bleu", "chrf", "seconds"), strict=True):
            values = [run[key] for run in runs]
            if key == "seconds":  # per 100 pairs, so models measured on other counts compare
                values = [value * 100 / result["pairs"] for value in values]
            alpha = f"α {result['model_alpha']:g}"
            axis.plot(sizes, values, marker="o", label=f"{model_label(result)}, {alpha}")
    sizes = sorted({run["beam_size"] for result in results.values() for run in result["runs"]})
    for axis, title in zip(axes, ("BLEU", "chrF", "decoding seconds per 100 pairs"), strict=True):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sizes, [str(size) for size in sizes])
        axis.minorticks_off()
        axis.set_xlabel("beam size (1: greedy)")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    return plots.save_figure(figure, path)


def per_100_pairs(result, run):
    return run["repetitive_outputs"] * 100 / result["pairs"]


def plot_alphas(results, path):
    """The length ratio, the repetitive outputs (per 100 pairs) and BLEU against the length
    penalty's α at the experiment's beam size, one line per model; its greedy run dashed."""
    figure, axes = plots.plt.subplots(1, 3, figsize=(8.8, 3.7), layout="constrained")
    values = {
        "length ratio (output / reference)": lambda result, run: run["length_ratio"],
        "repetitive outputs / 100 pairs": per_100_pairs,
        "BLEU": lambda result, run: run["bleu"],
    }
    for result in results.values():
        runs = alpha_runs(result)
        greedy = next((run for run in result["runs"] if run["beam_size"] == 1), None)
        for axis, value in zip(axes, values.values(), strict=True):
            (line,) = axis.plot(
                [run["alpha"] for run in runs],
                [value(result, run) for run in runs],
                marker="o",
                label=f"{model_label(result)}, beam {result['alpha_beam_size']}",
            )
            if greedy:
                axis.axhline(
                    value(result, greedy), color=line.get_color(), linestyle="--", linewidth=1
                )
    axes[0].axhline(1.0, color="gray", linestyle=":")
    for axis, title in zip(axes, values, strict=True):
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("α of lp(n) = ((5 + n) / 6)^α")
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plots.plt.Line2D([], [], color="gray", linestyle="--", linewidth=1))
    labels.append("greedy (dashed, the model's colour)")
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    return plots.save_figure(figure, path)


def make(lab):
    """The n-best and BLEU sections from the Transformer of `lab` and the experiment's
    figures and table from docs/beam_search.json (quick mode: a few test pairs of the
    Transformer instead)."""
    folder = lab.folders[transformer.MODEL_NAME]
    if lab.quick:
        results = {
            transformer.MODEL_NAME: run_experiment(
                transformer.MODEL_NAME,
                folder,
                limit=QUICK_PAIRS,
                beam_sizes=QUICK_BEAM_SIZES,
                alphas=QUICK_ALPHAS,
                alpha_beam_size=QUICK_BEAM_SIZES[-1],
            )
        }
    else:
        results = read_results(os.path.join(lab.docs_dir, RESULTS_FILE))
        if not results:
            raise UserError(
                f"No results in {lab.docs_dir}/{RESULTS_FILE}: run `make beam-search` first."
            )
    exporter, model_module = TRANSLATORS[transformer.MODEL_NAME]
    run, serving = exporter.load_serving(folder)
    config = model_module.config_from_dict(run["config"])
    sources, references = translation.read_pairs(run["dataset"], "test", CORPUS_PAIRS)
    hypotheses = serving.translate_texts(sources, beam=True)
    alphas = sorted({0.0, config.length_penalty, max(ALPHAS)})
    figures = [
        plot_beam_sizes(results, lab.figure(SIZES_PNG)),
        plot_alphas(results, lab.figure(ALPHA_PNG)),
    ]
    return figures, {
        "nbest": nbest_section(serving, sources[0], references[0], config.beam_size, alphas),
        "sentence": sentence_section(hypotheses[0], references[0]),
        "corpus": corpus_section(hypotheses, references),
        "results": results_section(results),
        "findings": findings(results),
    }
