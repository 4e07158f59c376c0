"""Train, evaluate and export the Transformer translator (Spanish -> English verses) in one go.

python apps/transformer_translator.py --preset small
python apps/transformer_translator.py --preset small --backbone keras_hub --no-export
"""

import sys

from kerasnlp_lab.app import app_parser, run_app
from kerasnlp_lab.models.transformer import BACKBONES, DEFAULT_PRESET, MODEL_NAME, PRESETS


def build_parser():
    parser = app_parser(
        __doc__,
        MODEL_NAME,
        PRESETS,
        DEFAULT_PRESET,
        preset_help="tiny (seconds), small (4 layers, d_model 128) or base (the paper's)",
        dataset_help="auto (offline sword_parallel/spa_eng), ted_hrlr_translate/pt_to_en "
        "or tsv:PATH",
    )
    parser.add_argument(
        "--backbone",
        choices=BACKBONES,
        default="ours",
        help="our layers, or keras_hub's Transformer layers as a reference "
        "(keras_hub runs cannot be exported)",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # A resumed run keeps the backbone it was trained with.
    return run_app(MODEL_NAME, args, backbone=None if args.resume else args.backbone)


if __name__ == "__main__":
    sys.exit(main())
