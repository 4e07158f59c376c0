"""Re-evaluates the shipped SavedModels through the TF Serving REST API on the full test splits.

`make verify-models` (after `make models`): serves saved_models/ with the embedded server on
a free loopback port, sends every test example through REST `:predict`, scores the answers
with the same metrics as `kerasnlp-lab evaluate`, and compares them with the metrics the
preset recorded in `assets.extra/release.json`: BLEU within 0.3 (greedy and beam 4), the
autoencoder's MSE within 1e-4. The character generator's signature generates text and
does not score it, so its bits/char are re-measured in-process from the preset instead.
Exits non-zero when a figure is off.
"""

import argparse
import sys

import numpy as np
from sacrebleu.metrics import BLEU

from kerasnlp_lab import release
from kerasnlp_lab.evaluation import char_generator as char_evaluation
from kerasnlp_lab.evaluation.translation import read_pairs
from kerasnlp_lab.export import translator as translator_lib
from kerasnlp_lab.paths import PRESETS, SAVED_MODELS
from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.server import ModelServer
from kerasnlp_lab.training.autoencoder import load_pixels

BLEU_TOLERANCE = 0.3
MSE_TOLERANCE = 1e-4
BITS_TOLERANCE = 1e-3
BATCH = 32


def verify_translator(client, name, recorded):
    sources, references = read_pairs(recorded["dataset"], "test")
    rows = []
    for signature, method in (("serving_default", "greedy"), ("beam_search", "beam")):
        translations = []
        for start in range(0, len(sources), BATCH):
            inputs = translator_lib.predict_inputs(sources[start : start + BATCH])
            outputs = client.predict(name, inputs, signature_name=signature)
            translations += translator_lib.format_outputs(outputs).split("\n")
        bleu = BLEU().corpus_score(translations, [references]).score
        rows.append(
            (
                f"{name} BLEU {method}",
                bleu,
                recorded["test_metrics"][method]["bleu"],
                BLEU_TOLERANCE,
            )
        )
    return rows


def verify_autoencoder(client, recorded):
    test, _ = load_pixels(recorded["dataset"], "test")
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    squared = []
    for start in range(0, len(images), BATCH):
        batch = images[start : start + BATCH]
        outputs = client.predict("autoencoder", {"images": batch})
        squared.append((outputs["reconstructions"] - batch) ** 2)
    mse = float(np.mean(np.concatenate(squared)))
    return [("autoencoder MSE", mse, recorded["test_metrics"]["mse"], MSE_TOLERANCE)]


def verify_char_generator(presets_root, recorded):
    metrics = char_evaluation.evaluate(
        release.preset_dirs(presets_root)["char_generator"], output_dir="runs/verify_models"
    )
    return [
        (
            "char_generator bits/char (in-process)",
            metrics["bits_per_char"],
            recorded["test_metrics"]["bits_per_char"],
            BITS_TOLERANCE,
        )
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved-models", default=SAVED_MODELS)
    parser.add_argument("--presets", default=PRESETS)
    args = parser.parse_args(argv)
    models = release.make_models(args.presets, args.saved_models)
    rows = []
    with ModelServer(args.saved_models, rest_port=0, grpc_port=0) as server:
        client = ServingClient(f"http://127.0.0.1:{server.rest_port}", timeout=600)
        for name in models:
            recorded = release.release_info(args.saved_models, name)
            if name == "autoencoder":
                rows += verify_autoencoder(client, recorded)
            elif name == "char_generator":
                rows += verify_char_generator(args.presets, recorded)
            else:
                rows += verify_translator(client, name, recorded)
        client.close()
    failed = 0
    print(f"{'figure':<44}{'measured':>10}{'recorded':>10}  ok")
    for label, measured, expected, tolerance in rows:
        ok = abs(measured - expected) <= tolerance
        failed += not ok
        print(f"{label:<44}{measured:>10.4f}{expected:>10.4f}  {'yes' if ok else 'NO'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
