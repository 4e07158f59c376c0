r"""Attention NMT speed, as ratios measured in one run on the same data and weights.

1. Training throughput (real source + target tokens per second, padding excluded) with
   length-bucketed batches vs random batches padded to their longest sentence vs every
   sentence padded to 128 ids; same model, pairs and batch size. Each way first trains
   untimed warm-up steps (tracing), then one timed pass over its batches.
2. Translation speed (sentences per second): greedy vs beam search (beam 4) at batch 1 and
   batch 32, through the same tf.functions as the SavedModel. With `--workdir` the trained
   model of a run is used; otherwise an untrained one, whose outputs run to the maximum
   length (so greedy and beam do the same number of steps).

    python benchmarks/attention_nmt.py [--preset small] [--pairs 2000] \
        [--workdir runs/attention_nmt]
"""

import argparse
import time

import keras
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.evaluation.translation import read_pairs
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.models import attention_nmt


def real_tokens(batches):
    """Non-pad source + target ids of a list of (source, target) batches."""
    return sum(
        int(tf.math.count_nonzero(source) + tf.math.count_nonzero(target))
        for source, target in batches
    )


def training_tokens_per_second(config, batches):
    """Trains a fresh model on `batches` (after untimed warm-up); returns real tokens/s.

    The warm-up trains on the first batch and on the same batch with one more padding
    column, so the training function is traced for any shape before the clock starts
    (otherwise a way whose first batches share a shape would retrace while timed).
    """
    keras.utils.set_random_seed(0)
    model = attention_nmt.build_model(config)
    source, target = batches[0]
    wider = (tf.pad(source, [[0, 0], [0, 1]]), tf.pad(target, [[0, 0], [0, 1]]))
    for batch in (batches[0], wider):
        model.train_on_batch(*pipeline.as_model_inputs(*batch))
    start = time.perf_counter()
    for batch in batches:
        model.train_on_batch(*pipeline.as_model_inputs(*batch))
    return real_tokens(batches) / (time.perf_counter() - start)


def translation_rate(serving, texts, beam, batch_size, repeats):
    """Sentences per second of greedy or beam translation at `batch_size` (after warm-up)."""
    batches = [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]
    batches = [batch for batch in batches if len(batch) == batch_size][:repeats]
    function = serving.beam if beam else serving.greedy
    function(tf.constant(batches[0]))
    start = time.perf_counter()
    for batch in batches:
        function(tf.constant(batch))
    return len(batches) * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small", help="model sizes (default small)")
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--pairs", type=int, default=2000, help="training pairs timed per way")
    parser.add_argument("--workdir", default=None, help="a trained run to time translation with")
    parser.add_argument(
        "--repeats", type=int, default=8, help="batches timed per translation setting"
    )
    args = parser.parse_args()

    config = attention_nmt.get_config(args.preset)
    if args.workdir:
        _, serving = exporter.load_serving(args.workdir)
        vectorizers = (serving.source_vectorizer, serving.target_vectorizer)
    else:
        train_pairs = pipeline.load_pairs(args.dataset, "train").cache()
        vectorizers = pipeline.learn_vectorizers(
            train_pairs, config.source_vocab_size, config.target_vocab_size, config.tokenizer
        )
        serving = exporter.AttentionNMTServing(
            attention_nmt.build_model(config), *vectorizers, config
        )
    pairs = pipeline.load_pairs(args.dataset, "train", args.pairs)
    examples = pipeline.vectorize_pairs(
        pairs, *vectorizers, config.max_source_length, config.max_target_length
    )
    examples = examples.cache().shuffle(args.pairs, seed=0, reshuffle_each_iteration=False)
    max_length = max(config.max_source_length, config.max_target_length)
    ways = {
        "bucketed": pipeline.bucketed_batches(
            examples, config.batch_size, max_length, config.bucket_width
        ),
        "random padded": pipeline.random_batches(examples, config.batch_size),
        f"fixed {pipeline.FIXED_LENGTH}": pipeline.fixed_length_batches(
            examples, config.batch_size
        ),
    }
    print(
        f"Training throughput, {args.preset} preset, {args.pairs} pairs, batch {config.batch_size}:"
    )
    rates = {}
    for name, batches in ways.items():
        batch_list = list(batches)
        efficiency = pipeline.token_efficiency(batches)
        rates[name] = training_tokens_per_second(config, batch_list)
        print(f"  {name:>14}: token efficiency {efficiency:.2f}, {rates[name]:8.0f} real tokens/s")
    fixed = rates[f"fixed {pipeline.FIXED_LENGTH}"]
    print(
        f"  ratios: bucketed / random padded = {rates['bucketed'] / rates['random padded']:.2f}x, "
        f"bucketed / fixed {pipeline.FIXED_LENGTH} = {rates['bucketed'] / fixed:.2f}x"
    )

    texts, _ = read_pairs(args.dataset, "test", 32 * args.repeats)
    print(
        f"Translation speed ({'trained ' + args.workdir if args.workdir else 'untrained model'}), "
        f"sentences/s:"
    )
    for batch_size in (1, 32):
        greedy = translation_rate(serving, texts, False, batch_size, args.repeats)
        beam = translation_rate(serving, texts, True, batch_size, args.repeats)
        print(
            f"  batch {batch_size:>2}: greedy {greedy:7.2f}, beam-4 {beam:7.2f}, "
            f"greedy / beam = {greedy / beam:.2f}x"
        )


if __name__ == "__main__":
    main()
