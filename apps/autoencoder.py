"""Train, evaluate and export the dense MNIST autoencoder in one go.

python apps/autoencoder.py --preset classic --epochs 10
"""

import sys

from kerasnlp_lab.app import app_parser, run_app
from kerasnlp_lab.models.autoencoder import DEFAULT_PRESET, MODEL_NAME, PRESETS


def build_parser():
    parser = app_parser(
        __doc__,
        MODEL_NAME,
        PRESETS,
        DEFAULT_PRESET,
        preset_help="tiny (seconds), classic (784-32-784) or deep (784-256-64-32-64-256-784)",
        dataset_help="auto (offline Fashion-MNIST if its Debian package is installed, "
        "else TFDS fashion_mnist), mnist, fashion_mnist or local_fashion_mnist",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=None,
        metavar="STD",
        help="train a denoising autoencoder: Gaussian input noise of this std",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_app(MODEL_NAME, args, noise=args.noise)


if __name__ == "__main__":
    sys.exit(main())
