"""The catalog: choosing datasets, clear errors, loaders for offline, online (mocked) and file
data."""

import subprocess
import sys
import textwrap

import pytest
import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from kerasnlp_lab.data import catalog, local_fashion_mnist, sword_reader
from kerasnlp_lab.data.splits import hash_split
from kerasnlp_lab.errors import DataUnavailableError, UserError


@pytest.fixture
def no_debian_files(tmp_path, monkeypatch):
    """Point the SWORD and Fashion-MNIST overrides at an empty folder: as if nothing were
    installed."""
    monkeypatch.setenv(sword_reader.SWORD_PATH_ENV, str(tmp_path))
    monkeypatch.setenv(local_fashion_mnist.FASHION_MNIST_DIR_ENV, str(tmp_path))


@pytest.fixture
def tsv_file(tmp_path):
    lines = [
        f"frase {i}\tsentence {i}\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}"
        for i in range(300)
    ]
    lines += ["", "only one column", "\tno source", "frase 0\tanother translation of frase 0"]
    path = tmp_path / "spa.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_auto_prefers_offline_corpora_and_says_so(offline_files_present, capsys):
    assert catalog.resolve("images") == "local_fashion_mnist"
    assert catalog.resolve("text") == "sword_text/kjv"
    assert catalog.resolve("parallel", "auto") == "sword_parallel/spa_eng"
    assert capsys.readouterr().err.splitlines() == [
        "dataset: local_fashion_mnist (offline, auto)",
        "dataset: sword_text/kjv (offline, auto)",
        "dataset: sword_parallel/spa_eng (offline, auto)",
    ]


def test_auto_falls_back_to_online_tfds_names(no_debian_files, capsys):
    assert catalog.resolve("images") == "fashion_mnist"
    assert catalog.resolve("text") == "tiny_shakespeare"
    assert catalog.resolve("parallel") == "ted_hrlr_translate/pt_to_en"
    err = capsys.readouterr().err
    assert "dataset: fashion_mnist (online TFDS, auto;" in err and "dataset-fashion-mnist" in err
    assert "sudo apt-get install sword-text-sparv sword-text-web" in err


def test_explicit_offline_name_without_its_package_names_the_package(no_debian_files):
    with pytest.raises(DataUnavailableError) as error:
        catalog.resolve("parallel", "sword_parallel/spa_eng")
    assert str(error.value).startswith(
        "sword_parallel/spa_eng needs the Debian packages sword-text-sparv and sword-text-web"
    )
    assert str(error.value).endswith("sudo apt-get install sword-text-sparv sword-text-web")
    with pytest.raises(DataUnavailableError, match="sudo apt-get install sword-text-kjv"):
        catalog.load_text("sword_text/kjv")
    with pytest.raises(DataUnavailableError, match="sudo apt-get install dataset-fashion-mnist"):
        catalog.load_images("local_fashion_mnist")


def test_unknown_and_mismatched_names_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(
        DataUnavailableError, match="Unknown dataset 'imagenet'. Expected one of: images: auto, "
    ):
        catalog.resolve("images", "imagenet")
    with pytest.raises(
        DataUnavailableError, match="Expected a dataset of kind images .* got 'sword_text/kjv'"
    ):
        catalog.resolve("images", "sword_text/kjv")
    with pytest.raises(DataUnavailableError, match="does not exist"):
        catalog.resolve("parallel", f"tsv:{tmp_path / 'missing.tsv'}")
    with pytest.raises(
        DataUnavailableError,
        match=r"Expected a dataset of kind text \(auto, .*textfile:PATH\), got 'tsv:x'",
    ):
        catalog.resolve("text", "tsv:x")
    with pytest.raises(UserError, match="Expected a dataset kind"):
        catalog.resolve("audio")


def test_aliases_resolve_to_the_default_config(offline_files_present):
    assert catalog.resolve("parallel", "sword_parallel") == "sword_parallel/spa_eng"
    assert catalog.resolve("text", "sword_text") == "sword_text/kjv"


def test_importing_the_catalog_registers_the_offline_builders():
    registered = tfds.list_builders(with_community_datasets=False)
    assert {"local_fashion_mnist", "sword_text", "sword_parallel"} <= set(registered)


def test_offline_loaders_give_the_documented_elements(prepared_dir):
    images = catalog.load_images("local_fashion_mnist", "train[:1%]", data_dir=prepared_dir)
    assert images.element_spec == {
        "image": tf.TensorSpec((28, 28), tf.uint8),
        "label": tf.TensorSpec((), tf.int64),
    }
    assert images.cardinality().numpy() == 600
    chapters = catalog.load_text("sword_text/web", "test", data_dir=prepared_dir)
    assert chapters.element_spec == tf.TensorSpec((), tf.string)
    assert chapters.cardinality().numpy() == 42
    pairs = catalog.load_pairs("sword_parallel", "validation", data_dir=prepared_dir)
    assert pairs.element_spec == (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.string))
    assert pairs.cardinality().numpy() == 1035


def test_a_split_that_does_not_exist_is_a_user_error(prepared_dir, tsv_file):
    with pytest.raises(
        UserError, match=r"local_fashion_mnist: expected a split of train, test .* got 'validation'"
    ):
        catalog.load_images("local_fashion_mnist", "validation", data_dir=prepared_dir)
    with pytest.raises(UserError, match="expected a split of train, validation, test, got 'dev'"):
        catalog.load_pairs(f"tsv:{tsv_file}", "dev")


def test_a_version_another_process_prepared_meanwhile_is_loaded_not_refused(tmp_path, monkeypatch):
    """Two runs started at once prepare the same dataset; the one that loses the race to
    rename its folder into place gets FileExistsError (an OSError, not a failed download)."""
    calls = []

    def prepared_by_another_process(self, *args, **kwargs):
        calls.append(self.name)
        raise FileExistsError("Cannot rename incomplete.X_1.0.0: 1.0.0 already exists.")

    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", prepared_by_another_process
    )
    builder = catalog._prepared_builder("ted_hrlr_translate/pt_to_en", str(tmp_path))
    assert (builder.name, calls) == ("ted_hrlr_translate", ["ted_hrlr_translate"])
    assert builder.data_dir.startswith(str(tmp_path))


def test_a_failed_download_is_a_clear_error_naming_the_offline_corpus(tmp_path, monkeypatch):
    def no_network(self, *args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_network)
    with pytest.raises(DataUnavailableError) as error:
        catalog.load_pairs("ted_hrlr_translate/pt_to_en", data_dir=str(tmp_path))
    assert str(error.value).startswith(
        "Could not download ted_hrlr_translate/pt_to_en through TFDS "
        "(ConnectionError: Failed to resolve"
    )
    assert "use the offline corpus sword_parallel/spa_eng" in str(error.value)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_online_images_through_mock_data(name, tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        images = list(
            catalog.load_images(name, "train", data_dir=str(tmp_path)).as_numpy_iterator()
        )
    assert len(images) == 4
    assert all(
        image["image"].shape == (28, 28) and image["image"].dtype == "uint8" for image in images
    )
    assert all(0 <= image["label"] < 10 for image in images)


def test_online_text_through_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=2):
        texts = catalog.load_text("tiny_shakespeare", "validation", data_dir=str(tmp_path))
        assert texts.element_spec == tf.TensorSpec((), tf.string)
        assert len(list(texts)) == 2


def test_online_pairs_through_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        pairs = catalog.load_pairs("ted_hrlr_translate/pt_to_en", "test", data_dir=str(tmp_path))
        assert pairs.element_spec == (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.string))
        assert len(list(pairs)) == 3


def test_tsv_pairs_use_the_first_two_columns_and_split_by_source(tsv_file):
    splits = {
        split: [
            (s.decode(), t.decode())
            for s, t in catalog.load_pairs(f"tsv:{tsv_file}", split).as_numpy_iterator()
        ]
        for split in ("train", "validation", "test")
    }
    assert sum(len(pairs) for pairs in splits.values()) == 301
    assert all(
        hash_split(source) == split for split, pairs in splits.items() for source, _ in pairs
    )
    assert {len(splits["validation"]), len(splits["test"])} <= set(range(3, 20))
    frase_0 = [pair for pairs in splits.values() for pair in pairs if pair[0] == "frase 0"]
    assert sorted(frase_0) == [
        ("frase 0", "another translation of frase 0"),
        ("frase 0", "sentence 0"),
    ]
    assert catalog.load_pairs(f"tsv:{tsv_file}", "test").element_spec == (
        tf.TensorSpec((), tf.string),
        tf.TensorSpec((), tf.string),
    )


def test_tsv_without_pairs_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(
        DataUnavailableError, match="expected lines of source<TAB>target, found none"
    ):
        catalog.prepare(f"tsv:{path}")


def test_textfile_splits_cover_the_file_at_line_boundaries(tmp_path):
    path = tmp_path / "book.txt"
    text = "".join(f"line {i:02d}\n" for i in range(100))  # 8 characters a line
    path.write_text(text, encoding="utf-8")
    parts = {
        split: [
            t.decode() for t in catalog.load_text(f"textfile:{path}", split).as_numpy_iterator()
        ]
        for split in ("train", "validation", "test")
    }
    assert [len(chunks) for chunks in parts.values()] == [1, 1, 1]
    assert parts["train"][0] + parts["validation"][0] + parts["test"][0] == text
    assert parts["validation"][0].startswith("line 90\n") and parts["validation"][0].endswith(
        "line 94\n"
    )
    assert parts["test"][0].startswith("line 95\n")


def test_describe_reports_counts_dropped_pairs_and_examples(prepared_dir, tsv_file):
    report = catalog.describe("sword_parallel", n=2, data_dir=prepared_dir)
    assert report.splitlines()[:5] == [
        "sword_parallel/spa_eng (parallel)",
        "  train: 29,019 examples",
        "  validation: 1,035 examples",
        "  test: 1,009 examples",
        "  dropped as misaligned: 14 of 31,077 aligned references",
    ]
    assert report.count("\n  es: ") == 2 and report.count("\n  en: ") == 2
    images = catalog.describe("local_fashion_mnist", n=1, data_dir=prepared_dir)
    assert "  train: 60,000 examples\n  test: 10,000 examples" in images
    tsv = catalog.describe(f"tsv:{tsv_file}", n=0)
    assert tsv.splitlines()[0] == f"tsv:{tsv_file} (parallel)"


def test_preparing_offline_data_never_opens_a_socket(offline_files_present, tmp_path):
    script = textwrap.dedent(
        f"""
        import socket
        def refuse(*args, **kwargs):
            raise RuntimeError("network access")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from kerasnlp_lab.data import catalog
        catalog.prepare("sword_text/kjv", data_dir={str(tmp_path)!r})
        texts = catalog.load_text("sword_text/kjv", "validation", data_dir={str(tmp_path)!r})
        print(texts.cardinality().numpy())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "41"
