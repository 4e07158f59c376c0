"""The package's imports flow one way (README "Code map"), and no model imports another.

Every `import kerasnlp_lab...` / `from kerasnlp_lab... import` in the package (at module
level or inside functions) is read from the source with `ast`, so the test also sees the
imports that run only when a function is called. So are the modules named in
`importlib.import_module(...)` calls: a literal, or an f-string whose parts are literals, names
bound to literals (a loop over a tuple of strings, an assignment, a parameter that every call
in the file passes as a literal) or `MODEL_MODULES[...]` (every model's module); a part that
is none of these stands for any module of the package its prefix names. A call whose prefix
names no package of kerasnlp_lab cannot be checked, and fails the test.
"""

import ast
import pathlib

import pytest

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


def imported_modules(path, source=None):
    """The kerasnlp_lab modules a source file imports (`from a import b` counts a.b too),
    statically or through importlib, and the importlib calls it cannot resolve."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    dynamic, unresolved = DynamicImports(tree).targets()
    found.update(dynamic)
    return {name for name in found if name.split(".")[0] == "kerasnlp_lab"}, unresolved


def model_modules():
    """The values of kerasnlp_lab.models.MODEL_MODULES, read from its source."""
    tree = ast.parse((PACKAGE / "models" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [target.id for target in getattr(node, "targets", []) if hasattr(target, "id")]
        if targets == ["MODEL_MODULES"]:
            return sorted(set(ast.literal_eval(node.value).values()))
    raise AssertionError("kerasnlp_lab/models/__init__.py no longer assigns MODEL_MODULES")


MODEL_MODULES = model_modules()
ANY = "*"  # stands for an unknown rest of a string
IMPORT_FUNCTIONS = {"import_module", "__import__"}
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)


def _joined(parts):
    """The strings made of one value per part; a value with ANY ends its string there."""
    results = {""}
    for values in parts:
        results = {text if ANY in text else text + value for text in results for value in values}
    return {text[: text.index(ANY) + 1] if ANY in text else text for text in results}


class DynamicImports:
    """The modules named by the `importlib.import_module(...)` calls of one parsed file."""

    def __init__(self, tree):
        self.tree = tree
        self.parents = {
            child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
        }

    def calls(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and node.args:
                function = node.func
                name = getattr(function, "attr", None) or getattr(function, "id", None)
                if name in IMPORT_FUNCTIONS:
                    yield node

    def targets(self):
        """(module names, descriptions of the calls that cannot be checked)."""
        found, unresolved = set(), []
        for call in self.calls():
            for text in self.values(call.args[0]):
                if ANY not in text:
                    found.add(text)
                    continue
                known = text[: text.index(ANY)].rsplit(".", 1)[0]  # whole names only
                if known.startswith("kerasnlp_lab."):
                    found.add(known)  # some module of that package
                elif known == "kerasnlp_lab" or "kerasnlp_lab".startswith(known):
                    unresolved.append(f"line {call.lineno}: {ast.unparse(call)}")
        return found, unresolved

    def values(self, node, depth=0):
        """The strings an expression may have (ANY: an unknown rest)."""
        if depth > 10:
            return {ANY}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.JoinedStr):
            parts = []
            for piece in node.values:
                if isinstance(piece, ast.FormattedValue):
                    plain = piece.conversion == -1 and piece.format_spec is None
                    parts.append(self.values(piece.value, depth + 1) if plain else {ANY})
                else:
                    parts.append(self.values(piece, depth + 1))
            return _joined(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return _joined([self.values(node.left, depth + 1), self.values(node.right, depth + 1)])
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "MODEL_MODULES":
            return set(MODEL_MODULES)
        if isinstance(node, ast.Name):
            return self.name_values(node, depth + 1)
        return {ANY}

    def sequence_values(self, node, depth):
        """The values a loop variable takes over a literal tuple, list or set."""
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return set().union(*(self.values(item, depth) for item in node.elts))
        return {ANY}

    def name_values(self, name, depth):
        """The values of a name: from the innermost scope that binds it."""
        scope = self.parents.get(name)
        while scope is not None:
            if isinstance(scope, COMPREHENSIONS):
                for generator in scope.generators:
                    if getattr(generator.target, "id", None) == name.id:
                        return self.sequence_values(generator.iter, depth)
            if isinstance(scope, SCOPES + (ast.Module,)):
                bound = self.bindings(scope, name.id, depth)
                if bound:
                    return bound
                if isinstance(scope, SCOPES) and name.id in [a.arg for a in scope.args.args]:
                    return self.argument_values(scope, name.id, depth)
            scope = self.parents.get(scope)
        return {ANY}

    def bindings(self, scope, name, depth):
        """Values assigned to `name` in a scope (assignments and for loops), or none."""
        values = set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                name
            ]:
                values |= self.values(node.value, depth)
            elif isinstance(node, ast.For) and getattr(node.target, "id", None) == name:
                values |= self.sequence_values(node.iter, depth)
        return values

    def argument_values(self, function, parameter, depth):
        """The values every call of `function` in this file passes as `parameter`."""
        if isinstance(function, ast.Lambda):
            return {ANY}
        index = [argument.arg for argument in function.args.args].index(parameter)
        values = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function.name:
                passed = [k.value for k in node.keywords if k.arg == parameter]
                passed += node.args[index : index + 1]
                values |= self.values(passed[0], depth) if passed else {ANY}
        return values or {ANY}


def existing(name):
    """`name` if it is a module or package of kerasnlp_lab (not a function or class)."""
    relative = pathlib.Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


def existing_part(name):
    """The longest prefix of `name` that is a module or package of kerasnlp_lab."""
    parts = name.split(".")
    while len(parts) > 1 and not existing(".".join(parts)):
        parts.pop()
    return ".".join(parts)


def edges_of(path, source=None):
    """(importer, imported) pairs of one file, and its importlib calls that cannot be checked.

    A name that is no module (`from a import function`, a model module not written yet) counts
    as its package.
    """
    imported, unresolved = imported_modules(path, source)
    targets = sorted({existing_part(name) for name in imported} - {"kerasnlp_lab"})
    edges = [(module_name(path), target) for target in targets]
    return edges, [f"{module_name(path)} {call}" for call in unresolved]


SOURCES = sorted(PACKAGE.rglob("*.py"))
EDGES, UNRESOLVED = [], []
for _path in SOURCES:
    _edges, _unresolved = edges_of(_path)
    EDGES += _edges
    UNRESOLVED += _unresolved


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


def upward(edges):
    return [
        f"{importer} (level {LEVELS[part(importer)]}) -> {imported} "
        f"(level {LEVELS[part(imported)]})"
        for importer, imported in edges
        if LEVELS[part(importer)] < LEVELS[part(imported)]
    ]


def test_imports_point_down():
    assert upward(EDGES) == []


def test_the_walk_sees_importlib_imports():
    # The four places that import a model's module by name, resolved to every model.
    for importer, imported in [
        ("cli", "training.transformer"),
        ("cli", "export.char_generator"),
        ("app", "evaluation.attention_nmt"),
        ("release", "export.autoencoder"),
        ("training.workdir", "training.char_generator"),
    ]:
        assert (f"kerasnlp_lab.{importer}", f"kerasnlp_lab.{imported}") in EDGES


def test_every_importlib_import_names_its_package():
    assert UNRESOLVED == []


MODEL_FILE = PACKAGE / "models" / "autoencoder.py"  # level 3: may not import serving (6)


@pytest.mark.parametrize(
    "source",
    [
        'import importlib\nimportlib.import_module("kerasnlp_lab.serving.server")',
        "from importlib import import_module\n\ndef f():\n"
        '    return import_module("kerasnlp_lab.serving." + "server")',
        'import importlib\nimportlib.import_module(f"kerasnlp_lab.serving.{NAME}")',
        "import importlib\n\ndef f(package):\n"
        '    return importlib.import_module(f"kerasnlp_lab.{package}.server")\n\n'
        'f("serving")',
        "import importlib\n"
        'mods = [importlib.import_module(f"kerasnlp_lab.{p}.x") for p in ("layers", "serving")]',
        'import importlib\nNAME = "kerasnlp_lab.serving.server"\nimportlib.import_module(NAME)',
    ],
    ids=["literal", "sum", "f-string", "parameter", "loop", "assigned"],
)
def test_an_upward_importlib_import_is_caught(source):
    edges, unresolved = edges_of(MODEL_FILE, source)
    assert unresolved == []
    imported = "serving" if "{NAME}" in source or ".x" in source else "serving.server"
    assert [edge.split(" -> ")[1] for edge in upward(edges)] == [
        f"kerasnlp_lab.{imported} (level 6)"
    ]


@pytest.mark.parametrize(
    "call",
    [
        "importlib.import_module(name)",
        'importlib.import_module(f"kerasnlp_lab.{package}")',
        'importlib.import_module(f"{root}.serving.server")',
        'importlib.import_module("kerasnlp_lab." + package)',
    ],
)
def test_an_importlib_import_that_names_no_package_is_reported(call):
    _, unresolved = edges_of(MODEL_FILE, f"import importlib\n\ndef f(name, package):\n    {call}")
    unparsed = ast.unparse(ast.parse(call))
    assert unresolved == [f"kerasnlp_lab.models.autoencoder line 4: {unparsed}"]


def test_imports_of_other_libraries_are_left_alone():
    source = 'import importlib\nimportlib.import_module(f"tensorflow.{name}")'
    assert edges_of(MODEL_FILE, source) == ([], [])


def test_no_module_of_one_model_imports_another_models_module():
    crossings = []
    for importer, imported in EDGES:
        own, other = importer.split(".")[-1], imported.split(".")[-1]
        if own in MODEL_STEMS and other in MODEL_STEMS and own != other:
            crossings.append(f"{importer} -> {imported}")
    assert crossings == []
