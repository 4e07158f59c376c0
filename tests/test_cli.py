"""The `kerasnlp-lab` command line: help, clear errors, and the autoencoder end to end.

--help, the parse errors, evaluate's error and the autoencoder's four commands run as
`kerasnlp-lab` processes, as a user runs them; the other error paths call `cli.main` in
this process (the same message and exit status, without a TensorFlow start-up each)."""

import json
import os

import numpy as np
import tensorflow as tf

from kerasnlp_lab import cli
from tests.cli_runner import call_cli, run_cli


def test_help_lists_every_command():
    result = run_cli("--help")
    for command in (
        "train",
        "evaluate",
        "export",
        "serve",
        "predict",
        "demo",
        "data",
        "figures",
        "bleu-by-length",
    ):
        assert command in result.stdout


def test_unknown_model_is_one_clear_message():
    result = run_cli("train", "resnet", check=False)
    assert result.returncode == 2
    assert (
        "Unknown model 'resnet': expected one of "
        "autoencoder, char_generator, attention_nmt, transformer_translator" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_bad_flag_exits_2():
    result = run_cli("export", "autoencoder", "--version", "0", check=False)
    assert result.returncode == 2
    assert "expected a positive integer, got 0" in result.stderr


def test_a_flag_of_another_model_is_one_clear_error():
    result = call_cli("train", "char_generator", "--noise", "0.1", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "kerasnlp-lab: error: --noise is for autoencoder only; char_generator has no such setting.",
    )
    result = call_cli("train", "transformer_translator", "--attention", "none", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "kerasnlp-lab: error: --attention is for attention_nmt only; transformer_translator "
        "has no such setting.",
    )
    result = call_cli("predict", "attention_nmt", "Hola.", "--temperature", "0.5", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "kerasnlp-lab: error: --temperature is for char_generator only; attention_nmt has no "
        "such setting.",
    )


def test_the_lab_commands_refuse_what_they_cannot_draw():
    result = call_cli("figures", "--pages", "autoencoder", "rnn", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "kerasnlp-lab: error: Unknown pages rnn: expected some of autoencoder, char_generator, "
        "wide_and_deep, bottleneck, bahdanau_attention, attention, positional_encoding, "
        "multi_head_attention, transformer_block, subword_tokenization, beam_search.",
    )
    result = call_cli("bleu-by-length", "autoencoder", check=False)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "kerasnlp-lab: error: BLEU by source length is for the translators (attention_nmt, "
        "transformer_translator); got autoencoder.",
    )


def test_dashes_are_accepted_in_model_names():
    args = cli.build_parser().parse_args(["evaluate", "Char-Generator"])
    assert args.model == "char_generator"


def test_evaluate_without_training_says_what_to_run(tmp_path):
    result = run_cli("evaluate", "autoencoder", "--workdir", tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"kerasnlp-lab: error: No trained autoencoder in {tmp_path}: run "
        f"`kerasnlp-lab train autoencoder --workdir {tmp_path}` first."
    )


def test_autoencoder_train_evaluate_export_predict(tmp_path):
    workdir, saved_models = tmp_path / "run", tmp_path / "saved_models"
    train = run_cli("train", "autoencoder", "--preset", "tiny", "--workdir", workdir)
    assert (
        "Training autoencoder (tiny) on local_fashion_mnist: 4096 images, 2 epochs" in train.stdout
    )

    metrics = json.loads(run_cli("evaluate", "autoencoder", "--workdir", workdir).stdout)
    assert metrics["test_images"] == 10_000
    assert metrics["dataset"] == "local_fashion_mnist"
    assert 0.0 < metrics["mse"] < 0.1 and 0.2 < metrics["bce"] < 0.6 and 10 < metrics["psnr"] < 30
    for name in ("reconstructions", "codes_pca", "loss_curves"):
        assert os.path.getsize(metrics["figures"][name]) > 5_000

    exported = run_cli(
        "export", "autoencoder", "--workdir", workdir, "--saved-models", saved_models
    )
    assert exported.stdout.strip() == f"Exported autoencoder to {saved_models}/autoencoder/1"

    image = tmp_path / "shirt.png"
    pixels = np.zeros((28, 28, 1), np.uint8)
    pixels[6:22, 8:20] = 255
    tf.io.write_file(str(image), tf.io.encode_png(pixels))
    predicted = run_cli("predict", "autoencoder", image, "--saved-models", saved_models)
    reconstructions = np.array(json.loads(predicted.stdout)["reconstructions"])
    assert reconstructions.shape == (1, 28, 28)
    assert reconstructions[0, 6:22, 8:20].mean() > reconstructions[0, :4].mean() + 0.1


def test_predict_with_unreadable_image_is_a_clear_error(tmp_path):
    result = call_cli("predict", "autoencoder", tmp_path / "nothing.png", check=False)
    assert result.returncode == 2
    assert f"Cannot read {tmp_path / 'nothing.png'} as an image" in result.stderr
    assert "Traceback" not in result.stderr
