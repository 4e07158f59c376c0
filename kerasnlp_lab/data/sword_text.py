"""TFDS builder `sword_text`: English Bible text from SWORD modules, one example per chapter.

Configs: ``kjv`` (module engKJV2006eb, Debian package sword-text-kjv) and ``web``
(engWEB2015eb, sword-text-web; it also has the deuterocanonical books). An example's
``text`` is the chapter's cleaned verses joined by a newline, one verse per line.

Splits are by book, so no verse of a held-out book is ever trained on. The same books
are held out in both configs:
  validation: Ruth, Ecclesiastes, Joel, Philippians, Hebrews, 1 Peter
  test:       Lamentations, Jonah, Micah, John, James
Every other book is in train.
"""

import dataclasses
import itertools

import numpy as np
import tensorflow_datasets as tfds

from kerasnlp_lab.data import sword_reader
from kerasnlp_lab.data.splits import SPLITS

VALIDATION_BOOKS = frozenset({"Ruth", "Eccl", "Joel", "Phil", "Heb", "1Pet"})
TEST_BOOKS = frozenset({"Lam", "Jonah", "Mic", "John", "Jas"})
VERSE_SEPARATOR = "\n"


def split_of_book(book):
    """The split ("train", "validation" or "test") of an OSIS book id such as "Gen"."""
    if book in VALIDATION_BOOKS:
        return "validation"
    if book in TEST_BOOKS:
        return "test"
    return "train"


def _chapter_of(verse):
    return verse.book, verse.book_name, verse.chapter


@dataclasses.dataclass(eq=False)
class SwordTextConfig(tfds.core.BuilderConfig):
    """A `sword_text` config: which SWORD module it reads."""

    module: str = ""


class SwordText(tfds.core.GeneratorBasedBuilder):
    """Bible chapters (cleaned plain text) from a SWORD module, split by book."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "One example per chapter, verses joined by newlines, split by book.",
        "1.1.0": "Leftover markup codes (the KJV's 25 `\\nd` before LORD) removed.",
    }
    BUILDER_CONFIGS = [
        SwordTextConfig(
            name="kjv", module="engKJV2006eb", description="King James Version (engKJV2006eb)."
        ),
        SwordTextConfig(
            name="web", module="engWEB2015eb", description="World English Bible (engWEB2015eb)."
        ),
    ]

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "book": tfds.features.Text(),
                    "book_name": tfds.features.Text(),
                    "chapter": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            homepage="https://crosswire.org/sword/",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Local files only.
        chapters = {split: [] for split in SPLITS}
        verses = sword_reader.read_verses(self.builder_config.module)
        for key, chapter_verses in itertools.groupby(verses, key=_chapter_of):
            lines = [verse.text for verse in chapter_verses]
            chapters[split_of_book(key[0])].append((key, lines))
        return {split: self._generate_examples(items) for split, items in chapters.items()}

    def _generate_examples(self, items):
        for (book, book_name, chapter), lines in items:
            yield (
                f"{book}.{chapter}",
                {
                    "text": VERSE_SEPARATOR.join(lines),
                    "book": book,
                    "book_name": book_name,
                    "chapter": chapter,
                },
            )
