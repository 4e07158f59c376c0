"""Train, evaluate and export the Bahdanau attention NMT (Spanish -> English) in one go.

python apps/attention_nmt.py --preset small
python apps/attention_nmt.py --preset tiny --dataset tsv:pairs.tsv --no-export
"""

import sys

from kerasnlp_lab.app import app_parser, run_app
from kerasnlp_lab.models.attention_nmt import DEFAULT_PRESET, MODEL_NAME, PRESETS


def build_parser():
    return app_parser(
        __doc__,
        MODEL_NAME,
        PRESETS,
        DEFAULT_PRESET,
        preset_help="tiny (seconds), small (units 256, embeddings 128) or full (units 1024, "
        "embeddings 256)",
        dataset_help="auto (the offline verse pairs sword_parallel/spa_eng when its Debian "
        "packages are installed, else ted_hrlr_translate/pt_to_en), or tsv:PATH",
    )


def main(argv=None):
    return run_app(MODEL_NAME, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
