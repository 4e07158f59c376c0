"""TFDS builder `sword_parallel`: verse-aligned Bible translations from SWORD modules.

Config ``spa_eng``: Spanish Reina-Valera 1909 (spaRV1909eb, Debian package sword-text-sparv)
aligned with the World English Bible (engWEB2015eb, sword-text-web) by book, chapter and
verse. 31,077 references have text on both sides; a pair is dropped as misaligned when one
side has more than 3 times the words of the other, or more than 250 words (the real
longest verse has 111). The number dropped is stored in the dataset's metadata.

Splits are by a SHA-256 hash of the reference ("Gen 1:1"): one reference in 31 goes to
validation, one in 31 to test (about 1,000 each), the rest to train. The split depends on
the reference only, so it never changes for a version, and both translation models are
compared on the same test set. Features: ``es``, ``en``, ``reference``; supervised keys
``("es", "en")`` give (source, target) pairs.
"""

import dataclasses

import tensorflow_datasets as tfds

from kerasnlp_lab.data import sword_reader
from kerasnlp_lab.data.splits import SPLITS, hash_split

MAX_WORD_RATIO = 3.0
MAX_WORDS = 250


def is_misaligned(source, target):
    """True when two verse texts are too different in length to be translations of each other."""
    source_words, target_words = len(source.split()), len(target.split())
    if max(source_words, target_words) > MAX_WORDS:
        return True
    return max(source_words, target_words) > MAX_WORD_RATIO * min(source_words, target_words)


def aligned_verses(source_module, target_module):
    """(kept, dropped): lists of (reference, source text, target text) in source order.

    Only references with text in both modules are considered; dropped are the misaligned ones.
    """
    targets = {verse.reference: verse.text for verse in sword_reader.read_verses(target_module)}
    kept, dropped = [], []
    for verse in sword_reader.read_verses(source_module):
        target = targets.get(verse.reference)
        if target is None:
            continue
        pair = (verse.reference, verse.text, target)
        (dropped if is_misaligned(verse.text, target) else kept).append(pair)
    return kept, dropped


@dataclasses.dataclass(eq=False)
class SwordParallelConfig(tfds.core.BuilderConfig):
    """A `sword_parallel` config: the source and target languages and SWORD modules."""

    source_language: str = ""
    target_language: str = ""
    source_module: str = ""
    target_module: str = ""


class SwordParallel(tfds.core.GeneratorBasedBuilder):
    """Verse pairs of two Bible translations, aligned by reference, split by reference hash."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "RV1909 -> WEB verse pairs, misaligned pairs dropped, 1/31 validation, 1/31 test."
    }
    BUILDER_CONFIGS = [
        SwordParallelConfig(
            name="spa_eng",
            description="Spanish (Reina-Valera 1909) -> English (World English Bible) verse pairs.",
            source_language="es",
            target_language="en",
            source_module="spaRV1909eb",
            target_module="engWEB2015eb",
        )
    ]

    def _info(self):
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    config.source_language: tfds.features.Text(),
                    config.target_language: tfds.features.Text(),
                    "reference": tfds.features.Text(),
                }
            ),
            supervised_keys=(config.source_language, config.target_language),
            homepage="https://crosswire.org/sword/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Local files only.
        config = self.builder_config
        kept, dropped = aligned_verses(config.source_module, config.target_module)
        self.info.metadata["aligned_pairs"] = len(kept) + len(dropped)
        self.info.metadata["dropped_pairs"] = len(dropped)
        self.info.metadata["dropped_references"] = [reference for reference, _, _ in dropped]
        pairs = {split: [] for split in SPLITS}
        for pair in kept:
            pairs[hash_split(pair[0])].append(pair)
        return {split: self._generate_examples(items) for split, items in pairs.items()}

    def _generate_examples(self, pairs):
        config = self.builder_config
        for reference, source, target in pairs:
            yield (
                reference,
                {
                    config.source_language: source,
                    config.target_language: target,
                    "reference": reference,
                },
            )
