"""Transformer decoding speed: KV-cached vs uncached greedy decoding, beam-4 vs greedy.

Same weights (the `small` preset, random initialization), same sources (40 ids), exactly
`--tokens` generated tokens per row (the end id is never emitted, so no row stops early),
batch 1 and batch 32, each search traced once in a `tf.function` (no XLA) and then timed
(median of `--repeats` runs). Uncached decoding runs the whole decoder on the prefix at
every step; cached decoding runs it on the new token only, with the self-attention keys/
values in fixed-shape caches and the cross-attention keys/values computed once. The same
comparison is made for the keras_hub backbone (its own cache, `slice_update`) as a reference,
and the two backbones' times are compared directly (same sizes, same sources).

Training speed, ours vs keras_hub: `train_on_batch` on the same random batches (64 pairs of
40 source and 40 target ids, no padding) after one warm-up step, as tokens/second.

    python benchmarks/transformer.py [--tokens 64] [--repeats 3] [--train-steps 30] [--no-keras-hub]
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.models import transformer

SOURCE_LENGTH = 40
START_ID = 2
NEVER_ID = -1  # as end id: every row generates all the tokens


def seconds(function, source_ids, repeats):
    """Median wall time of `function(source_ids)` after one tracing call."""
    function(source_ids)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(source_ids).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def searches(model, tokens):
    """{name: tf.function(source_ids) -> tokens} for one model."""

    def search(cached, beam_size):
        return tf.function(
            lambda source_ids: transformer.generate(
                model, source_ids, tokens, START_ID, NEVER_ID, beam_size=beam_size, cached=cached
            )
        )

    return {
        "uncached greedy": search(False, 1),
        "cached greedy": search(True, 1),
        "cached beam-4": search(True, 4),
    }


def benchmark(backbone, tokens, repeats, batch_sizes):
    keras.utils.set_random_seed(0)
    config = transformer.get_config(
        "small", backbone=backbone, max_target_length=tokens + 1, max_source_length=SOURCE_LENGTH
    )
    model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
    functions = searches(model, tokens)
    rng = np.random.default_rng(0)
    results = {}
    for batch in batch_sizes:
        source_ids = tf.constant(
            rng.integers(4, config.source_vocab_size, (batch, SOURCE_LENGTH)), tf.int32
        )
        for name, function in functions.items():
            results[batch, name] = seconds(function, source_ids, repeats)
        same = np.array_equal(
            functions["cached greedy"](source_ids), functions["uncached greedy"](source_ids)
        )
        results[batch, "same tokens"] = same
    return results


def training_tokens_per_second(backbone, steps, batch_size=64, length=SOURCE_LENGTH):
    """Source + target tokens per second of `train_on_batch` on the small preset."""
    keras.utils.set_random_seed(0)
    config = transformer.get_config("small", backbone=backbone)
    model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
    rng = np.random.default_rng(0)
    source = rng.integers(4, config.source_vocab_size, (batch_size, length)).astype("int32")
    target = rng.integers(4, config.target_vocab_size, (batch_size, length + 1)).astype("int32")
    inputs = {"source": source, "target_in": target[:, :-1]}
    model.train_on_batch(inputs, target[:, 1:])  # traces
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, target[:, 1:])
    return steps * batch_size * 2 * length / (time.perf_counter() - start)


def report(backbone, results, tokens, batch_sizes):
    print(
        f"\nbackbone {backbone}: small preset, {tokens} generated tokens, "
        f"source {SOURCE_LENGTH} ids"
    )
    print(
        f"{'batch':>5}  {'uncached greedy':>16}  {'cached greedy':>14}  {'cached beam-4':>14}  "
        f"{'cached speed-up':>15}  {'beam-4 / greedy':>15}  same tokens"
    )
    for batch in batch_sizes:
        uncached, cached, beam = (
            results[batch, name] for name in ("uncached greedy", "cached greedy", "cached beam-4")
        )
        print(
            f"{batch:>5}  {uncached:>15.3f}s  {cached:>13.3f}s  {beam:>13.3f}s  "
            f"{uncached / cached:>14.2f}x  {beam / cached:>14.2f}x  "
            f"{results[batch, 'same tokens']}"
        )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--train-steps", type=int, default=30, help="training steps timed per backbone (0: skip)"
    )
    parser.add_argument("--no-keras-hub", action="store_true", help="our backbone only")
    args = parser.parse_args()
    backbones = ["ours"] + ([] if args.no_keras_hub else ["keras_hub"])
    results = {}
    for backbone in backbones:
        results[backbone] = benchmark(backbone, args.tokens, args.repeats, args.batch_sizes)
        report(backbone, results[backbone], args.tokens, args.batch_sizes)
    if "keras_hub" in results:
        print("\nkeras_hub time / ours time (above 1: ours is faster):")
        for batch in args.batch_sizes:
            print(
                f"  batch {batch:>2}: "
                + ", ".join(
                    f"{name} "
                    f"{results['keras_hub'][batch, name] / results['ours'][batch, name]:.2f}x"
                    for name in ("uncached greedy", "cached greedy", "cached beam-4")
                )
            )
    if args.train_steps:
        speeds = {
            backbone: training_tokens_per_second(backbone, args.train_steps)
            for backbone in backbones
        }
        print(f"\ntraining, small preset, batch 64 x ({SOURCE_LENGTH} + {SOURCE_LENGTH}) ids:")
        for backbone, speed in speeds.items():
            print(
                f"  {backbone:<10} {speed:>10,.0f} tokens/s  ({speed / speeds['ours']:.2f}x ours)"
            )


if __name__ == "__main__":
    main()
