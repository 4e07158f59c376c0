"""`kerasnlp-lab`: train, evaluate, export, serve and query the four models.

Every failure a user can cause ends with one clear message on stderr and exit code 2.
"""

import argparse
import importlib
import importlib.util
import json
import os
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import MODEL_MODULES, MODEL_NAMES, canonical_model_name
from kerasnlp_lab.paths import (
    BOTTLENECK_JSON,
    DOCS,
    PRESETS,
    SAVED_MODELS,
    VOCABULARY_JSON,
    default_workdir,
    make_folder,
)
from kerasnlp_lab.quiet_tensorflow import import_quietly

# kerasnlp_lab.text.tokenizers.TOKENIZERS, spelled out so `--help` needs no TensorFlow import
# (tests/text/test_wordpiece.py checks they agree).
TOKENIZERS = ("words", "wordpiece")
# kerasnlp_lab.lab.transformer_block.SETTINGS and its results file, spelled out for the same
# reason (tests/lab/test_transformer_block.py checks they agree).
TRANSFORMER_BLOCK_SETTINGS = (
    "release",
    "post_norm",
    "no_warmup",
    "no_smoothing",
    "post_norm_no_warmup",
)
TRANSFORMER_BLOCK_JSON = "docs/transformer_block.json"
# kerasnlp_lab.lab.beam_search's grid and results file, spelled out for the same reason
# (tests/lab/test_beam_search.py checks they agree).
BEAM_SEARCH_SIZES = (1, 2, 4, 8)
BEAM_SEARCH_ALPHAS = (0.0, 0.6, 1.0, 1.5)
BEAM_SEARCH_ALPHA_BEAM_SIZE = 4
BEAM_SEARCH_JSON = "docs/beam_search.json"


def _model_name(text):
    try:
        return canonical_model_name(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _model_module(package, model, command):
    """Imports kerasnlp_lab.<package>.<module of model>, or says the model has not landed."""
    name = f"kerasnlp_lab.{package}.{MODEL_MODULES[model]}"
    if importlib.util.find_spec(name) is None:
        raise UserError(
            f"`kerasnlp-lab {command} {model}` is not available yet: the {model} model "
            f"has not been built in this version of kerasnlp_lab."
        )
    return importlib.import_module(name)


def _train(args):
    module = _model_module("training", args.model, "train")
    workdir = args.workdir or default_workdir(args.model)
    if isinstance(args.resume, str):  # --resume PRESET: fine-tune a release preset
        from kerasnlp_lab.training import distribute, presets

        if distribute.start(args.strategy).is_multi_worker:
            raise UserError(
                f"--resume {args.resume} makes a run folder from the preset, which several "
                "workers cannot do at once: fine-tune a preset with one process."
            )
        if args.epochs is None:
            raise UserError(
                f"--resume {args.resume} needs --epochs: the total number of epochs, more "
                "than the preset was trained for (its metadata.json says how many)."
            )
        epochs = presets.start_from_preset(args.resume, workdir, args.model)
        print(f"Fine-tuning the preset {args.resume} (trained {epochs} epochs) in {workdir}.")
    options = {
        _dest(flag): getattr(args, _dest(flag))
        for flag in _model_only_flags(args, TRAIN_MODEL_FLAGS)
    }
    module.train(
        preset=args.preset,
        dataset=args.dataset,
        epochs=args.epochs,
        workdir=workdir,
        resume=bool(args.resume),
        seed=args.seed,
        strategy=args.strategy,
        overwrite=args.overwrite,
        **options,
    )


TRANSLATORS = ("attention_nmt", "transformer_translator")
# Flags that apply to some models only: giving them to another one is an error, not a no-op.
TRAIN_MODEL_FLAGS = {
    "--noise": "autoencoder",
    "--backbone": "transformer_translator",
    "--attention": "attention_nmt",
    "--tokenizer": TRANSLATORS,
    "--source-vocab-size": TRANSLATORS,
    "--target-vocab-size": TRANSLATORS,
    "--average-checkpoints": TRANSLATORS,
}
PREDICT_MODEL_FLAGS = {
    "--num-chars": "char_generator",
    "--temperature": "char_generator",
    "--seed": "char_generator",
}


def _dest(flag):
    """The argparse attribute of a flag: "--source-vocab-size" -> "source_vocab_size"."""
    return flag.lstrip("-").replace("-", "_")


def _model_only_flags(args, flags):
    """The model-only flags given on the command line; UserError if one is for another model."""
    given = []
    for flag, models in flags.items():
        if getattr(args, _dest(flag)) is None:
            continue
        models = (models,) if isinstance(models, str) else models
        if args.model not in models:
            raise UserError(
                f"{flag} is for {' and '.join(models)} only; {args.model} has no such setting."
            )
        given.append(flag)
    return given


def _evaluate(args):
    module = _model_module("evaluation", args.model, "evaluate")
    metrics = module.evaluate(
        workdir=args.workdir or default_workdir(args.model),
        limit=args.limit,
        output_dir=args.output_dir,
    )
    print(json.dumps(metrics, indent=2))


def _bleu_by_length(args):
    from kerasnlp_lab.evaluation import length_buckets

    make_folder(os.path.dirname(args.output) or ".", "--output")
    result = length_buckets.evaluate(
        args.model, args.workdir or default_workdir(args.model), limit=args.limit
    )
    length_buckets.write_result(result, args.output, args.label)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"Written to {args.output}")


def _vocabulary_report(args):
    from kerasnlp_lab.lab import vocabulary

    results = vocabulary.report(args.runs, args.output)
    print(vocabulary.table(results))
    print(f"Written to {args.output}")


def _transformer_block(args):
    from kerasnlp_lab.lab import transformer_block

    make_folder(os.path.dirname(args.output) or ".", "--output")
    results = transformer_block.run_experiment(
        steps=args.steps, seed=args.seed, settings=args.settings
    )
    transformer_block.write_results(results, args.output)
    print(transformer_block.results_section(results))
    print(f"Written to {args.output}")


def _beam_search(args):
    from kerasnlp_lab.lab import beam_search

    make_folder(os.path.dirname(args.output) or ".", "--output")
    result = beam_search.run_experiment(
        args.model,
        args.workdir or os.path.join(PRESETS, args.model),
        limit=args.limit,
        split=args.split,
        beam_sizes=tuple(args.beam_sizes),
        alphas=tuple(args.alphas),
        alpha_beam_size=args.alpha_beam_size,
    )
    beam_search.write_result(result, args.output)
    print(beam_search.results_section({args.model: result}))
    print(f"Written to {args.output}")


def _figures(args):
    from kerasnlp_lab.lab import figures

    for page, paths in figures.make_figures(
        presets_root=args.presets, docs_dir=args.docs, pages=args.pages
    ).items():
        print(f"{page}: {', '.join(paths)}")


def _export(args):
    module = _model_module("export", args.model, "export")
    path = module.export(
        workdir=args.workdir or default_workdir(args.model),
        saved_models=args.saved_models,
        version=args.version,
    )
    print(f"Exported {args.model} to {path}")


def _release(args):
    from kerasnlp_lab import release

    workdir = args.workdir or default_workdir(args.model)
    command = args.command or f"kerasnlp-lab train {args.model} --workdir {workdir}"
    metrics = release.make_preset(args.model, workdir, args.presets, command)
    print(json.dumps(metrics, indent=2, ensure_ascii=False))


def _models(args):
    from kerasnlp_lab import release

    make_folder(args.saved_models, "--saved-models")
    paths = release.make_models(args.presets, args.saved_models, args.keep_versions)
    for name, path in paths.items():
        print(f"{name}: {path}")


def _predict(args):
    from kerasnlp_lab.serving import predict

    module = _model_module("export", args.model, "predict")
    options = {
        _dest(flag): getattr(args, _dest(flag))
        for flag in _model_only_flags(args, PREDICT_MODEL_FLAGS)
    }
    inputs = module.predict_inputs(args.inputs, **options)
    outputs = predict.predict(
        args.model,
        inputs,
        signature_name=args.signature,
        server=args.server,
        saved_models=args.saved_models,
    )
    print(module.format_outputs(outputs))


def _serve(args):
    import dataclasses

    from kerasnlp_lab.serving import server
    from kerasnlp_lab.serving.limits import ServingLimits

    limits = ServingLimits(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(ServingLimits)}
    )
    server.serve_forever(
        saved_models=args.saved_models,
        host=args.host,
        rest_port=args.rest_port,
        grpc_port=args.grpc_port,
        model_config_file=args.model_config_file,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        enable_per_model_batching_parameters=args.enable_per_model_batching_parameters,
        poll_seconds=args.poll_seconds,
        limits=limits,
    )


def _playground(args):
    from kerasnlp_lab.serving import playground

    playground.serve_forever(args.server, host=args.host, port=args.port)


def _demo(args):
    if args.train:
        from kerasnlp_lab import walkthrough

        walkthrough.run(
            workdir=args.workdir or "runs/walkthrough",
            saved_models=os.path.join(args.workdir or "runs/walkthrough", "saved_models"),
        )
    else:
        from kerasnlp_lab import demo

        demo.run(
            presets_root=args.presets,
            saved_models=args.saved_models,
            workdir=args.workdir or "runs/demo",
        )


def _data(args):
    from kerasnlp_lab.data import catalog

    if args.data_command == "prepare":
        catalog.prepare(args.name)
        print(catalog.describe(args.name, n=0))
    else:
        print(catalog.describe(args.name, n=args.n))


def build_parser():
    """The argument parser of `kerasnlp-lab` (the README's command-line contract)."""
    parser = argparse.ArgumentParser(
        prog="kerasnlp-lab",
        description="Classic sequence models in Keras 3: train, evaluate, export for "
        "TensorFlow Serving, serve and query.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model_help = f"one of {', '.join(MODEL_NAMES)} (dashes accepted)"

    train = commands.add_parser("train", help="train a model, with checkpoints each epoch")
    train.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    train.add_argument(
        "--preset",
        default=None,
        help="size preset: tiny (seconds, for tests and the demo), small, full, or a "
        "model's own presets (e.g. classic/deep for the autoencoder); default: the "
        "model's default preset",
    )
    train.add_argument(
        "--dataset",
        default="auto",
        help="dataset name; auto = the offline Debian corpus when installed, else the "
        "online TFDS dataset",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="number of epochs (default: the preset's)",
    )
    train.add_argument(
        "--workdir", default=None, help="checkpoints, logs and plots (default: runs/MODEL)"
    )
    fresh_or_resumed = train.add_mutually_exclusive_group()
    fresh_or_resumed.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="PRESET",
        help="continue from the last checkpoint in --workdir; with a release "
        "preset folder (e.g. presets/char_generator), fine-tune it in --workdir "
        "up to --epochs in all",
    )
    fresh_or_resumed.add_argument(
        "--overwrite",
        action="store_true",
        help="train afresh in a --workdir that holds a run (its model.keras, epoch checkpoints "
        "or kept epoch weights), deleting what train wrote there first: run.json, model.keras, "
        "checkpoints/, epoch_weights/, averaged_epochs.json, history.csv, logs/ and the model's "
        "vocabularies, token_efficiency.json and throughput.json; other files (evaluate's "
        "metrics and figures) stay. Without it such a run is refused. A multi-worker restart "
        "still continues its unfinished run",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default 0; --resume continues with the run's seed)",
    )
    train.add_argument(
        "--noise",
        type=float,
        default=None,
        metavar="STD",
        help="autoencoder only: Gaussian input noise for denoising training",
    )
    train.add_argument(
        "--backbone",
        choices=("ours", "keras_hub"),
        default=None,
        help="transformer_translator only: our layers (default) or keras_hub's "
        "Transformer layers as a reference (keras_hub cannot be exported)",
    )
    train.add_argument(
        "--attention",
        choices=("bahdanau", "luong_additive", "none"),
        default=None,
        help="attention_nmt only: additive attention in Bahdanau's order (default: attend "
        "with the previous state), in Luong's order (luong_additive: attend with the new "
        "state, feed the context back), or none, the decoder seeing only the encoder's final "
        "states (the bottleneck experiment, docs/)",
    )
    train.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default=None,
        help="translators only: the vocabulary learned from the training split, words or "
        "wordpiece subwords (default: the preset's)",
    )
    for side in ("source", "target"):
        train.add_argument(
            f"--{side}-vocab-size",
            type=_positive_int,
            default=None,
            metavar="N",
            help=f"translators only: the largest {side} vocabulary, reserved tokens "
            "included (default: the preset's)",
        )
    train.add_argument(
        "--average-checkpoints",
        type=_positive_int,
        default=None,
        metavar="N",
        help="translators only: the final weights average the last N epochs' (1: the last "
        "epoch's; default: the preset's)",
    )
    train.add_argument(
        "--strategy",
        choices=("auto", "default", "mirrored", "multi_worker"),
        default="auto",
        help="tf.distribute strategy: default (one device), mirrored (this machine's "
        "GPUs), multi_worker (the cluster in the TF_CONFIG environment variable; only "
        "the chief writes --workdir); auto (default): multi_worker when TF_CONFIG names "
        "more than one task, else default",
    )
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="print test metrics as one JSON object")
    evaluate.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    evaluate.add_argument(
        "--workdir", default=None, help="a run folder or a release preset (default: runs/MODEL)"
    )
    evaluate.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        help="only the first N test examples (pairs, characters or images)",
    )
    evaluate.add_argument(
        "--output-dir",
        default=None,
        help="figures and metrics.json (default: the run folder; runs/presets/MODEL for a preset)",
    )
    evaluate.set_defaults(handler=_evaluate)

    by_length = commands.add_parser(
        "bleu-by-length",
        help="test BLEU of a translator per source-length bucket (the bottleneck experiment)",
    )
    by_length.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    by_length.add_argument(
        "--workdir", default=None, help="a run folder or a release preset (default: runs/MODEL)"
    )
    by_length.add_argument(
        "--label",
        default=None,
        help="the run's name in the JSON file (default: MODEL, or attention_nmt/ATTENTION)",
    )
    by_length.add_argument(
        "--output",
        default=BOTTLENECK_JSON,
        help=f"JSON file the result is added to (default: {BOTTLENECK_JSON})",
    )
    by_length.add_argument(
        "--limit", type=_positive_int, default=None, help="only the first N test pairs"
    )
    by_length.set_defaults(handler=_bleu_by_length)

    vocabulary_report = commands.add_parser(
        "vocabulary-report",
        help="gather the vocabulary-size experiment's evaluated runs into one JSON and table",
    )
    vocabulary_report.add_argument(
        "runs", nargs="+", metavar="RUN", help="trained and evaluated translator runs"
    )
    vocabulary_report.add_argument(
        "--output",
        default=VOCABULARY_JSON,
        help=f"the JSON file written (default: {VOCABULARY_JSON})",
    )
    vocabulary_report.set_defaults(handler=_vocabulary_report)

    block = commands.add_parser(
        "transformer-block",
        help="short trainings of a small Transformer: the release recipe, post-norm, no "
        "warm-up, no label smoothing (docs/transformer_block.md)",
    )
    block.add_argument(
        "--settings",
        nargs="+",
        choices=TRANSFORMER_BLOCK_SETTINGS,
        default=None,
        metavar="SETTING",
        help=f"the settings to train, of {', '.join(TRANSFORMER_BLOCK_SETTINGS)} (default: "
        "all but the last)",
    )
    block.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="training steps of each setting, a multiple of 50 (default: 300)",
    )
    block.add_argument("--seed", type=int, default=0, help="the seed of every setting (default: 0)")
    block.add_argument(
        "--output",
        default=TRANSFORMER_BLOCK_JSON,
        help=f"the JSON file written (default: {TRANSFORMER_BLOCK_JSON})",
    )
    block.set_defaults(handler=_transformer_block)

    beam = commands.add_parser(
        "beam-search",
        help="test BLEU, chrF, output length and decoding time of a translator by beam size "
        "and length penalty (docs/beam_search.md)",
    )
    beam.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    beam.add_argument(
        "--workdir", default=None, help="a run folder or a release preset (default: presets/MODEL)"
    )
    beam.add_argument(
        "--split",
        choices=("test", "validation"),
        default="test",
        help="the pairs translated (default: test; choose a setting on validation)",
    )
    beam.add_argument(
        "--limit", type=_positive_int, default=None, help="only the first N pairs of the split"
    )
    beam.add_argument(
        "--beam-sizes",
        nargs="+",
        type=_positive_int,
        default=list(BEAM_SEARCH_SIZES),
        metavar="K",
        help="beam sizes, each at the model's length penalty; 1 is greedy search (default: "
        f"{' '.join(map(str, BEAM_SEARCH_SIZES))})",
    )
    beam.add_argument(
        "--alphas",
        nargs="+",
        type=_non_negative_float,
        default=list(BEAM_SEARCH_ALPHAS),
        metavar="ALPHA",
        help="alphas of the length penalty ((5 + n) / 6)^alpha, each at --alpha-beam-size "
        f"(default: {' '.join(f'{alpha:g}' for alpha in BEAM_SEARCH_ALPHAS)})",
    )
    beam.add_argument(
        "--alpha-beam-size",
        type=_positive_int,
        default=BEAM_SEARCH_ALPHA_BEAM_SIZE,
        metavar="K",
        help=f"the beam size of the --alphas runs (default: {BEAM_SEARCH_ALPHA_BEAM_SIZE})",
    )
    beam.add_argument(
        "--output",
        default=BEAM_SEARCH_JSON,
        help=f"the JSON file the model's result is added to (default: {BEAM_SEARCH_JSON})",
    )
    beam.set_defaults(handler=_beam_search)

    figures = commands.add_parser(
        "figures", help="redraw the figures and generated tables of docs/ from the release models"
    )
    figures.add_argument("--presets", default=PRESETS, help="release presets (default: presets)")
    figures.add_argument("--docs", default=DOCS, help="the pages' folder (default: docs)")
    figures.add_argument(
        "--pages",
        nargs="+",
        default=None,
        metavar="PAGE",
        help="only these pages (e.g. bottleneck autoencoder; default: every page)",
    )
    figures.set_defaults(handler=_figures)

    release = commands.add_parser(
        "release",
        help="turn a finished run into a release preset with its test metrics (a translator's "
        "beam length penalty is chosen on the validation split first)",
    )
    release.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    release.add_argument("--workdir", default=None, help="the finished run (default: runs/MODEL)")
    release.add_argument("--presets", default=PRESETS, help="presets folder (default: presets)")
    release.add_argument(
        "--command", default=None, help="the training command to record in metadata.json"
    )
    release.set_defaults(handler=_release)

    from kerasnlp_lab.export.models_config import KEEP_VERSIONS

    models = commands.add_parser(
        "models",
        help="export every release preset that changed (or whose code did) as the next version "
        "of saved_models/<model>/",
    )
    models.add_argument("--presets", default=PRESETS, help="presets folder (default: presets)")
    models.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help="TF Serving model base path (default: saved_models)",
    )
    models.add_argument(
        "--keep-versions",
        type=_positive_int,
        default=KEEP_VERSIONS,
        help="how many of each model's newest versions to keep, for rollback; older ones are "
        "deleted once the new one is in place (default %(default)s)",
    )
    models.set_defaults(handler=_models)

    export = commands.add_parser("export", help="export a SavedModel for TF Serving")
    export.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    export.add_argument("--workdir", default=None, help="default: runs/MODEL")
    export.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help="TF Serving model base path (default: saved_models)",
    )
    export.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version number (default: the next free one)",
    )
    export.set_defaults(handler=_export)

    serve = commands.add_parser(
        "serve", help="serve saved_models/ over the TF Serving REST and gRPC APIs"
    )
    serve.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help="folder of <model>/<version>/ SavedModels (default: saved_models)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    serve.add_argument("--rest-port", type=int, default=8501, help="REST port (default 8501)")
    serve.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (default 8500)")
    serve.add_argument(
        "--model-config-file",
        default=None,
        help="ModelServerConfig text file, as TF Serving's --model_config_file",
    )
    serve.add_argument(
        "--enable-batching",
        action="store_true",
        help="batch concurrent requests, as TF Serving's --enable_batching",
    )
    serve.add_argument(
        "--batching-parameters-file",
        default=None,
        help="BatchingParameters text file, as TF Serving's flag of that name",
    )
    serve.add_argument(
        "--enable-per-model-batching-parameters",
        action="store_true",
        help="batch each model with the batching_params.pbtxt of its version folder (a model "
        "without one is not batched; batch threads from --batching-parameters-file), as TF "
        "Serving's --enable_per_model_batching_parameters",
    )
    serve.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        help="how often to look for new or removed versions (default 2)",
    )
    from kerasnlp_lab.serving import limits as serving_limits

    default = serving_limits.ServingLimits()
    limits = serve.add_argument_group("limits (TF Serving's flag names where it has the flag)")
    for limit in serving_limits.LIMITS:
        for name, text in limit.flags.items():
            value = getattr(default, name)
            limits.add_argument(
                serving_limits.flag_of(name),
                type=type(value),
                default=value,
                help=f"{text} (default {serving_limits.shown(value)})",
            )
    serve.set_defaults(handler=_serve)

    playground = commands.add_parser(
        "playground",
        help="the browser playground (also at /playground/ of serve) in front of any TF Serving",
    )
    playground.add_argument(
        "--server",
        default="http://127.0.0.1:8501",
        help="the TF Serving REST API that /v1/ requests are forwarded to "
        "(default http://127.0.0.1:8501)",
    )
    playground.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    playground.add_argument(
        "--port", type=int, default=8080, help="port of the page (default 8080)"
    )
    playground.set_defaults(handler=_playground)

    predict = commands.add_parser(
        "predict", help="run a model on inputs, through a server or in-process"
    )
    predict.add_argument("model", type=_model_name, metavar="MODEL", help=model_help)
    predict.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="texts for the text models; image files (PNG) for the autoencoder",
    )
    predict.add_argument(
        "--server",
        default=None,
        help="http://HOST:PORT (REST) or grpc://HOST:PORT; default: load the latest "
        "SavedModel in-process",
    )
    predict.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help="where to find the SavedModel in-process (default: saved_models)",
    )
    predict.add_argument(
        "--signature", default="serving_default", help="signature name (default: serving_default)"
    )
    predict.add_argument(
        "--num-chars",
        type=int,
        default=None,
        help="char_generator only: characters to generate (default 200)",
    )
    predict.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="char_generator only: sampling temperature (default 1.0)",
    )
    predict.add_argument(
        "--seed", type=int, default=None, help="char_generator only: sampling seed (default 0)"
    )
    predict.set_defaults(handler=_predict)

    demo = commands.add_parser(
        "demo", help="the release models served and shown through REST and gRPC (~1 min)"
    )
    demo.add_argument(
        "--train",
        action="store_true",
        help="instead: train every model on its tiny preset from scratch and "
        "serve those (untrained output; a few minutes)",
    )
    demo.add_argument(
        "--workdir", default=None, help="figures (default runs/demo; runs/walkthrough with --train)"
    )
    demo.add_argument("--presets", default=PRESETS, help="release presets (default: presets)")
    demo.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help="default: saved_models (with --train: WORKDIR/saved_models)",
    )
    demo.set_defaults(handler=_demo)

    data = commands.add_parser("data", help="prepare or show a dataset")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    prepare = data_commands.add_parser("prepare", help="prepare a dataset into the TFDS data dir")
    prepare.add_argument("name", help="e.g. local_fashion_mnist, sword_text/kjv, sword_parallel")
    show = data_commands.add_parser("show", help="counts per split and a few examples")
    show.add_argument("name", help="e.g. local_fashion_mnist, sword_text/kjv, sword_parallel")
    show.add_argument("-n", type=int, default=5, help="examples to show (default 5)")
    data.set_defaults(handler=_data)
    return parser


def _start_strategy(args):
    """A function making the strategy of `train --strategy`, before any TensorFlow op."""

    def start():
        from kerasnlp_lab.training import distribute

        distribute.start(args.strategy)

    return start


def main(argv=None):
    """Entry point of the `kerasnlp-lab` console script."""
    args = build_parser().parse_args(argv)
    try:
        import_quietly(_start_strategy(args) if args.command == "train" else None)
        args.handler(args)
    except UserError as error:
        print(f"kerasnlp-lab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kerasnlp-lab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
