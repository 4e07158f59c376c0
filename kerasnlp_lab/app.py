"""What the app scripts share: their common flags, and train -> evaluate -> export in one go.

Each script in apps/ builds its parser with `app_parser`, adds its own flags, and hands the
parsed arguments to `run_app`.
"""

import argparse
import importlib
import json
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import MODEL_MODULES
from kerasnlp_lab.paths import SAVED_MODELS, default_workdir
from kerasnlp_lab.training import distribute


def app_parser(doc, model, presets, default_preset, preset_help, dataset_help):
    """The parser of an app script: --preset, --dataset, --epochs, --seed, --workdir, --resume
    or --overwrite, --saved-models, --no-export and --strategy.

    Args:
        doc: the script's docstring (its usage examples), shown by --help.
        model: the TF Serving name of the model ("autoencoder", ...); --workdir defaults to
            runs/<model>.
        presets: the preset names --preset accepts; default_preset: the one used without it.
        preset_help, dataset_help: the help texts of --preset and --dataset.
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--preset", choices=sorted(presets), default=default_preset, help=preset_help
    )
    parser.add_argument("--dataset", default="auto", help=dataset_help)
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default 0; --resume continues with the run's seed)",
    )
    workdir = default_workdir(model)
    parser.add_argument(
        "--workdir",
        default=workdir,
        help=f"checkpoints, logs, metrics and figures (default {workdir})",
    )
    fresh_or_resumed = parser.add_mutually_exclusive_group()
    fresh_or_resumed.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --workdir from its last epoch checkpoint",
    )
    fresh_or_resumed.add_argument(
        "--overwrite",
        action="store_true",
        help="train afresh in a --workdir that holds a run, deleting what training wrote there "
        "first, as `kerasnlp-lab train --overwrite` (without it such a run is refused)",
    )
    parser.add_argument(
        "--saved-models",
        default=SAVED_MODELS,
        help=f"TF Serving model base path to export to (default {SAVED_MODELS})",
    )
    parser.add_argument("--no-export", action="store_true", help="train and evaluate only")
    parser.add_argument(
        "--strategy",
        choices=distribute.STRATEGIES,
        default="auto",
        help="tf.distribute strategy, as `kerasnlp-lab train --strategy` (default auto: "
        "multi_worker when TF_CONFIG names more than one task); only the chief evaluates "
        "and exports",
    )
    return parser


def run_app(model, args, **train_options):
    """Trains `model` as `args` say, prints its evaluation as JSON, then exports it unless
    --no-export; returns the exit code (2 after printing a UserError to stderr).

    `train_options` are passed on to the model's `train` (the app's own flags).
    """
    module = MODEL_MODULES[model]
    try:
        cluster = distribute.start(args.strategy)  # before any TensorFlow op
        training, evaluation, exporter = (
            importlib.import_module(f"kerasnlp_lab.{package}.{module}")
            for package in ("training", "evaluation", "export")
        )
        training.train(
            preset=args.preset,
            dataset=args.dataset,
            epochs=args.epochs,
            workdir=args.workdir,
            resume=args.resume,
            seed=args.seed,
            strategy=args.strategy,
            overwrite=args.overwrite,
            **train_options,
        )
        if not cluster.is_chief:
            return 0
        print(json.dumps(evaluation.evaluate(args.workdir), indent=2, ensure_ascii=False))
        if not args.no_export:
            print(f"Exported to {exporter.export(args.workdir, args.saved_models)}")
    except UserError as error:
        print(f"{model}: error: {error}", file=sys.stderr)
        return 2
    return 0
