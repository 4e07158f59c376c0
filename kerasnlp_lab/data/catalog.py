"""Choosing and loading datasets by name, offline (Debian packages) or online (TFDS).

Three kinds of data, each with its accepted names:
  images:   local_fashion_mnist (offline), fashion_mnist, mnist
  text:     sword_text/kjv, sword_text/web (offline), tiny_shakespeare, textfile:PATH
  parallel: sword_parallel/spa_eng (offline), ted_hrlr_translate/pt_to_en, tsv:PATH
``auto`` picks the offline corpus when its Debian files are present, else the online one.
Importing this module registers the offline TFDS builders, so ``tfds.load("sword_text/kjv")``
works afterwards.

``textfile:PATH`` (UTF-8) is split at line starts: about the first 90% of its characters are
train, the next 5% validation, the last 5% test, one element each (like tiny_shakespeare).
``tsv:PATH`` holds ``source<TAB>target[<TAB>anything...]`` lines (the Anki files have a third
column); a pair's split is a hash of its source sentence (about 1/31 validation and 1/31 test),
so a sentence never lands in two splits.
"""

import os
import sys

import tensorflow as tf
import tensorflow_datasets as tfds

from kerasnlp_lab.data import local_fashion_mnist, sword_parallel, sword_reader, sword_text  # noqa: F401 (registers)
from kerasnlp_lab.data.splits import SPLITS, hash_split
from kerasnlp_lab.errors import DataUnavailableError, UserError

KINDS = ("images", "text", "parallel")
TFDS_NAMES = {
    "images": ("local_fashion_mnist", "fashion_mnist", "mnist"),
    "text": ("sword_text/kjv", "sword_text/web", "tiny_shakespeare"),
    "parallel": ("sword_parallel/spa_eng", "ted_hrlr_translate/pt_to_en"),
}
FILE_PREFIXES = {"text": "textfile:", "parallel": "tsv:"}
ALIASES = {"sword_text": "sword_text/kjv", "sword_parallel": "sword_parallel/spa_eng"}
# kind -> (offline corpus, online TFDS fallback) for dataset="auto".
AUTO = {
    "images": ("local_fashion_mnist", "fashion_mnist"),
    "text": ("sword_text/kjv", "tiny_shakespeare"),
    "parallel": ("sword_parallel/spa_eng", "ted_hrlr_translate/pt_to_en"),
}
# Offline corpus -> the SWORD modules it reads.
SWORD_MODULES = {
    "sword_text/kjv": ("engKJV2006eb",),
    "sword_text/web": ("engWEB2015eb",),
    "sword_parallel/spa_eng": ("spaRV1909eb", "engWEB2015eb"),
}
OFFLINE = frozenset({"local_fashion_mnist", *SWORD_MODULES})
TEXTFILE_SPLIT_FRACTIONS = {"train": (0.0, 0.90), "validation": (0.90, 0.95), "test": (0.95, 1.0)}


def accepted_names(kind):
    """The dataset names accepted for ``kind``, as one readable string."""
    return ", ".join(("auto",) + TFDS_NAMES[kind] + (FILE_PREFIXES.get(kind, "") + "PATH",))


def missing_offline_message(name):
    """Why the offline corpus ``name`` can't be used, or None when its files are present."""
    if name == "local_fashion_mnist":
        return (
            local_fashion_mnist.missing_files_message()
            if local_fashion_mnist.missing_files()
            else None
        )
    modules = SWORD_MODULES[name]
    missing = [module for module in modules if sword_reader.find_module(module) is None]
    if not missing:
        return None
    packages = " ".join(sword_reader.DEBIAN_PACKAGES[module] for module in modules)
    searched = ", ".join(sword_reader.sword_search_path()) or "(nothing)"
    return (
        f"{name} needs the Debian packages {' and '.join(packages.split())} "
        f"(SWORD modules {', '.join(missing)} not found in {searched}): "
        f"sudo apt-get install {packages}"
    )


def kind_of(name):
    """The kind ("images", "text" or "parallel") of a dataset name."""
    name = ALIASES.get(name, name)
    for kind in KINDS:
        if name in TFDS_NAMES[kind] or (
            kind in FILE_PREFIXES and name.startswith(FILE_PREFIXES[kind])
        ):
            return kind
    raise DataUnavailableError(
        f"Unknown dataset {name!r}. Expected one of: "
        + "; ".join(f"{kind}: {accepted_names(kind)}" for kind in KINDS)
    )


def _path_of(name):
    """The file path of a textfile: or tsv: dataset, or None for a TFDS name."""
    for prefix in FILE_PREFIXES.values():
        if name.startswith(prefix):
            return name[len(prefix) :]
    return None


def resolve(kind, dataset="auto"):
    """The dataset name to load for ``kind``; "auto" prefers the offline corpus and says which it
    chose.

    Raises:
        DataUnavailableError: unknown name, missing Debian package or missing file.
    """
    if kind not in KINDS:
        raise UserError(f"Expected a dataset kind in {KINDS}, got {kind!r}.")
    if dataset == "auto":
        offline, online = AUTO[kind]
        reason = missing_offline_message(offline)
        if reason is None:
            print(f"dataset: {offline} (offline, auto)", file=sys.stderr)
            return offline
        print(
            f"dataset: {online} (online TFDS, auto; offline corpus unavailable: {reason})",
            file=sys.stderr,
        )
        return online
    name = ALIASES.get(dataset, dataset)
    if kind_of(name) != kind:
        raise DataUnavailableError(
            f"Expected a dataset of kind {kind} ({accepted_names(kind)}), got {dataset!r}."
        )
    path = _path_of(name)
    if path is not None and not os.path.isfile(path):
        raise DataUnavailableError(
            f"{name}: expected a readable file, but {path!r} does not exist."
        )
    if name in OFFLINE:
        reason = missing_offline_message(name)
        if reason is not None:
            raise DataUnavailableError(reason)
    return name


def _prepared_builder(name, data_dir):
    """The TFDS builder of ``name``, prepared (once: TFDS caches it in the data dir)."""
    builder = tfds.builder(name, data_dir=data_dir)
    try:
        builder.download_and_prepare()
    except FileExistsError:
        # Another process prepared the same version meanwhile (two runs started at once)
        # and renamed its finished folder into place first: load that one.
        return tfds.builder(name, data_dir=data_dir)
    except OSError as error:  # Network failures (requests, urllib) are OSErrors.
        offline = AUTO[kind_of(name)][0]
        raise DataUnavailableError(
            f"Could not download {name} through TFDS ({type(error).__name__}: {error}). "
            f"Without internet, use the offline corpus {offline}: "
            f"{missing_offline_message(offline) or f'--dataset {offline}'}"
        ) from error
    return builder


def _load_tfds(name, split, data_dir, as_supervised=False):
    """Prepare (once) and load a split of a TFDS dataset."""
    builder = _prepared_builder(name, data_dir)
    try:
        return builder.as_dataset(split=split, as_supervised=as_supervised, shuffle_files=False)
    except ValueError as error:
        available = ", ".join(builder.info.splits) or "unknown"
        raise UserError(
            f"{name}: expected a split of {available} (slicing allowed), got {split!r}."
        ) from error


def _check_file_split(name, split):
    if split not in SPLITS:
        raise UserError(f"{name}: expected a split of {', '.join(SPLITS)}, got {split!r}.")


def load_images(dataset="auto", split="train", data_dir=None):
    """A tf.data.Dataset of {"image": uint8 (28, 28), "label": int64}."""
    name = resolve("images", dataset)
    examples = _load_tfds(name, split, data_dir)
    return examples.map(
        lambda example: {
            "image": tf.squeeze(example["image"], axis=-1),
            "label": example["label"],
        },  # (28, 28)
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def label_names(dataset="auto", data_dir=None):
    """The class names of an image dataset, by label."""
    name = resolve("images", dataset)
    return list(_prepared_builder(name, data_dir).info.features["label"].names)


def read_textfile_split(path, split):
    """The text of one split of a UTF-8 file; each cut is moved forward to the next line start."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if not text.strip():
        raise DataUnavailableError(f"textfile:{path}: expected some text, the file is empty.")

    def cut(fraction):
        position = int(fraction * len(text))
        if position in (0, len(text)) or text[position - 1] == "\n":
            return position
        newline = text.find("\n", position)
        return len(text) if newline < 0 else newline + 1

    start, end = TEXTFILE_SPLIT_FRACTIONS[split]
    return text[cut(start) : cut(end)]


def load_text(dataset="auto", split="train", data_dir=None):
    """A tf.data.Dataset of tf.string scalars, one document (a chapter, or a whole split) each."""
    name = resolve("text", dataset)
    path = _path_of(name)
    if path is not None:
        _check_file_split(name, split)
        text = read_textfile_split(path, split)
        return tf.data.Dataset.from_tensor_slices(tf.constant([text]))
    return _load_tfds(name, split, data_dir).map(lambda example: example["text"])


def read_tsv_pairs(path):
    """{split: [(source, target), ...]} from a tab-separated file; extra columns are ignored."""
    pairs = {split: [] for split in SPLITS}
    with open(path, encoding="utf-8") as file:
        for line in file:
            columns = line.rstrip("\n").split("\t")
            if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
                continue
            source, target = columns[0].strip(), columns[1].strip()
            pairs[hash_split(source)].append((source, target))
    if not any(pairs.values()):
        raise DataUnavailableError(f"tsv:{path}: expected lines of source<TAB>target, found none.")
    return pairs


def load_pairs(dataset="auto", split="train", data_dir=None):
    """A tf.data.Dataset of (source, target) tf.string scalar pairs."""
    name = resolve("parallel", dataset)
    path = _path_of(name)
    if path is not None:
        _check_file_split(name, split)
        pairs = read_tsv_pairs(path)[split]
        sources = tf.constant([source for source, _ in pairs], dtype=tf.string)
        targets = tf.constant([target for _, target in pairs], dtype=tf.string)
        return tf.data.Dataset.from_tensor_slices((sources, targets))
    return _load_tfds(name, split, data_dir, as_supervised=True)


def prepare(name, data_dir=None):
    """Prepare a dataset once into the TFDS data dir (files given by path are just checked)."""
    kind = kind_of(name)
    name = resolve(kind, name)
    path = _path_of(name)
    if path is None:
        _prepared_builder(name, data_dir)
    elif kind == "parallel":
        read_tsv_pairs(path)
    else:
        read_textfile_split(path, "train")


def _split_counts(name, data_dir):
    """{split: number of examples} of a prepared dataset."""
    path = _path_of(name)
    if path is None:
        return {
            split: info.num_examples
            for split, info in tfds.builder(name, data_dir=data_dir).info.splits.items()
        }
    if kind_of(name) == "parallel":
        return {split: len(pairs) for split, pairs in read_tsv_pairs(path).items()}
    return {split: 1 for split in SPLITS}


def _format_example(kind, example, labels):
    """One or two indented lines showing an example; ``labels`` names classes or pair sides."""
    if kind == "images":
        label = int(example["label"])
        return (
            f"  label {label} ({labels[label]}), mean pixel {example['image'].numpy().mean():.1f}"
        )
    if kind == "text":
        text = example.numpy().decode("utf-8")
        preview = text[:200].replace("\n", " / ")
        return f"  {len(text):,} chars: {preview}{'...' if len(text) > 200 else ''}"
    source, target = (side.numpy().decode("utf-8") for side in example)
    return f"  {labels[0]}: {source}\n  {labels[1]}: {target}\n"


def describe(name, n=5, data_dir=None):
    """Counts per split and ``n`` training examples of a dataset, as readable text."""
    kind = kind_of(name)
    prepare(name, data_dir)
    name = resolve(kind, name)
    lines = [f"{name} ({kind})"]
    counts = _split_counts(name, data_dir)
    labels, metadata = ("source", "target"), {}
    if _path_of(name) is None:
        info = tfds.builder(name, data_dir=data_dir).info
        metadata = info.metadata or {}
        if kind == "images":
            labels = info.features["label"].names
        elif kind == "parallel":
            labels = info.supervised_keys
    lines += [f"  {split}: {count:,} examples" for split, count in counts.items()]
    if "dropped_pairs" in metadata:
        lines.append(
            f"  dropped as misaligned: {metadata['dropped_pairs']:,} "
            f"of {metadata['aligned_pairs']:,} aligned references"
        )
    if n > 0:
        loader = {"images": load_images, "text": load_text, "parallel": load_pairs}[kind]
        lines.append(f"first {n} train examples:")
        lines += [
            _format_example(kind, example, labels)
            for example in loader(name, "train", data_dir).take(n)
        ]
    return "\n".join(lines).rstrip("\n")
