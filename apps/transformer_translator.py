"""Train, evaluate and export the Transformer translator (Spanish -> English verses) in one go.

    python apps/transformer_translator.py --preset small
    python apps/transformer_translator.py --preset small --backbone keras_hub --no-export
"""

import argparse
import json
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import transformer as evaluation
from kerasnlp_lab.export import transformer as exporter
from kerasnlp_lab.models.transformer import BACKBONES, PRESETS
from kerasnlp_lab.training import transformer as training


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="tiny (seconds), small (4 layers, d_model 128) or base (the paper's)")
    parser.add_argument("--backbone", choices=BACKBONES, default="ours",
                        help="our layers, or keras_hub's Transformer layers as a reference "
                        "(keras_hub runs cannot be exported)")
    parser.add_argument("--dataset", default="auto",
                        help="auto (offline sword_parallel/spa_eng), ted_hrlr_translate/pt_to_en "
                        "or tsv:PATH")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workdir", default="runs/transformer_translator",
                        help="checkpoints, logs, metrics and figures "
                        "(default runs/transformer_translator)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument("--saved-models", default="saved_models",
                        help="TF Serving model base path to export to (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="train and evaluate only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        training.train(preset=args.preset, dataset=args.dataset, epochs=args.epochs,
                       workdir=args.workdir, resume=args.resume, seed=args.seed,
                       backbone=None if args.resume else args.backbone)
        print(json.dumps(evaluation.evaluate(args.workdir), indent=2, ensure_ascii=False))
        if not args.no_export:
            print(f"Exported to {exporter.export(args.workdir, args.saved_models)}")
    except UserError as error:
        print(f"transformer_translator: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
