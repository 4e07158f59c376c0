"""The fault table of `make mutation` (tests/mutation.py) still matches the code and the tests.

No pytest run happens here: each fault's old text must occur exactly once in its file, the
mutated file must still parse, and each test it names must be defined in its test file.
"""

import ast
import collections
from pathlib import Path

import pytest

from tests.mutation import FAULTS

ROOT = Path(__file__).resolve().parents[1]


def defined_tests(path):
    """{name of a top-level test function, or "Class::method"} of a test file."""
    names = set()
    for node in ast.parse((ROOT / path).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def test_the_faults_are_many_named_once_and_cover_every_area():
    assert len(FAULTS) >= 25
    counts = collections.Counter(fault.name for fault in FAULTS)
    assert [name for name, count in counts.items() if count > 1] == []
    areas = {Path(fault.path).parts[1] for fault in FAULTS}
    assert {"decoding", "text", "serving", "training"} <= areas


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_the_old_text_occurs_once_and_the_mutant_parses(fault):
    assert fault.path.startswith("kerasnlp_lab/") and fault.path.endswith(".py")
    source = (ROOT / fault.path).read_text(encoding="utf-8")
    assert source.count(fault.old) == 1, f"{fault.name}: {fault.old!r} in {fault.path}"
    assert fault.new != fault.old
    ast.parse(source.replace(fault.old, fault.new))


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_every_named_test_exists(fault):
    assert fault.tests
    for node in fault.tests:
        path, _, name = node.partition("::")
        assert path.startswith("tests/") and (ROOT / path).is_file(), node
        assert name.split("[")[0] in defined_tests(path), node
