"""The release fingerprint sees what an export depends on: the preset's files and the code.

`make models` re-exports a model only when `release.fingerprint` of its preset changes, so a
fingerprint that missed a changed weight, setting or line of code would leave an old export
in place. These tests change one thing at a time in copies (a small preset, the package's
source) and call the fingerprint alone: no export runs.
"""

import os
import pathlib
import shutil

import pytest

from kerasnlp_lab import release

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRESET = ROOT / "presets" / "autoencoder"  # the smallest release preset (about 2 MB)
PACKAGE = ROOT / "kerasnlp_lab"
# A module the autoencoder's export runs: a change to it must give a new export.
EXPORT_MODULE = pathlib.Path("export") / "autoencoder.py"


@pytest.fixture
def preset(tmp_path):
    """A copy of the autoencoder's release preset."""
    return str(shutil.copytree(PRESET, tmp_path / "autoencoder"))


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of the package's source, which the fingerprint reads instead of the package."""
    copy = tmp_path / "kerasnlp_lab"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert os.path.samefile(release._PACKAGE_DIR, PACKAGE)  # what is replaced is the package
    monkeypatch.setattr(release, "_PACKAGE_DIR", str(copy))
    return copy


def test_an_unchanged_preset_keeps_its_fingerprint_wherever_it_lies(preset):
    first = release.fingerprint(preset)
    assert len(first) == 64 and int(first, 16) >= 0  # a sha256 in hex
    assert release.fingerprint(preset) == first
    assert release.fingerprint(str(PRESET)) == first  # the copy: same files, same names


@pytest.mark.parametrize(
    "change",
    ["metadata setting", "one weight byte", "new vocabulary file", "renamed file"],
)
def test_a_changed_preset_changes_the_fingerprint(preset, change):
    before = release.fingerprint(preset)
    folder = pathlib.Path(preset)
    if change == "metadata setting":
        path = folder / "metadata.json"
        text = path.read_text(encoding="utf-8")
        assert '"seed": 0' in text
        path.write_text(text.replace('"seed": 0', '"seed": 1'), encoding="utf-8")
    elif change == "one weight byte":
        path = folder / "model.weights.h5"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif change == "new vocabulary file":
        (folder / "vocabulary.json").write_text("[]", encoding="utf-8")
    else:
        (folder / "config.json").rename(folder / "config.json.old")
    assert release.fingerprint(preset) != before


def test_a_changed_line_of_code_changes_the_fingerprint(preset, package):
    original = release.fingerprint(preset)
    module = package / EXPORT_MODULE
    source = module.read_text(encoding="utf-8")
    module.write_text(source + "\n# one more line\n", encoding="utf-8")
    assert release.fingerprint(preset) != original
    module.write_text(source, encoding="utf-8")
    assert release.fingerprint(preset) == original  # the code as it was: as before


def test_the_copied_package_gives_the_package_fingerprint(preset, package):
    # The copy is read: its fingerprint is the real package's until a file changes in it.
    copied = release.fingerprint(preset)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(release, "_PACKAGE_DIR", str(PACKAGE))
        assert release.fingerprint(preset) == copied
    (package / "layers" / "new_layer.py").write_text("UNITS = 3\n", encoding="utf-8")
    assert release.fingerprint(preset) != copied  # a new module counts too


def test_compiled_files_do_not_change_the_fingerprint(preset, package):
    # Python writes __pycache__/*.pyc as it imports: that must not trigger a re-export.
    before = release.fingerprint(preset)
    cache = package / "export" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "autoencoder.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert release.fingerprint(preset) == before
