"""Train, evaluate and export the Bahdanau attention NMT (Spanish -> English) in one go.

    python apps/attention_nmt.py --preset small
    python apps/attention_nmt.py --preset tiny --dataset tsv:pairs.tsv --no-export
"""

import argparse
import json
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import attention_nmt as evaluation
from kerasnlp_lab.export import attention_nmt as exporter
from kerasnlp_lab.models.attention_nmt import PRESETS
from kerasnlp_lab.training import attention_nmt as training


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="tiny (seconds), small (units 256, embeddings 128) or full (units 1024, "
                        "embeddings 256)")
    parser.add_argument("--dataset", default="auto",
                        help="auto (the offline verse pairs sword_parallel/spa_eng when its Debian "
                        "packages are installed, else ted_hrlr_translate/pt_to_en), or tsv:PATH")
    parser.add_argument("--epochs", type=int, default=None,
                        help="most epochs (default: the preset's; early stopping may end sooner)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workdir", default="runs/attention_nmt",
                        help="checkpoints, TensorBoard logs, metrics and figures (default runs/attention_nmt)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument("--saved-models", default="saved_models",
                        help="TF Serving model base path to export to (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="train and evaluate only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        training.train(preset=args.preset, dataset=args.dataset, epochs=args.epochs,
                       workdir=args.workdir, resume=args.resume, seed=args.seed)
        print(json.dumps(evaluation.evaluate(args.workdir), indent=2, ensure_ascii=False))
        if not args.no_export:
            print(f"Exported to {exporter.export(args.workdir, args.saved_models)}")
    except UserError as error:
        print(f"attention_nmt: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
