"""The offline TFDS builders: exact counts, determinism, held-out books, clean text, features."""

import hashlib
import pathlib
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerasnlp_lab.data import sword_text
from kerasnlp_lab.data.splits import hash_split
from kerasnlp_lab.data.sword_reader import clean_osis
from tests.data.conftest import OFFLINE_BUILDERS, prepare_all

EXPECTED_COUNTS = {
    "local_fashion_mnist": {"train": 60000, "test": 10000},
    "sword_text/kjv": {"train": 1106, "validation": 41, "test": 42},
    "sword_text/web": {"train": 1305, "validation": 41, "test": 42},
    "sword_parallel/spa_eng": {"train": 29019, "validation": 1035, "test": 1009},
}
ALIGNED_REFERENCES = 31077
DROPPED_PAIRS = 14


def split_counts(name, data_dir):
    builder = tfds.builder(name, data_dir=data_dir)
    return {split: info.num_examples for split, info in builder.info.splits.items()}


def read_all(name, data_dir, split):
    """Every example of a split as a list of dicts of NumPy values (read in batches: fast)."""
    batches = (
        tfds.builder(name, data_dir=data_dir)
        .as_dataset(split=split)
        .batch(4096)
        .as_numpy_iterator()
    )
    return [
        {key: values[index] for key, values in batch.items()}
        for batch in batches
        for index in range(len(next(iter(batch.values()))))
    ]


@pytest.fixture(scope="module")
def parallel_examples(prepared_dir):
    """{split: [example, ...]} of sword_parallel/spa_eng."""
    return {
        split: read_all("sword_parallel/spa_eng", prepared_dir, split)
        for split in ("train", "validation", "test")
    }


def shard_digests(name, data_dir):
    """{file name: sha256} of the prepared record files of a dataset."""
    version_dir = pathlib.Path(tfds.builder(name, data_dir=data_dir).data_dir)
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in version_dir.glob("*.tfrecord*")
    }


@pytest.mark.parametrize("name", OFFLINE_BUILDERS)
def test_exact_counts_per_split(prepared_dir, name):
    assert split_counts(name, prepared_dir) == EXPECTED_COUNTS[name]
    for split, count in EXPECTED_COUNTS[name].items():
        if name != "local_fashion_mnist":
            assert len(read_all(name, prepared_dir, split)) == count


def test_preparing_twice_gives_identical_records(prepared_dir, tmp_path):
    prepare_all(tmp_path)
    for name in OFFLINE_BUILDERS:
        first, second = shard_digests(name, prepared_dir), shard_digests(name, str(tmp_path))
        assert first and first == second, name


def test_parallel_pairs_and_dropped_count(prepared_dir, parallel_examples):
    builder = tfds.builder("sword_parallel/spa_eng", data_dir=prepared_dir)
    assert builder.info.supervised_keys == ("es", "en")
    assert builder.info.metadata["aligned_pairs"] == ALIGNED_REFERENCES
    assert builder.info.metadata["dropped_pairs"] == DROPPED_PAIRS
    assert len(builder.info.metadata["dropped_references"]) == DROPPED_PAIRS
    assert (
        sum(EXPECTED_COUNTS["sword_parallel/spa_eng"].values())
        == ALIGNED_REFERENCES - DROPPED_PAIRS
    )
    pairs = {
        example["reference"].decode(): (example["es"].decode(), example["en"].decode())
        for examples in parallel_examples.values()
        for example in examples
    }
    assert pairs["Gen 1:1"] == (
        "EN el principio crió Dios los cielos y la tierra.",
        "In the beginning, God created the heavens and the earth.",
    )
    assert (
        pairs["Rev 22:21"][1] == "The grace of the Lord Jesus Christ be with all the saints. Amen."
    )
    assert (
        "Job 39:30" not in pairs
    )  # RV1909's verse holds five more than WEB's: dropped as misaligned
    assert all(es.strip() and en.strip() and "¶" not in es + en for es, en in pairs.values())


def test_parallel_split_is_by_reference_and_stable(parallel_examples):
    by_split = {
        split: {example["reference"].decode() for example in examples}
        for split, examples in parallel_examples.items()
    }
    assert not (by_split["train"] & by_split["test"]) and not (
        by_split["train"] & by_split["validation"]
    )
    # Pinned members: the split of a reference must never change for version 1.0.0.
    assert "Gen 1:1" in by_split["train"]
    assert sorted(by_split["test"])[:3] == ["1Chr 10:8", "1Chr 14:14", "1Chr 14:3"]
    assert sorted(by_split["validation"])[:3] == ["1Chr 10:9", "1Chr 11:41", "1Chr 11:8"]
    assert all(
        hash_split(reference) == split for split, refs in by_split.items() for reference in refs
    )


@pytest.mark.parametrize("config", ["kjv", "web"])
def test_text_chapters_split_by_book_without_empty_text(prepared_dir, config):
    name = f"sword_text/{config}"
    books = {}
    for split in ("train", "validation", "test"):
        for example in read_all(name, prepared_dir, split):
            text = example["text"].decode()
            assert text and "¶" not in text and "\n\n" not in text
            books.setdefault(split, set()).add(example["book"].decode())
    assert books["validation"] == set(sword_text.VALIDATION_BOOKS)
    assert books["test"] == set(sword_text.TEST_BOOKS)
    assert not (books["train"] & (books["validation"] | books["test"]))


def test_text_chapter_joins_verses_by_newline(prepared_dir):
    genesis_1 = [
        example
        for example in read_all("sword_text/kjv", prepared_dir, "train")
        if example["book"] == b"Gen" and example["chapter"] == 1
    ]
    assert len(genesis_1) == 1
    lines = genesis_1[0]["text"].decode().split("\n")
    assert len(lines) == 31
    assert lines[0] == "In the beginning God created the heaven and the earth."
    assert genesis_1[0]["book_name"] == b"Genesis"


def test_local_fashion_mnist_features_match_tfds_fashion_mnist(prepared_dir):
    ours = tfds.builder("local_fashion_mnist", data_dir=prepared_dir).info
    theirs = tfds.builder(
        "fashion_mnist", data_dir=prepared_dir
    ).info  # info from code, no download
    assert repr(ours.features) == repr(theirs.features)
    assert ours.supervised_keys == theirs.supervised_keys
    example = next(iter(read_all("local_fashion_mnist", prepared_dir, "test[:1]")))
    assert example["image"].shape == (28, 28, 1) and example["image"].dtype == np.uint8
    assert 0 <= example["label"] < 10


# OSIS/SWORD/USFM markup: a backslash code (the KJV's "\nd" before LORD), a tag, a brace.
MARKUP = re.compile(r"\\[A-Za-z]|<[^>]*>|[{}]")


@pytest.mark.parametrize(
    "name,fields",
    [
        ("sword_text/kjv", ("text",)),
        ("sword_text/web", ("text",)),
        ("sword_parallel/spa_eng", None),
    ],
)
def test_no_markup_is_left_in_any_split(prepared_dir, name, fields):
    found = []
    for split in ("train", "validation", "test"):
        for example in read_all(name, prepared_dir, split):
            for key in fields or [k for k, v in example.items() if isinstance(v, bytes)]:
                text = example[key].decode()
                found += [f"{split}: {match.group()!r}" for match in MARKUP.finditer(text)]
    assert found == []


def test_the_kjv_divine_name_keeps_its_word_and_loses_its_code():
    assert clean_osis(r"The \nd LORD\nd* hath sworn {by} his right hand") == (
        "The LORD hath sworn by his right hand"
    )
