"""Character generator speed, printed as ratios in one run:

1. Generation chars/second: the exported in-graph `tf.while_loop` (in-process tf.function
   and the reloaded SavedModel) against a Python loop that calls a one-step tf.function per
   character, the classic tutorial's way. Same weights, same prompt and seed; the script
   checks that all three give the same text. Then the SavedModel on a batch of
   `--batch-size` rows (the same prompt, one seed per row) against batch 1, in characters
   per second; each row gives the text it gives alone. Each of `--rounds` rounds times
   every way once (interleaved); the rates are medians over rounds.
2. Training steps/second: `model.fit` with and without `jit_compile` (XLA), same batches.

Weights are random unless --workdir names a trained run (speed does not depend on them).

    python benchmarks/char_generator.py [--preset small] [--num-chars 500] [--batch-size 32]
        [--train-steps 20]
"""

import argparse
import functools
import statistics
import string
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.text import chars

PROMPT = "In the beginning"
SEED = 1
TEMPERATURE = 0.8


def random_run(preset):
    """A model of `preset` with random weights and a vocabulary of English letters."""
    vocabulary = chars.CharVocabulary(list(string.ascii_letters + " .,;:'\n"))
    config = char_generator.get_config(preset)
    model = char_generator.build_training_model(config, vocabulary.vocab_size)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()])
    return config, model, vocabulary


def texts(outputs):
    return [text.decode("utf-8") for text in outputs["text"].numpy()]


def timed(function, repeats=1):
    """(result of the last call, seconds per call); one untimed call first (tracing)."""
    result = function()
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    return result, (time.perf_counter() - start) / repeats


def generation_request(num_chars, batch_size=1):
    """`batch_size` rows of the same prompt; row i is seeded SEED + i."""
    return {
        "prompt": tf.constant([PROMPT] * batch_size),
        "num_chars": tf.fill([batch_size], num_chars),
        "temperature": tf.fill([batch_size], TEMPERATURE),
        "seed": SEED + tf.range(batch_size, dtype=tf.int64),
    }


def python_loop(serving, num_chars):
    """The tutorial's way: warm up on the prompt, then one tf.function call per character."""
    request = generation_request(num_chars)
    char, previous, state = serving.warm_up(request["prompt"])
    weights = serving.step_weights()
    ids = []
    for step in range(num_chars):
        next_char, state = serving.step(
            char,
            previous,
            state,
            request["temperature"],
            request["seed"],
            tf.constant(step),
            weights,
        )
        previous, char = char, next_char
        ids.append(next_char)
    return serving.vocabulary.decode(tf.stack(ids, axis=1))[0].numpy().decode("utf-8")  # (1, N)


def benchmark_generation(model, vocabulary, num_chars, batch_size, rounds):
    """({way: chars/s}, {batch: chars/s}, text): medians of `rounds` interleaved rounds,
    each timing every way once."""
    serving = exporter.CharGeneratorServing(model, vocabulary)
    request = generation_request(num_chars)
    batch_request = generation_request(num_chars, batch_size)
    with tempfile.TemporaryDirectory() as saved_models:
        loaded = tf.saved_model.load(exporter.export_model(model, vocabulary, saved_models))
        signature = loaded.signatures["serving_default"]
        ways = {
            "Python loop, one-step tf.function per char": lambda: python_loop(serving, num_chars),
            "in-graph while_loop (tf.function)": lambda: texts(serving.generate(**request))[0],
            "in-graph while_loop (SavedModel)": lambda: texts(signature(**request))[0],
            f"SavedModel, batch {batch_size}": lambda: texts(signature(**batch_request)),
        }
        results = {name: way() for name, way in ways.items()}  # (traces)
        looped, in_graph, saved, batched = results.values()
        if not in_graph == saved == looped:
            raise AssertionError(f"the three ways disagree:\n{in_graph!r}\n{saved!r}\n{looped!r}")
        last_row = {name: value[-1:] for name, value in batch_request.items()}
        if batched[0] != saved or batched[-1] != texts(signature(**last_row))[0]:
            raise AssertionError("a row of the batch differs from the same request alone")
        seconds = {name: [] for name in ways}
        for _ in range(rounds):
            for name, way in ways.items():
                seconds[name].append(timed(way, repeats=1)[1])
    chars_per_s = {
        name: (batch_size if name.startswith("SavedModel, batch") else 1)
        * num_chars
        / statistics.median(times)
        for name, times in seconds.items()
    }
    names = list(ways)
    return (
        {name: chars_per_s[name] for name in names[:3]},
        {"SavedModel, batch 1": chars_per_s[names[2]], names[3]: chars_per_s[names[3]]},
        in_graph,
    )


def benchmark_training(config, vocab_size, steps):
    rng = np.random.default_rng(0)
    window = rng.integers(
        chars.NUM_RESERVED_IDS, vocab_size, (config.batch_size, config.sequence_length + 2)
    )
    batch = (
        {
            "chars": window[:, 1:-1].astype(np.int32),
            "previous_chars": window[:, :-2].astype(np.int32),
        },
        window[:, 2:].astype(np.int32),
    )
    batches = tf.data.Dataset.from_tensors(batch).repeat()
    rates = {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = char_generator.build_training_model(config, vocab_size)
        model.jit_compile = jit_compile
        # partial binds this iteration's model now (a closure would read the loop variable late)
        fit = functools.partial(
            model.fit, batches, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0
        )
        _, seconds = timed(fit)
        rates[f"model.fit, jit_compile={jit_compile}"] = steps / seconds
    return rates


def print_ratios(title, rates, unit):
    print(title)
    baseline = next(iter(rates.values()))
    for name, rate in rates.items():
        print(f"  {name:44s} {rate:9.1f} {unit}   ratio {rate / baseline:5.2f}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small", choices=sorted(char_generator.PRESETS))
    parser.add_argument("--workdir", default=None, help="use the trained run in this folder")
    parser.add_argument("--num-chars", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--train-steps", type=int, default=20, help="0: no training")
    args = parser.parse_args()

    if args.workdir:
        from kerasnlp_lab.training import char_generator as training
        from kerasnlp_lab.training import workdir as workdir_lib

        run, model = workdir_lib.load_run(args.workdir, char_generator.MODEL_NAME)
        config = char_generator.config_from_dict(run["config"])
        vocabulary = training.load_vocabulary(args.workdir)
    else:
        config, model, vocabulary = random_run(args.preset)
    print(
        f"char_generator ({args.preset if not args.workdir else args.workdir}): embedding "
        f"{config.embedding_dim}, GRU {config.gru_units}, {config.head} head, "
        f"{vocabulary.vocab_size} ids"
    )
    rates, batch_rates, text = benchmark_generation(
        model, vocabulary, args.num_chars, args.batch_size, args.rounds
    )
    print_ratios(
        f"Generation of {args.num_chars} chars, batch 1 (same text all three ways; median of "
        f"{args.rounds} interleaved rounds):",
        rates,
        "chars/s",
    )
    print(f"  text: {text[:60]!r}...")
    print_ratios(
        f"Generation of {args.num_chars} chars a row, batch {args.batch_size} vs 1:",
        batch_rates,
        "chars/s",
    )
    if not args.train_steps:
        return
    print_ratios(
        f"Training, batch {config.batch_size} x {config.sequence_length} chars, "
        f"{args.train_steps} steps:",
        benchmark_training(config, vocabulary.vocab_size, args.train_steps),
        "steps/s",
    )


if __name__ == "__main__":
    main()
