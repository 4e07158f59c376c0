r"""Train, evaluate and export the stateful GRU character generator in one go.

    python apps/char_generator.py --preset small --epochs 10
    python apps/char_generator.py --preset tiny --dataset textfile:my_book.txt

Then generate text from the export:

    kerasnlp-lab predict char_generator "In the beginning" \
        --num-chars 300 --temperature 0.8 --seed 1
"""

import sys

from kerasnlp_lab.app import app_parser, run_app
from kerasnlp_lab.models.char_generator import DEFAULT_PRESET, MODEL_NAME, PRESETS


def build_parser():
    return app_parser(
        __doc__,
        MODEL_NAME,
        PRESETS,
        DEFAULT_PRESET,
        preset_help="tiny (seconds), small (GRU 256, the default), full (embedding 256, "
        "GRU 1024); *_dense: the same with a plain Dense head instead of the "
        "wide-and-deep head",
        dataset_help="auto (the KJV Bible from the Debian package sword-text-kjv if "
        "installed, else TFDS tiny_shakespeare), sword_text/kjv, sword_text/web, "
        "tiny_shakespeare or textfile:PATH (a UTF-8 file)",
    )


def main(argv=None):
    return run_app(MODEL_NAME, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
