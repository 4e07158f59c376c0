"""The package's imports flow one way (README "Code map"), and no model imports another.

Every `import kerasnlp_lab...` / `from kerasnlp_lab... import` in the package (at module
level or inside functions) is read from the source with `ast`, so the test also sees the
imports that run only when a function is called.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerasnlp_lab"
# Bottom (0) to top: a module may import its own level or lower ones, never higher.
LEVELS = {
    "errors": 0,
    "numerics": 0,
    "paths": 0,
    "quiet_tensorflow": 0,
    "layers": 1,
    "text": 1,
    "decoding": 1,
    "losses": 2,
    "metrics": 2,
    "schedules": 2,
    "models": 3,
    "data": 4,
    "training": 4,
    "evaluation": 5,
    "export": 5,
    "serving": 6,
    "release": 7,
    "demo": 7,
    "walkthrough": 7,
    "app": 7,
    "lab": 7,
    "cli": 8,
    "readme": 9,
}
MODEL_STEMS = {"autoencoder", "char_generator", "attention_nmt", "transformer"}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path):
    """The kerasnlp_lab modules a source file imports (`from a import b` counts a.b too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "kerasnlp_lab"}


def existing(name):
    """`name` if it is a module or package of kerasnlp_lab (not a function or class)."""
    relative = pathlib.Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


SOURCES = sorted(PACKAGE.rglob("*.py"))
EDGES = [
    (module_name(path), target)
    for path in SOURCES
    for target in sorted(imported_modules(path))
    if target != "kerasnlp_lab" and existing(target)
]


def part(name):
    """The top-level part of a module: kerasnlp_lab.training.fit -> training."""
    return name.split(".")[1] if "." in name else ""


def test_every_part_of_the_package_has_a_level():
    parts = {part(module_name(path)) for path in SOURCES} - {""}
    assert parts <= set(LEVELS), f"parts without a level: {sorted(parts - set(LEVELS))}"


def test_the_walk_sees_function_level_imports():
    # cli imports its command modules inside the handlers.
    assert ("kerasnlp_lab.cli", "kerasnlp_lab.serving.server") in EDGES
    assert len(EDGES) > 150


def test_imports_point_down():
    upward = [
        f"{importer} (level {LEVELS[part(importer)]}) -> {imported} "
        f"(level {LEVELS[part(imported)]})"
        for importer, imported in EDGES
        if LEVELS[part(importer)] < LEVELS[part(imported)]
    ]
    assert upward == []


def test_no_module_of_one_model_imports_another_models_module():
    crossings = []
    for importer, imported in EDGES:
        own, other = importer.split(".")[-1], imported.split(".")[-1]
        if own in MODEL_STEMS and other in MODEL_STEMS and own != other:
            crossings.append(f"{importer} -> {imported}")
    assert crossings == []
