"""Transformer decoding speed: ours against CTranslate2, cached vs uncached, beam vs greedy.

Ours against CTranslate2 (`pip install -e '.[bench]'`, i.e. `ctranslate2>=4.5,<5`): the
`small` preset's weights (random initialization, seed 0) are converted into a CTranslate2
model with its Python `specs` API (no torch), float32. Both decode the same 40-id sources,
exactly `--tokens` generated tokens per row (CTranslate2: min = max decoding length, so no
end; ours: an end id that is never generated), [UNK] never generated (its `disable_unk`; our
export bans it with padding and [START]), batch 1 and 32, greedy and beam 4, on 2 threads
(CTranslate2 `intra_threads=2`; ours: TensorFlow's defaults on this machine). Greedy outputs
must be the same tokens. A fifth case generates one token at batch 1: the first-token cost
(encoder and search set-up). Ours is the exported decoding path: the same `translate` as the
translator SavedModel's signatures, saved as a SavedModel (core ops, no XLA; checked) and
loaded back. Each round times every case once for both engines, interleaved; the printed
ratio is the median over rounds of our time / CTranslate2's. (XLA cannot compile our
decoding loop: its self-attention caches grow by one position per step.)

Cached vs uncached (the older comparison, kept): same weights, same sources, each search
traced once in a `tf.function` (no XLA) and then timed (median of `--repeats` runs).
Uncached decoding runs the whole decoder on the prefix at every step; cached decoding runs
it on the new token only. The same comparison is made for the keras_hub backbone (its own
cache, `slice_update`) as a reference, and the two backbones' times are compared directly.

Training speed, ours vs keras_hub: `train_on_batch` on the same random batches (64 pairs of
40 source and 40 target ids, no padding) after one warm-up step, as tokens/second.

The tokenizer's share of a request: the source tokenization of one verse against the
whole greedy request of the exported release Transformer (`make models` first). With
`--baseline-export`, the greedy translation of the whole test split by that export and by
ours (e.g. an earlier release exported with `kerasnlp-lab export`), as a ratio.

    python benchmarks/transformer.py [--tokens 64] [--rounds 7] [--ctranslate2-only]
        [--repeats 3] [--train-steps 30] [--no-keras-hub] [--baseline-export BASE_PATH]
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from kerasnlp_lab.decoding.translation import translate
from kerasnlp_lab.export.saved_model import existing_versions
from kerasnlp_lab.layers.transformer_block import LAYER_NORM_EPSILON
from kerasnlp_lab.models import transformer
from kerasnlp_lab.paths import PRESETS, SAVED_MODELS
from kerasnlp_lab.text.vectorizer import OOV_ID, PAD_ID, START_ID

SOURCE_LENGTH = 40
NEVER_ID = -1  # as end id: every row generates all the tokens
BEAM_SIZE = 4
GOAL_RATIO = 1.0
# The one-token case: what a request pays before its first token (encoder, search set-up).
FIRST_TOKEN_CASE = (1, "greedy", 1)
CTRANSLATE2_MISSING = (
    "CTranslate2 is not installed: pip install -e '.[bench]' (that is, pip install "
    "'ctranslate2>=4.5,<5'), or run with --no-ctranslate2."
)
# CTranslate2's names for our reserved ids (padding, [UNK], [START], [END]).
CT2_RESERVED = ("<blank>", "<unk>", "<s>", "</s>")


def small_model(tokens, backbone="ours"):
    """(config, model): the `small` preset, random weights of seed 0, `tokens` decoding steps."""
    keras.utils.set_random_seed(0)
    config = transformer.get_config(
        "small", backbone=backbone, max_target_length=tokens + 1, max_source_length=SOURCE_LENGTH
    )
    return config, transformer.build_model(
        config, config.source_vocab_size, config.target_vocab_size
    )


def random_sources(config, batch, seed=0):
    """int32 (batch, SOURCE_LENGTH) ids of real words (no padding, no reserved id)."""
    rng = np.random.default_rng(seed)
    return rng.integers(4, config.source_vocab_size, (batch, SOURCE_LENGTH)).astype("int32")


class DecodingModule(tf.Module):
    """`greedy` and `beam` over source ids: the `translate` of the translator export.

    The same translator and search as the SavedModel signatures (text in and out there),
    with ids in and out, an end id that is never generated, and [UNK] banned.
    """

    def __init__(self, model, tokens, length_penalty):
        super().__init__()
        self.model = model
        # An attribute, so the SavedModel tracks the prepared weights it holds.
        self.translator = transformer.Translator(model, tokens, prepare_weights=True)
        spec = tf.TensorSpec([None, None], tf.int32, name="source_ids")

        def search(beam_size):
            def run(source_ids):
                return translate(
                    self.translator,
                    source_ids,
                    start_id=START_ID,
                    end_id=NEVER_ID,
                    max_length=tokens,
                    pad_id=PAD_ID,
                    beam_size=beam_size,
                    length_penalty_alpha=length_penalty,
                    banned_ids=(PAD_ID, OOV_ID, START_ID),
                )

            return tf.function(run, input_signature=[spec])

        self.greedy = search(1)
        self.beam = search(BEAM_SIZE)


def exported_searches(model, tokens, length_penalty, directory):
    """The loaded SavedModel of a `DecodingModule`: {"greedy", "beam"} -> function."""
    tf.saved_model.save(DecodingModule(model, tokens, length_penalty), directory)
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(directory, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    op_types = {
        node.op
        for graph in saved_model.meta_graphs
        for function in graph.graph_def.library.function
        for node in function.node_def
    }
    xla = sorted(op for op in op_types if op.startswith("Xla"))
    assert not xla, f"XLA ops in the exported decoding: {xla}"
    loaded = tf.saved_model.load(directory)
    # (the functions' variables live as long as `loaded`: the closures keep it)
    return {"greedy": lambda ids: loaded.greedy(ids), "beam": lambda ids: loaded.beam(ids)}


def ctranslate2_spec(model):
    """Our `TransformerTranslator`'s weights as a CTranslate2 `TransformerSpec` (float32).

    Dense kernels `(in, out)` become CTranslate2's `(out, in)`; the self-attention
    query/key/value and the cross-attention key/value projections are concatenated into
    its fused linears; our interleaved sinusoid table replaces its own position encodings.
    """
    from ctranslate2.specs import transformer_spec

    def array(variable):
        return np.asarray(keras.ops.convert_to_numpy(variable), np.float32)

    def set_linear(spec, kernels, biases, input_dims=1):
        """`spec` := the kernels (in..., out...) side by side as one (sum out, in) weight."""
        weights = [array(k).reshape(int(np.prod(k.shape[:input_dims])), -1) for k in kernels]
        spec.weight = np.ascontiguousarray(np.concatenate(weights, axis=1).T)  # (out, in)
        spec.bias = np.concatenate([array(b).reshape(-1) for b in biases])

    def set_norm(spec, norm):
        spec.gamma, spec.beta = array(norm.gamma), array(norm.beta)

    def set_attention(spec, norm, attention, self_attention):
        set_norm(spec.layer_norm, norm)
        projections = ("query", "key", "value")
        names = [projections] if self_attention else [projections[:1], projections[1:]]
        for linear, group in zip(spec.linear, names, strict=False):
            set_linear(
                linear,
                [getattr(attention, f"{name}_kernel") for name in group],
                [getattr(attention, f"{name}_bias") for name in group],
            )
        set_linear(
            spec.linear[-1], [attention.output_kernel], [attention.output_bias], input_dims=2
        )

    def set_feed_forward(spec, block):
        set_norm(spec.layer_norm, block.feed_forward_norm)
        for linear, dense in zip(
            (spec.linear_0, spec.linear_1),
            (block.feed_forward_inner, block.feed_forward_outer),
            strict=True,
        ):
            set_linear(linear, [dense.kernel], [dense.bias])

    spec = transformer_spec.TransformerSpec.from_config(
        model.num_layers, model.num_heads, pre_norm=model.norm_first
    )
    spec.config.layer_norm_epsilon = LAYER_NORM_EPSILON
    for side, embedding, position, blocks, final_norm in (
        (
            spec.encoder,
            model.source_embedding,
            model.source_position,
            model.encoder_layers,
            model.encoder_norm,
        ),
        (
            spec.decoder,
            model.target_embedding,
            model.target_position,
            model.decoder_layers,
            model.decoder_norm,
        ),
    ):
        embeddings = side.embeddings[0] if side is spec.encoder else side.embeddings
        embeddings.weight = array(embedding.embeddings)
        side.position_encodings.encodings = np.asarray(position.table, np.float32)
        set_norm(side.layer_norm, final_norm)
        for layer_spec, block in zip(side.layer, blocks, strict=True):
            set_attention(
                layer_spec.self_attention, block.self_attention_norm, block.self_attention, True
            )
            if side is spec.decoder:
                set_attention(
                    layer_spec.attention, block.cross_attention_norm, block.cross_attention, False
                )
            set_feed_forward(layer_spec.ffn, block)
    set_linear(spec.decoder.projection, [model.logits_dense.kernel], [model.logits_dense.bias])
    spec.register_source_vocabulary(ct2_vocabulary("s", model.source_vocab_size))
    spec.register_target_vocabulary(ct2_vocabulary("t", model.target_vocab_size))
    return spec


def ct2_vocabulary(prefix, size):
    """CTranslate2 token names of ids 0..size-1: its reserved names, then prefix + id."""
    return list(CT2_RESERVED) + [f"{prefix}{i}" for i in range(len(CT2_RESERVED), size)]


def ctranslate2_searches(model, tokens, directory):
    """{"greedy", "beam"} -> function(source ids (B, S)) -> tokens int32 (B, tokens)."""
    # CTranslate2's OpenMP threads spin while they wait (libgomp's default): on a shared
    # machine that made it up to 10x slower here; PASSIVE is its best there.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import ctranslate2
    except ImportError as error:
        raise SystemExit(CTRANSLATE2_MISSING) from error
    spec = ctranslate2_spec(model)
    spec.validate()
    spec.optimize(quantization="float32")
    os.makedirs(directory)
    spec.save(directory)
    translator = ctranslate2.Translator(
        directory, device="cpu", compute_type="float32", inter_threads=1, intra_threads=2
    )
    source_names = ct2_vocabulary("s", model.source_vocab_size)
    target_ids = {name: i for i, name in enumerate(ct2_vocabulary("t", model.target_vocab_size))}

    def search(beam_size):
        def run(source_ids):
            results = translator.translate_batch(
                [[source_names[i] for i in row] for row in np.asarray(source_ids)],
                beam_size=beam_size,
                max_decoding_length=tokens,
                min_decoding_length=tokens,
                disable_unk=True,
            )
            return np.array(
                [[target_ids[name] for name in result.hypotheses[0]] for result in results],
                np.int32,
            )

        return run

    return {"greedy": search(1), "beam": search(BEAM_SIZE)}


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


def copy_bandwidth(megabytes=256, repeats=5):
    """This machine's memory bandwidth in bytes/s: a NumPy copy (read + write), best of
    `repeats`."""
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    best = min(
        timed(lambda: np.copyto(target, source)) for _ in range(repeats)
    )  # seconds of one copy
    return 2 * source.nbytes / best


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bytes_per_step(model, batch, search, tokens):
    """Bytes one decoding step must read at least: the decoder's weights (without the
    embedding table, of which it reads one row per token, and the cross-attention key and
    value projections, used once per source), the self caches at their mean length, and
    the cross caches (one copy per source)."""
    once_per_source = ("cross_attention/key_", "cross_attention/value_")
    weights = sum(
        int(np.prod(weight.shape)) * 4
        for layer in model.decoder_layers + [model.logits_dense]
        for weight in layer.weights
        if not any(part in weight.path for part in once_per_source)
    )
    rows = batch * (BEAM_SIZE if search == "beam" else 1)
    cache_row = 2 * model.num_layers * model.model_dim * 4  # keys + values of a position
    return weights + cache_row * (rows * (tokens + 1) / 2 + batch * SOURCE_LENGTH)


def compare_with_ctranslate2(tokens, rounds, batch_sizes):
    """Prints our exported decoding's time / CTranslate2's, per case (batch, search, tokens).

    The cases: one generated token at batch 1 (`FIRST_TOKEN_CASE`), then greedy and beam
    with `tokens` generated tokens at each batch size.
    """
    config, model = small_model(tokens)
    cases = [FIRST_TOKEN_CASE] + [
        (batch, search, tokens) for batch in batch_sizes for search in ("greedy", "beam")
    ]
    with tempfile.TemporaryDirectory() as directory:
        engines = {}  # (engine name, generated tokens) -> {"greedy", "beam"} -> function
        for length in sorted({length for _, _, length in cases}):
            engines["ours", length] = exported_searches(
                model, length, config.length_penalty, os.path.join(directory, f"ours{length}")
            )
            engines["ct2", length] = ctranslate2_searches(
                model, length, os.path.join(directory, f"ct2_{length}")
            )
        sources = {batch: random_sources(config, batch, seed=batch) for batch in batch_sizes}
        outputs = {}
        for case in cases:  # warm-up (tracing), and the outputs compared below
            batch, search, length = case
            for name in ("ours", "ct2"):
                outputs[name, case] = np.asarray(engines[name, length][search](sources[batch]))
        times = {key: [] for key in outputs}
        for _ in range(rounds):
            for case in cases:
                batch, search, length = case
                for name in ("ours", "ct2"):
                    start = time.perf_counter()
                    np.asarray(engines[name, length][search](sources[batch]))
                    times[name, case].append(time.perf_counter() - start)

    print(
        f"\nours (exported SavedModel, core ops) vs CTranslate2 float32: small preset, random "
        f"weights (seed 0), {SOURCE_LENGTH}-id sources, median of {rounds} interleaved "
        f"rounds; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    bandwidth = copy_bandwidth()
    print(
        f"memory floor: bytes a step must read / {bandwidth / 1e9:.1f} GB/s (a NumPy copy)\n"
        f"{'batch':>5}  {'search':<7}  {'tokens':>6}  {'ours':>8}  {'CT2':>8}  {'ours/CT2':>8}  "
        f"{'ours ms/token':>13}  {'CT2 ms/token':>12}  {'floor ms/token':>14}  "
        f"{'ours/floor':>10}  same tokens"
    )
    ratios = []
    for case in cases:
        batch, search, length = case
        ours, theirs = times["ours", case], times["ct2", case]
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        ratios.append(ratio)
        same = outputs["ours", case] == outputs["ct2", case]
        floor = bytes_per_step(model, batch, search, length) / bandwidth  # seconds
        ours_per_token = statistics.median(ours) / length
        print(
            f"{batch:>5}  {search:<7}  {length:>6}  {statistics.median(ours):>7.3f}s  "
            f"{statistics.median(theirs):>7.3f}s  {ratio:>7.2f}x  "
            f"{1e3 * ours_per_token:>13.2f}  "
            f"{1e3 * statistics.median(theirs) / length:>12.2f}  "
            f"{1e3 * floor:>14.2f}  {ours_per_token / floor:>9.1f}x  "
            f"{int(same.all(axis=1).sum())}/{batch} rows",
            flush=True,
        )
    greedy_same = all(
        np.array_equal(outputs["ours", case], outputs["ct2", case])
        for case in cases
        if case[1] == "greedy"
    )
    print(f"greedy tokens identical to CTranslate2's: {greedy_same}")
    print(
        f"goal, ours <= {GOAL_RATIO}x CTranslate2's time in every case: "
        f"{'met' if max(ratios) <= GOAL_RATIO else 'not met'} (worst {max(ratios):.2f}x)"
    )


def newest_export(base):
    """The newest numbered version folder under a TF Serving model base path."""
    versions = existing_versions(base)
    if not versions:
        raise SystemExit(f"No exported version under {base}: run `make models` first.")
    return os.path.join(base, str(versions[-1]))


def tokenizer_share(saved_models, presets, repeats):
    """Prints the source tokenizer's share of a one-sentence greedy request.

    The request: the newest exported release Transformer (`make models`), its
    `serving_default` signature on one verse. The tokenizer: the same graph's first part
    (the first characters kept, the preset's source vocabulary, ids padded), traced alone.
    """
    from kerasnlp_lab.data import translation_pipeline
    from kerasnlp_lab.export.translator import MAX_SOURCE_CHARS, WARMUP_TEXTS
    from kerasnlp_lab.text.truncate import keep_first_chars

    path = newest_export(os.path.join(saved_models, transformer.MODEL_NAME))
    signature = tf.saved_model.load(path).signatures["serving_default"]
    source_vectorizer, _ = translation_pipeline.load_vectorizers(
        os.path.join(presets, transformer.MODEL_NAME)
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(text):
        text = keep_first_chars(text, MAX_SOURCE_CHARS)
        return source_vectorizer.encode(text, True, True).to_tensor()

    text = tf.constant(WARMUP_TEXTS[:1])
    request = seconds(lambda t: signature(text=t)["translation"], text, repeats)
    tokenizer = seconds(tokenize, text, repeats)
    print(
        f"\ntokenizer share of a one-sentence greedy request ({transformer.MODEL_NAME} "
        f"version {os.path.basename(path)}, {source_vectorizer.kind} source vocabulary of "
        f"{source_vectorizer.vocab_size:,}, median of {repeats}): tokenizer "
        f"{1e3 * tokenizer:.2f} ms of {1e3 * request:.1f} ms = {tokenizer / request:.1%}"
    )


def exported_test_split(saved_models, baseline, dataset, repeats, batch_size=64):
    """Prints the greedy translation time of the whole test split, ours against a baseline.

    Both are exported Transformers (`serving_default`, batches of 64, median of `repeats`
    passes after a warm-up one): the newest version under saved_models/ and `baseline`, a
    model base path holding an earlier export (e.g. the previous release preset exported
    with `kerasnlp-lab export`).
    """
    from kerasnlp_lab.evaluation.translation import read_pairs

    sources, _ = read_pairs(dataset, "test")
    batches = [
        tf.constant(sources[start : start + batch_size])
        for start in range(0, len(sources), batch_size)
    ]
    times = {}
    for name, base in (
        ("ours", os.path.join(saved_models, transformer.MODEL_NAME)),
        ("baseline", baseline),
    ):
        path = newest_export(base)
        signature = tf.saved_model.load(path).signatures["serving_default"]

        def translate_split(_, signature=signature):
            return tf.concat([signature(text=batch)["translation"] for batch in batches], 0)

        times[name] = seconds(translate_split, None, repeats)
        print(f"exported greedy, {len(sources):,} test pairs, {name} ({path}): {times[name]:.2f} s")
    print(f"ours / baseline: {times['ours'] / times['baseline']:.2f}x")


def benchmark(backbone, tokens, repeats, batch_sizes):
    config, model = small_model(tokens, backbone)
    functions = searches(model, tokens)
    results = {}
    for batch in batch_sizes:
        source_ids = tf.constant(random_sources(config, batch))
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
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds against CT2")
    parser.add_argument("--no-ctranslate2", action="store_true", help="skip CTranslate2")
    parser.add_argument(
        "--ctranslate2-only", action="store_true", help="only the comparison with CTranslate2"
    )
    parser.add_argument("--saved-models", default=SAVED_MODELS, help="for the tokenizer share")
    parser.add_argument("--presets", default=PRESETS, help="for the tokenizer share")
    parser.add_argument(
        "--baseline-export",
        default=None,
        metavar="BASE_PATH",
        help="an earlier Transformer export (TF Serving model base path): time the greedy "
        "translation of the test split by it and by ours",
    )
    args = parser.parse_args()
    if not args.no_ctranslate2:
        compare_with_ctranslate2(args.tokens, args.rounds, args.batch_sizes)
    if args.ctranslate2_only:
        return
    tokenizer_share(args.saved_models, args.presets, max(args.repeats, 20))
    if args.baseline_export:
        with open(os.path.join(args.presets, transformer.MODEL_NAME, "metadata.json")) as file:
            dataset = json.load(file)["dataset"]
        exported_test_split(args.saved_models, args.baseline_export, dataset, args.repeats)
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
