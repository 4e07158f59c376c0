"""docs/multi_head_attention.md: what each head of the release Transformer's encoder attends
to, and decoding time against output length with and without the key/value cache."""

import time

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.evaluation import plots, translation
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.lab.context import markdown_table
from kerasnlp_lab.models import transformer

OFFSETS_PNG = "multi_head_offsets.png"
CACHE_PNG = "kv_cache_decoding_time.png"
MAX_OFFSET = 5  # offsets -5..5 get a column each; the rest share one
# The decoding timing: a random `small` model, sources of SOURCE_LENGTH ids, exactly N tokens.
SOURCE_LENGTH = 40
START_ID = 2
NEVER_ID = -1  # as end id: no row stops early, every run generates exactly N tokens
TIMING_SEED = 0


def offset_profile(weights, mask):
    """Mean attention weight per relative offset (key - query) of each head.

    weights: (B, H, S, S) of one layer; mask: (B, S) real tokens. Returns (H, 2 R + 2):
    offsets -R..R, then everything farther, averaged over the real query positions.
    """
    length = weights.shape[-1]
    offsets = np.arange(length)[None, :] - np.arange(length)[:, None]  # (S, S): key - query
    columns = np.where(np.abs(offsets) <= MAX_OFFSET, offsets + MAX_OFFSET, 2 * MAX_OFFSET + 1)
    one_hot = np.eye(2 * MAX_OFFSET + 2)[columns]  # (S, S, C)
    per_query = np.einsum("bhts,tsc->bhtc", weights, one_hot)  # (B, H, S, C)
    queries = mask[:, None, :, None].astype(weights.dtype)  # (B, 1, S, 1)
    return (per_query * queries).sum(axis=(0, 2)) / queries.sum(axis=(0, 2))  # (H, C)


def entropy_bits(weights, mask):
    """Mean entropy (bits) of each head's attention rows over the real queries: (H,)."""
    logs = np.log2(np.where(weights > 0, weights, 1.0))
    entropy = -(weights * logs).sum(axis=-1)  # (B, H, S)
    queries = mask[:, None, :].astype(weights.dtype)
    return (entropy * queries).sum(axis=(0, 2)) / queries.sum(axis=(0, 2))


def mean_distance(weights, mask):
    """Mean attention distance sum_s w_ts |s - t| of each head over the real queries: (H,)."""
    length = weights.shape[-1]
    distance = np.abs(np.arange(length)[None, :] - np.arange(length)[:, None])  # (S, S)
    per_query = (weights * distance).sum(axis=-1)  # (B, H, S)
    queries = mask[:, None, :].astype(weights.dtype)
    return (per_query * queries).sum(axis=(0, 2)) / queries.sum(axis=(0, 2))


def head_profiles(serving, sources):
    """{profiles (layers, H, C), entropies, distances (layers, H)} of the encoder on `sources`."""
    source_ids = serving.source_ids(tf.constant(sources, tf.string))  # (B, S)
    start = tf.fill([len(sources), 2], serving.target_vectorizer.start_id)  # (B, 2), unused
    encoder_maps, _ = serving.model.attention_maps(source_ids, start)
    mask = source_ids.numpy() != serving.source_vectorizer.pad_id
    layers = [np.asarray(weights) for weights in encoder_maps]  # (B, H, S, S) each
    return {
        name: np.stack([function(weights, mask) for weights in layers])
        for name, function in (
            ("profiles", offset_profile),
            ("entropies", entropy_bits),
            ("distances", mean_distance),
        )
    }


def offset_labels():
    return [str(k) for k in range(-MAX_OFFSET, MAX_OFFSET + 1)] + [f"|k|>{MAX_OFFSET}"]


def plot_profiles(heads_summary, path, count):
    """One row per (layer, head): its mean weight at offsets -R..R (left, own colour scale)
    and beyond (right, 0..1); its entropy and mean distance in the row label."""
    profiles, entropies = heads_summary["profiles"], heads_summary["entropies"]
    layers, heads, _ = profiles.shape
    rows = profiles.reshape(layers * heads, -1)
    near, far = rows[:, :-1], rows[:, -1:]
    figure, (axes, far_axes) = plots.plt.subplots(
        1,
        2,
        figsize=(8.6, 0.3 * layers * heads + 2.6),
        width_ratios=[near.shape[1], 1.5],
        layout="constrained",
    )
    image = axes.imshow(near, cmap="viridis", vmin=0.0, vmax=float(near.max()), aspect="auto")
    axes.set_xticks(range(near.shape[1]), offset_labels()[:-1])
    axes.set_yticks(
        range(layers * heads),
        [
            f"L{layer + 1} H{head + 1}  {entropies[layer, head]:.1f} bits, "
            f"{heads_summary['distances'][layer, head]:.1f} tokens"
            for layer in range(layers)
            for head in range(heads)
        ],
        fontsize=9,
    )
    far_image = far_axes.imshow(far, cmap="magma", vmin=0.0, vmax=1.0, aspect="auto")
    far_axes.set_xticks([0], [offset_labels()[-1]])
    far_axes.set_yticks([])
    for boundary in range(1, layers):
        for axis in (axes, far_axes):
            axis.axhline(boundary * heads - 0.5, color="white", linewidth=1)
    axes.set_xlabel("offset k = key position - query position")
    axes.set_title(f"Encoder self-attention, mean weight by offset ({count} test verses)")
    figure.colorbar(
        image,
        ax=axes,
        location="bottom",
        shrink=0.7,
        label=f"mean weight at offset k (own scale: 0 to {near.max():.2f})",
    )
    figure.colorbar(far_image, ax=far_axes, label="mean weight farther than ±5 (0 to 1)")
    return plots.save_figure(figure, path)


def head_table(heads_summary):
    """Markdown: layers as rows, heads as columns; each cell the head's favourite offset
    within -R..R with its mean weight, and its mean attention distance."""
    profiles, distances = heads_summary["profiles"], heads_summary["distances"]
    layers, heads, _ = profiles.shape
    rows = []
    for layer in range(layers):
        cells = []
        for head in range(heads):
            near = profiles[layer, head, : 2 * MAX_OFFSET + 1]
            best = int(np.argmax(near))
            cells.append(
                f"{best - MAX_OFFSET:+d}: {near[best]:.2f}, d {distances[layer, head]:.1f}"
            )
        rows.append((f"layer {layer + 1}", *cells))
    return markdown_table(("", *(f"head {head + 1}" for head in range(heads))), rows)


def decoding_seconds(preset, lengths, batch_sizes, repeats):
    """{(batch, cached): [seconds per length]} of greedy decoding, random weights.

    Every search is traced first; then the runs go round all of them `repeats` times, and
    each time is the fastest of its runs: the least disturbed by other work on the machine.
    """
    keras.utils.set_random_seed(TIMING_SEED)
    config = transformer.get_config(
        preset, max_target_length=max(lengths) + 1, max_source_length=SOURCE_LENGTH
    )
    model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
    rng = np.random.default_rng(TIMING_SEED)
    sources = {
        batch: tf.constant(
            rng.integers(4, config.source_vocab_size, (batch, SOURCE_LENGTH)), tf.int32
        )
        for batch in batch_sizes
    }
    searches = {
        (cached, length): tf.function(
            lambda source_ids, length=length, cached=cached: transformer.generate(
                model, source_ids, length, START_ID, NEVER_ID, cached=cached
            )
        )
        for cached in (False, True)
        for length in lengths
    }
    runs = [(batch, cached, length) for batch in batch_sizes for cached, length in searches]
    for batch, cached, length in runs:
        searches[cached, length](sources[batch])  # traces
    times = {run: [] for run in runs}
    for _ in range(repeats):
        for batch, cached, length in runs:
            start = time.perf_counter()
            searches[cached, length](sources[batch]).numpy()
            times[batch, cached, length].append(time.perf_counter() - start)
    return config, {
        (batch, cached): [min(times[batch, cached, length]) for length in lengths]
        for batch in batch_sizes
        for cached in (False, True)
    }


def plot_timing(lengths, results, path, title):
    figure, axes = plots.plt.subplots(figsize=(6, 4))
    for (batch, cached), seconds in sorted(results.items()):
        axes.plot(
            lengths,
            seconds,
            marker="o",
            linestyle="-" if cached else "--",
            label=f"{'cached' if cached else 'uncached'}, batch {batch}",
        )
    axes.set_xlabel("generated tokens")
    axes.set_ylabel("seconds (fastest run)")
    axes.set_xticks(lengths)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=9)
    axes.set_title(title.replace("`", ""), fontsize=9)  # Markdown's code quotes: not in a plot
    return plots.save_figure(figure, path)


def timing_table(lengths, results):
    batches = sorted({batch for batch, _ in results})
    header = ["generated tokens"]
    for batch in batches:
        header += [f"uncached, batch {batch}", f"cached, batch {batch}", "speed-up"]
    rows = []
    for index, length in enumerate(lengths):
        row = [length]
        for batch in batches:
            uncached, cached = results[batch, False][index], results[batch, True][index]
            row += [f"{uncached:.3f} s", f"{cached:.3f} s", f"{uncached / cached:.1f}×"]
        rows.append(row)
    return markdown_table(header, rows)


def make(lab):
    """The head-offset figure and table, and the cached/uncached decoding time."""
    run, serving = exporter.load_serving(lab.folders[exporter.MODEL_NAME])
    count = lab.pick(300, 8)
    sources, _ = translation.read_pairs(run["dataset"], "test", count)
    heads_summary = head_profiles(serving, sources)
    lengths = lab.pick((16, 32, 64, 128), (4, 8))
    preset = lab.pick("small", "tiny")
    config, results = decoding_seconds(preset, lengths, lab.pick((1, 8), (1,)), lab.pick(5, 1))
    title = (
        f"Greedy decoding, random `{preset}` model ({config.num_layers} layers, d "
        f"{config.model_dim}), source {SOURCE_LENGTH} ids"
    )
    figures = [
        plot_profiles(heads_summary, lab.figure(OFFSETS_PNG), len(sources)),
        plot_timing(lengths, results, lab.figure(CACHE_PNG), title),
    ]
    return figures, {
        "heads": f"{head_table(heads_summary)}\n\nEach cell: the offset k within "
        f"±{MAX_OFFSET} with the largest mean weight, that weight, and the head's mean "
        f"attention distance d = Σ_s w_ts |s − t| in tokens ({len(sources)} test verses).",
        "timing": f"{timing_table(lengths, results)}\n\n{title}; the fastest of "
        f"{lab.pick(5, 1)} runs after one tracing run, on a 2-core CPU shared with other "
        "work: compare the columns of one table, not the seconds across machines.",
    }
