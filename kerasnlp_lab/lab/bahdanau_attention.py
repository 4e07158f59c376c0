"""docs/bahdanau_attention.md: the release attention NMT's alignment on a test verse, read word
by word."""

import numpy as np

from kerasnlp_lab.evaluation import translation
from kerasnlp_lab.evaluation.attention_nmt import read_attention
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.lab.context import markdown_table

HEATMAP_PNG = "attention_nmt_release_heatmap.png"


def reading(weights, source_tokens, target_tokens):
    """Markdown table: each generated token, the two source tokens it weighs most, and how
    concentrated its attention is (the weight of the top token)."""
    rows = []
    for step, token in enumerate(target_tokens):
        order = np.argsort(-weights[step], kind="stable")
        first, second = order[0], order[1] if len(order) > 1 else order[0]
        rows.append(
            (
                step + 1,
                f"`{token}`",
                f"`{source_tokens[first]}`",
                f"{weights[step, first]:.2f}",
                f"`{source_tokens[second]}`",
                f"{weights[step, second]:.2f}",
            )
        )
    return markdown_table(
        ("step", "generated", "looks most at", "weight", "then at", "weight"), rows
    )


def make(lab):
    """The heatmap of the first test verse and its word-by-word reading."""
    run, serving = exporter.load_serving(lab.folders[exporter.MODEL_NAME])
    sources, references = translation.read_pairs(run["dataset"], "test", 1)
    weights, source_tokens, target_tokens = read_attention(serving, sources)[0]
    path = translation.plot_attention(
        weights, source_tokens, target_tokens, lab.figure(HEATMAP_PNG), title=sources[0][:80]
    )
    verse = (
        f"Source: {sources[0]}\n\nReference: {references[0]}\n\n"
        f"Greedy translation: {serving.translate_texts(sources)[0]}"
    )
    return [path], {
        "verse": verse,
        "reading": reading(weights, source_tokens, target_tokens),
    }
