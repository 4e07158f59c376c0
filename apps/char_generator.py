"""Train, evaluate and export the stateful GRU character generator in one go.

    python apps/char_generator.py --preset small --epochs 10
    python apps/char_generator.py --preset tiny --dataset textfile:my_book.txt

Then generate text from the export:

    kerasnlp-lab predict char_generator "In the beginning" --num-chars 300 --temperature 0.8 --seed 1
"""

import argparse
import json
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import char_generator as evaluation
from kerasnlp_lab.export import char_generator as exporter
from kerasnlp_lab.models.char_generator import DEFAULT_PRESET, PRESETS
from kerasnlp_lab.training import char_generator as training


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                        help="tiny (seconds), small (GRU 256, the default), full (embedding 256, "
                        "GRU 1024); *_dense: the same with a plain Dense head instead of the "
                        "wide-and-deep head")
    parser.add_argument("--dataset", default="auto",
                        help="auto (the KJV Bible from the Debian package sword-text-kjv if "
                        "installed, else TFDS tiny_shakespeare), sword_text/kjv, sword_text/web, "
                        "tiny_shakespeare or textfile:PATH (a UTF-8 file)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the training run (default 0)")
    parser.add_argument("--workdir", default="runs/char_generator",
                        help="checkpoints, vocabulary, TensorBoard logs, metrics and figures "
                        "(default runs/char_generator)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --workdir from its last epoch checkpoint")
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
        print(f"char_generator: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
