"""The house rules, checked on the source: one-way layers, no cycles, pure models and types, small modules.

Imports are read with ``ast`` (every import, at the top or inside a function, type-only ones included in
the cycle check), so a shortcut through a lazy import fails here as much as a top-level one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "together_magic"

# The house by wings, bottom up. A unit (a ground module or a wing) imports only units of a LOWER rank, so
# units that share a rank are siblings that never import each other (the features, the two servers...).
RANKS: dict[str, int] = {
    "models": 0,  # the one catalogue of models and limits
    "errors": 1,
    "config": 1,
    "imagefiles": 2,
    "types": 3,
    "offline": 3,  # the Together look-alike: models, types and errors only
    "client": 4,
    "store": 4,
    "generation": 5,
    "display": 6,
    "sweeps": 7,
    "batches": 7,
    "histories": 7,
    "widgets": 8,
    "gateway": 8,  # a server front end: offline's machinery, the client, the store, the generation engine
    "notebook": 9,
    "cli": 9,
    "__init__": 10,
    "__main__": 10,
}
FEATURES = ("sweeps", "batches", "histories")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def name_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The unit a module belongs to for layering: ``offline.backend`` -> ``offline``."""
    return module.split(".")[0]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    ids.add(id(sub))
    return ids


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported package module, line, type-only) for every intra-package import in ``path``."""
    tree = ast.parse(path.read_text())
    type_only = _type_checking_nodes(tree)
    here = name_of(path).split(".")
    package = here[:-1]  # the package a relative import starts from (for __init__, its own package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [alias.name for alias in node.names]
                if not node.module:
                    for alias in names:
                        yield ".".join([*target, alias]) or "__init__", node.lineno, id(node) in type_only
                else:
                    yield ".".join(target) or "__init__", node.lineno, id(node) in type_only
            elif node.module and node.module.startswith("together_magic"):
                target = node.module.split(".")[1:]
                yield ".".join(target) or "__init__", node.lineno, id(node) in type_only
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("together_magic."):
                    yield alias.name.split(".", 1)[1], node.lineno, id(node) in type_only


def graph(*, runtime_only: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in modules():
        source = name_of(path).removesuffix(".__init__") or "__init__"
        edges.setdefault(source, set())
        for target, _, type_only in imports(path):
            if runtime_only and type_only:
                continue
            if target != source:
                edges[source].add(target)
    return edges


def test_every_module_has_a_layer() -> None:
    missing = sorted({unit_of(name_of(p)) for p in modules()} - set(RANKS))
    assert not missing, f"give these modules a layer in RANKS: {missing}"


def test_no_import_cycles() -> None:
    edges = graph(runtime_only=False)
    # Modules of one unit (offline/*) may import each other; cycles are checked between units and within.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt == "__init__" or nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if state.get(node) is None:
            visit(node)


def test_imports_point_down() -> None:
    wrong = []
    for path in modules():
        source = name_of(path)
        for target, line, _ in imports(path):
            if unit_of(target) == unit_of(source) or target == "__init__":
                continue
            if RANKS[unit_of(target)] >= RANKS[unit_of(source)]:
                kind = "up" if RANKS[unit_of(target)] > RANKS[unit_of(source)] else "a sibling"
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} {source} imports {target} ({kind})")
    assert not wrong, "\n".join(wrong)


def test_features_are_siblings() -> None:
    """Sweeps, batches and the history are built from the layers below, never from one another."""
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {target}"
        for feature in FEATURES
        for path in (PACKAGE / feature).glob("*.py")
        for target, line, _ in imports(path)
        if unit_of(target) in FEATURES and unit_of(target) != feature
    ]
    assert not wrong, wrong


def test_every_wing_says_what_it_owns_and_may_import() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
        says = "import" in doc.lower() and len(doc.splitlines()) >= 3
        assert says, f"{folder.name}/__init__.py: say what the wing owns and what it may import"


def test_offline_depends_only_on_models_types_and_errors() -> None:
    allowed = {"models", "types", "errors", "offline"}
    wrong = [
        f"{path.name}:{line} imports {target}"
        for path in (PACKAGE / "offline").glob("*.py")
        for target, line, _ in imports(path)
        if unit_of(target) not in allowed
    ]
    assert not wrong, wrong


def _sources(unit: str) -> list[Path]:
    """A ground module's file, or every file of a wing."""
    return sorted((PACKAGE / unit).glob("*.py")) if (PACKAGE / unit).is_dir() else [PACKAGE / f"{unit}.py"]


@pytest.mark.parametrize("low", ["models", "types", "errors", "config", "imagefiles"])
def test_ground_imports_nothing_above_it(low: str) -> None:
    paths = _sources(low)
    above = [
        target for path in paths for target, _, _ in imports(path) if RANKS[unit_of(target)] > RANKS[low]
    ]
    assert not above, above


@pytest.mark.parametrize("path", [*_sources("models"), *_sources("types")], ids=lambda p: p.name)
def test_models_and_types_do_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    banned = {"httpx", "socket", "urllib", "requests", "sqlite3", "subprocess"}
    if path.parent.name == "models":  # the catalogue reads no file and no environment either
        banned |= {"os", "pathlib", "io", "json"}
    assert not imported & banned, (path.name, imported)


def test_the_package_has_at_most_twenty_rooms() -> None:
    """The top level stays at 20 rooms at most (wings and ground modules): a new feature takes a room only
    where a file moved into a wing left one free."""
    rooms = sorted(p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists())
    assert len(rooms) <= 20, rooms


def test_no_module_over_400_lines() -> None:
    long = {name_of(p): n for p in modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_response_private_attributes_are_written_only_in_types() -> None:
    """Provenance and the other private state of responses are attached in one place: the ``types`` wing."""
    from together_magic.types import ImageChoicesData, ImageResponse

    private = set(ImageResponse.__private_attributes__) | set(ImageChoicesData.__private_attributes__)
    assert {"_provenance", "_bytes", "_fetcher", "_memo"} <= private
    writers = []
    for path in [*modules(), *Path(PACKAGE.parent / "tests").rglob("*.py")]:
        if path.parent == PACKAGE / "types":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                for sub in ast.walk(target) if isinstance(target, ast.AST) else ():
                    if isinstance(sub, ast.Attribute) and sub.attr in private:
                        writers.append(f"{path.name}:{node.lineno} writes .{sub.attr}")
            # the same write spelled as a call: setattr(r, "_memo", ...), object.__setattr__(r, "_bytes", ...)
            if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "setattr")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "__setattr__")
            ):
                named = [a.value for a in node.args if isinstance(a, ast.Constant)]
                if any(name in private for name in named):
                    writers.append(f"{path.name}:{node.lineno} sets {named} by a call")
    assert not writers, writers


def test_lazy_imports_only_at_the_package_boundary() -> None:
    """Below ``__init__`` and ``notebook.magic`` (what %load_ext loads), package modules import at the top."""
    boundary = {
        "__init__",
        "notebook.magic",
        "notebook.rewriter",
        "cli.__init__",
        "cli.main",
        "__main__",
        "offline.__init__",
        "offline.server",
    }
    late = []
    for path in modules():
        name = name_of(path)
        if name in boundary:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom) and (
                        sub.level or "together_magic" in (sub.module or "")
                    ):
                        late.append(f"{name}:{sub.lineno} {ast.unparse(sub)}")
    assert not late, late
