"""Train, evaluate and export the dense MNIST autoencoder in one go.

    python apps/autoencoder.py --preset classic --epochs 10
"""

import argparse
import json
import sys

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.evaluation import autoencoder as evaluation
from kerasnlp_lab.export import autoencoder as exporter
from kerasnlp_lab.models.autoencoder import PRESETS
from kerasnlp_lab.training import autoencoder as training


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="classic",
                        help="tiny (seconds), classic (784-32-784) or deep (784-256-64-32-64-256-784)")
    parser.add_argument("--dataset", default="auto",
                        help="auto (offline Fashion-MNIST if its Debian package is installed, "
                        "else TFDS fashion_mnist), mnist, fashion_mnist or local_fashion_mnist")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's, 10)")
    parser.add_argument("--noise", type=float, default=None, metavar="STD",
                        help="train a denoising autoencoder: Gaussian input noise of this std")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workdir", default="runs/autoencoder",
                        help="checkpoints, TensorBoard logs, metrics and figures (default runs/autoencoder)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument("--saved-models", default="saved_models",
                        help="TF Serving model base path to export to (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="train and evaluate only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        training.train(preset=args.preset, dataset=args.dataset, epochs=args.epochs,
                       workdir=args.workdir, resume=args.resume, seed=args.seed, noise=args.noise)
        print(json.dumps(evaluation.evaluate(args.workdir), indent=2))
        if not args.no_export:
            print(f"Exported to {exporter.export(args.workdir, args.saved_models)}")
    except UserError as error:
        print(f"autoencoder: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
