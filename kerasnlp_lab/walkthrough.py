"""`kerasnlp-lab demo --train`: every model trained from scratch on its tiny preset.

A walk-through of the whole road (data, training, evaluation, export, serving) in a few
minutes on a laptop CPU. The models it trains are tiny and untrained for quality: their
output shows the mechanics, not what the models can do (`kerasnlp-lab demo` serves the
release models for that).
"""

import json
import os

import numpy as np

from kerasnlp_lab.data import catalog
from kerasnlp_lab.errors import DataUnavailableError
from kerasnlp_lab.evaluation.translation import read_pairs

OFFLINE_CORPORA = (
    "local_fashion_mnist",
    "sword_text/kjv",
    "sword_text/web",
    "sword_parallel/spa_eng",
)


def _heading(text):
    print(f"\n=== {text} ===", flush=True)


def show_corpora():
    """Prepares the offline corpora (once; TFDS caches them) and prints what they hold."""
    _heading("Offline corpora (Debian packages, as TFDS datasets)")
    for name in OFFLINE_CORPORA:
        try:
            catalog.prepare(name)
            print(catalog.describe(name, n=2), flush=True)
        except DataUnavailableError as error:
            print(f"{name}: skipped: {error}")


def autoencoder_round_trip(workdir, saved_models):
    """Trains the tiny autoencoder, evaluates, exports, and reloads the export alone."""
    from kerasnlp_lab.evaluation import autoencoder as evaluation
    from kerasnlp_lab.export import autoencoder as exporter
    from kerasnlp_lab.export.fresh_process import run_signatures_in_fresh_tensorflow
    from kerasnlp_lab.training import autoencoder as training

    _heading("Autoencoder: train (tiny preset), evaluate, export")
    workdir = os.path.join(workdir, "autoencoder")
    model = training.train(preset="tiny", workdir=workdir, overwrite=True)
    metrics = evaluation.evaluate(workdir)
    print(json.dumps(metrics, indent=2))
    version_dir = exporter.export(workdir, saved_models)
    print(f"Exported to {version_dir}")

    _heading("Autoencoder: the export in a fresh process that imports only TensorFlow")
    test, _ = training.load_pixels(metrics["dataset"], "test", limit=256)
    images = np.stack([image for image, _ in test.as_numpy_iterator()])
    [outputs] = run_signatures_in_fresh_tensorflow(
        version_dir, [("serving_default", {"images": images})]
    )
    served = outputs["reconstructions"]
    in_process = model.predict(images, verbose=0)
    print(
        f"{len(images)} test images: MSE {np.mean((served - images) ** 2):.5f} through the "
        f"SavedModel; largest difference from the Keras model "
        f"{np.max(np.abs(served - in_process)):.2e}"
    )
    print(f"Reconstruction figure: {metrics['figures']['reconstructions']}")


def char_generator_round_trip(workdir, saved_models):
    """Trains the tiny character generator, exports it, and generates through the export."""
    from kerasnlp_lab.evaluation import char_generator as evaluation
    from kerasnlp_lab.export import char_generator as exporter
    from kerasnlp_lab.serving.predict import predict_in_process
    from kerasnlp_lab.training import char_generator as training

    _heading("Character generator: train (tiny preset), evaluate, export")
    workdir = os.path.join(workdir, "char_generator")
    training.train(preset="tiny", workdir=workdir, overwrite=True)
    metrics = evaluation.evaluate(workdir)
    print(f"held-out bits/char {metrics['bits_per_char']}, accuracy {metrics['accuracy']}")
    print(f"Exported to {exporter.export(workdir, saved_models)}")

    inputs = exporter.predict_inputs(
        [evaluation.SAMPLE_PROMPT],
        num_chars=200,
        temperature=evaluation.SAMPLE_TEMPERATURE,
        seed=evaluation.SAMPLE_SEED,
    )
    in_process = exporter.format_outputs(predict_in_process(saved_models, "char_generator", inputs))
    try:
        from kerasnlp_lab.serving.client import ServingClient
        from kerasnlp_lab.serving.server import ModelServer
    except ImportError:
        _heading("Character generator: a sample through the SavedModel (in-process)")
        print(evaluation.SAMPLE_PROMPT + in_process)
        return
    _heading("Character generator: a sample through the embedded server (REST)")
    with ModelServer(saved_models, rest_port=0, grpc_port=0) as server:
        client = ServingClient(f"http://127.0.0.1:{server.rest_port}")
        served = exporter.format_outputs(client.predict("char_generator", inputs))
        client.close()
    print(evaluation.SAMPLE_PROMPT + served)
    print(f"(same text as the SavedModel in-process: {served == in_process})")


def attention_nmt_round_trip(workdir, saved_models):
    """Trains the tiny attention NMT, exports it, and translates three test verses through
    the embedded server, printed beside the reference English."""
    from kerasnlp_lab.evaluation import attention_nmt as evaluation
    from kerasnlp_lab.export import attention_nmt as exporter
    from kerasnlp_lab.serving.client import ServingClient
    from kerasnlp_lab.serving.server import ModelServer
    from kerasnlp_lab.training import attention_nmt as training

    _heading("Attention NMT (Bahdanau): train (tiny preset), evaluate, export")
    workdir = os.path.join(workdir, "attention_nmt")
    training.train(preset="tiny", workdir=workdir, overwrite=True)
    metrics = evaluation.evaluate(workdir)
    print(
        f"test loss {metrics['test_loss']}, token accuracy {metrics['test_token_accuracy']}, "
        f"BLEU greedy {metrics['greedy']['bleu']} / beam {metrics['beam']['bleu']}, "
        f"chrF greedy {metrics['greedy']['chrf']} / beam {metrics['beam']['chrf']}"
    )
    print(f"Token efficiency: {metrics.get('token_efficiency')}")
    print(f"Attention heatmaps: {', '.join(metrics['figures']['attention'])}")
    print(f"Exported to {exporter.export(workdir, saved_models)}")

    _heading("Attention NMT: three Spanish test verses through the embedded server (REST)")
    sources, references = read_pairs(metrics["dataset"], "test", 3)
    with ModelServer(saved_models, rest_port=0, grpc_port=0) as server:
        client = ServingClient(f"http://127.0.0.1:{server.rest_port}")
        inputs = exporter.predict_inputs(sources)
        greedy = exporter.format_outputs(client.predict("attention_nmt", inputs)).split("\n")
        beam = exporter.format_outputs(
            client.predict("attention_nmt", inputs, signature_name="beam_search")
        ).split("\n")
        client.close()
    for source, reference, greedy_text, beam_text in zip(
        sources, references, greedy, beam, strict=True
    ):
        print(
            f"es:        {source}\nreference: {reference}\n"
            f"greedy:    {greedy_text}\nbeam-4:    {beam_text}\n"
        )


def transformer_round_trip(workdir, saved_models):
    """Trains the tiny Transformer translator, exports it, and translates the three test
    verses of the attention NMT demo through the embedded server, beside the NMT's."""
    from kerasnlp_lab.evaluation import transformer as evaluation
    from kerasnlp_lab.export import transformer as exporter
    from kerasnlp_lab.serving.client import ServingClient
    from kerasnlp_lab.serving.server import ModelServer
    from kerasnlp_lab.training import transformer as training

    _heading("Transformer translator: train (tiny preset), evaluate, export")
    workdir = os.path.join(workdir, "transformer_translator")
    training.train(preset="tiny", workdir=workdir, overwrite=True)
    metrics = evaluation.evaluate(workdir)
    print(
        f"test loss {metrics['test_loss']}, token accuracy {metrics['test_token_accuracy']}, "
        f"BLEU greedy {metrics['greedy']['bleu']} / beam {metrics['beam']['bleu']}, "
        f"chrF greedy {metrics['greedy']['chrf']} / beam {metrics['beam']['chrf']}"
    )
    print(
        f"Attention maps: {metrics['figures']['encoder_self_attention']}, "
        f"{metrics['figures']['cross_attention']}"
    )
    print(f"Exported to {exporter.export(workdir, saved_models)}")

    _heading("Transformer beside the attention NMT: the same three test verses (REST)")
    sources, references = read_pairs(metrics["dataset"], "test", 3)
    inputs = exporter.predict_inputs(sources)
    with ModelServer(saved_models, rest_port=0, grpc_port=0) as server:
        client = ServingClient(f"http://127.0.0.1:{server.rest_port}")
        columns = {}
        for model in ("attention_nmt", "transformer_translator"):
            for signature, label in (("serving_default", "greedy"), ("beam_search", "beam-4")):
                outputs = client.predict(model, inputs, signature_name=signature)
                columns[f"{model} {label}"] = exporter.format_outputs(outputs).split("\n")
        client.close()
    for row, (source, reference) in enumerate(zip(sources, references, strict=True)):
        print(f"es:        {source}\nreference: {reference}")
        for label, translations in columns.items():
            print(f"{label + ':':<31}{translations[row]}")
        print()


def run(workdir="runs/walkthrough", saved_models="runs/walkthrough/saved_models"):
    """The offline corpora, then each model end to end on its tiny preset."""
    print(
        "Training TINY models from scratch: their output shows the mechanics only. "
        "`kerasnlp-lab demo` (without --train) serves the trained release models."
    )
    show_corpora()
    autoencoder_round_trip(workdir, saved_models)
    char_generator_round_trip(workdir, saved_models)
    attention_nmt_round_trip(workdir, saved_models)
    transformer_round_trip(workdir, saved_models)
