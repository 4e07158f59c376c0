"""`kerasnlp-lab demo`: the release models, served, in about a minute.

Exports the release presets (`make models`, seconds when up to date), serves them with the
embedded TF-Serving-compatible server on free loopback ports, and shows through REST and
gRPC what they do on held-out data: five Spanish test verses with the reference and both
translators' greedy and beam-4 output (sentence BLEU beside each), a sentence in modern
spelling as a user would type it, the character
generator continuing two prompts at two temperatures, and the autoencoder's reconstruction
error on test images with a figure. `kerasnlp-lab demo --train` is the tiny-training
walk-through instead (`kerasnlp_lab.walkthrough`).
"""

import os

import numpy as np
import sacrebleu

from kerasnlp_lab import release
from kerasnlp_lab.paths import PRESETS, SAVED_MODELS

TRANSLATORS = ("attention_nmt", "transformer_translator")
NUM_VERSES = 5
VERSE_WORDS = (8, 30)  # shown verses have this many source words (not too short or long)
# A sentence a user types: Genesis 1:1 in modern spelling ("creó"; the 1909 corpus has "crió").
TYPED_SENTENCE = "En el principio creó Dios los cielos y la tierra."
PROMPTS = ("In the beginning", "And Jesus said unto them,")
TEMPERATURES = (0.5, 1.0)
NUM_CHARS = 160
SEED = 1
NUM_IMAGES = 500
ROWS_PER_REQUEST = 100  # within the server's default --max-batch-rows (128)
FIGURE_IMAGES = 10


def _heading(text):
    print(f"\n=== {text} ===", flush=True)


def _dataset(saved_models, model_name):
    return release.release_info(saved_models, model_name)["dataset"]


def held_out_verses(dataset, count=NUM_VERSES):
    """The first `count` test pairs whose source has VERSE_WORDS words."""
    from kerasnlp_lab.evaluation.translation import read_pairs

    sources, references = read_pairs(dataset, "test", 200)
    low, high = VERSE_WORDS
    pairs = [
        (s, r) for s, r in zip(sources, references, strict=True) if low <= len(s.split()) <= high
    ]
    return pairs[:count]


def show_translations(rest, grpc, saved_models, available):
    """Greedy over REST and beam 4 over gRPC for each translator, with sentence BLEU."""
    from kerasnlp_lab.export import translator as translator_lib

    models = [name for name in TRANSLATORS if name in available]
    if not models:
        return
    verses = held_out_verses(_dataset(saved_models, models[0]))
    sources = [source for source, _ in verses]
    inputs = translator_lib.predict_inputs(sources)
    outputs = {}
    for name in models:
        greedy = rest.predict(name, inputs)
        beam = grpc.predict(name, inputs, signature_name="beam_search")
        outputs[f"{name} greedy (REST)"] = translator_lib.format_outputs(greedy).split("\n")
        outputs[f"{name} beam-4 (gRPC)"] = translator_lib.format_outputs(beam).split("\n")
    _heading(f"Translation: {len(verses)} held-out Spanish verses (test split), sentence BLEU")
    width = max(len(label) for label in outputs) + 2
    for row, (source, reference) in enumerate(verses):
        print(f"{'Spanish:':<{width}}{source}\n{'reference:':<{width}}{reference}")
        for label, translations in outputs.items():
            bleu = sacrebleu.sentence_bleu(translations[row], [reference]).score
            print(f"{label + ':':<{width}}{translations[row]}  [BLEU {bleu:.1f}]")
        print()
    _heading("Translation: a sentence in modern spelling, typed as a user would (beam 4, REST)")
    print(f"{'Spanish:':<{width}}{TYPED_SENTENCE}")
    for name in models:
        beam = rest.predict(
            name, translator_lib.predict_inputs([TYPED_SENTENCE]), signature_name="beam_search"
        )
        print(f"{name + ':':<{width}}{translator_lib.format_outputs(beam)}")


def show_generation(grpc, available):
    """The character generator continuing two prompts at two temperatures (gRPC)."""
    if "char_generator" not in available:
        return
    from kerasnlp_lab.export import char_generator as exporter

    _heading(f"Character generator (KJV): {NUM_CHARS} characters per prompt, seed {SEED}")
    for prompt in PROMPTS:
        for temperature in TEMPERATURES:
            inputs = exporter.predict_inputs(
                [prompt], num_chars=NUM_CHARS, temperature=temperature, seed=SEED
            )
            text = exporter.format_outputs(grpc.predict("char_generator", inputs))
            print(f"[temperature {temperature}] {prompt}{text}\n")


def show_reconstructions(rest, saved_models, available, workdir):
    """The autoencoder's test MSE over REST, and a figure of a few reconstructions."""
    if "autoencoder" not in available:
        return
    from kerasnlp_lab.evaluation.autoencoder import plot_reconstructions
    from kerasnlp_lab.training.autoencoder import load_pixels

    test, _ = load_pixels(_dataset(saved_models, "autoencoder"), "test", NUM_IMAGES)
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    reconstructions = np.concatenate(
        [
            rest.predict("autoencoder", {"images": images[start : start + ROWS_PER_REQUEST]})[
                "reconstructions"
            ]
            for start in range(0, len(images), ROWS_PER_REQUEST)
        ]
    )
    mse = float(np.mean((reconstructions - images) ** 2))
    figure = plot_reconstructions(
        images[:FIGURE_IMAGES],
        reconstructions[:FIGURE_IMAGES],
        os.path.join(workdir, "autoencoder_reconstructions.png"),
    )
    _heading("Autoencoder (Fashion-MNIST)")
    print(f"{len(images)} test images through REST: reconstruction MSE {mse:.5f}")
    print(f"Originals over reconstructions: {figure}")


def where_next():
    _heading("Where next")
    print(
        "serve these models:   make serve   (or: kerasnlp-lab serve; TF Serving: README "
        "'Serving')\n"
        'query a model:        kerasnlp-lab predict transformer_translator "Dios es amor." '
        "--server grpc://127.0.0.1:8500\n"
        "train your own:       kerasnlp-lab train MODEL --preset tiny|small|...  "
        "(kerasnlp-lab demo --train: every model, tiny, from scratch)\n"
        "fine-tune a release:  kerasnlp-lab train char_generator --resume presets/char_generator "
        "--epochs 50 --workdir runs/ft\n"
        "learn how they work:  docs/README.md (one page per idea, figures from these models)\n"
        "scale out training:   kerasnlp-lab train MODEL --strategy multi_worker (README "
        "'Scaling out')\n"
        "read more:            README.md (results, serving, code map), presets/README.md"
    )


def run(presets_root=PRESETS, saved_models=SAVED_MODELS, workdir="runs/demo"):
    """Exports the release presets, serves them, and shows their output."""
    from kerasnlp_lab.serving.client import ServingClient
    from kerasnlp_lab.serving.server import ModelServer

    os.makedirs(workdir, exist_ok=True)
    available = release.make_models(presets_root, saved_models)
    with ModelServer(saved_models, rest_port=0, grpc_port=0) as server:
        print(
            f"Serving {', '.join(available)} on 127.0.0.1 (REST port {server.rest_port}, "
            f"gRPC port {server.grpc_port})"
        )
        rest = ServingClient(f"http://127.0.0.1:{server.rest_port}")
        grpc = ServingClient(f"grpc://127.0.0.1:{server.grpc_port}")
        try:
            show_translations(rest, grpc, saved_models, available)
            show_generation(grpc, available)
            show_reconstructions(rest, saved_models, available, workdir)
        finally:
            rest.close()
            grpc.close()
    where_next()
