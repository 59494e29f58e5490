"""The package's shape (issues 15, 26): modules stay small, no module reaches into another's private names,
and imports point down the layers of docs/architecture.md, with no cycle (imports inside functions count).

The "REFERENCE" citation rule is tests/test_docs.py's. Private *modules* (``rmtkit._safe``,
``rmtkit._checks``) are the package's shared internals: their public names may be imported anywhere
in it; a leading underscore on a *name* means it belongs to the module that defines it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rmtkit", "simulations")
MAX_LINES = 450
#: The layers of rmtkit, bottom first (docs/architecture.md): a module imports only from its own layer or below.
LAYERS = {
    "base": ["rmtkit.version", "rmtkit.status", "rmtkit.columns", "rmtkit.atomic", "rmtkit._safe", "rmtkit._checks",
             "rmtkit._parallel", "rmtkit.batch", "rmtkit.compile_cache", "rmtkit.executables"],
    "numerics": ["rmtkit.matrices", "rmtkit.ensembles", "rmtkit.marchenko_pastur", "rmtkit.powerlaw", "rmtkit.metrics",
                 "rmtkit.spectrum", "rmtkit.resolution", "rmtkit.phase_definitions", "rmtkit.phase_rules",
                 "rmtkit.phases",
                 "rmtkit.diagnostics", "rmtkit.layer_warnings", "rmtkit.datasets"],
    "checkpoints": ["rmtkit.checkpoints"],
    "matrices": ["rmtkit.layers", "rmtkit.spectra", "rmtkit.cache"],
    "analysis": ["rmtkit.analysis", "rmtkit.summary", "rmtkit.randomization", "rmtkit.analyzer"],
    "consumers": ["rmtkit.results", "rmtkit.table", "rmtkit.compare", "rmtkit.extra", "rmtkit.plot", "rmtkit.cli",
                  "rmtkit.__main__", "rmtkit.optim", "rmtkit.prune", "rmtkit.io", "rmtkit"],
}
#: Underscored names that are public API of NamedTuple and Enum, not private.
PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_field_defaults", "_make", "_value_", "_name_", "_missing_"}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def _project_module(node: ast.ImportFrom) -> bool:
    return node.level > 0 or (node.module or "").split(".")[0] in PACKAGES


def private_imports(source: str) -> list[str]:
    """``from pkg.x import _y`` and ``x._y`` (``x`` bound by an import from the project), as ``line: text``."""
    tree = ast.parse(source)
    found, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _project_module(node):
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}")
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    bound.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_private_import_finder_on_examples():
    source = (
        "from rmtkit.powerlaw import _fit_one, fit_power_law\n"
        "from rmtkit import metrics, _checks\n"
        "from . import _local\n"
        "import rmtkit.phases as ph\n"
        "from numpy import _core\n"  # outside the project: not our rule
        "from rmtkit._safe import safe_log\n"  # a private module's public name: allowed
        "x = metrics._f(1) + ph._hill_alpha(2) + metrics.stable_rank(3)\n"
        "fit = fit_power_law(4)._replace(alpha=1)\n"
        "y = rmtkit_like._z\n"
    )
    assert private_imports(source) == [
        "1: from rmtkit.powerlaw import _fit_one",
        "2: from rmtkit import _checks",
        "3: from . import _local",
        "7: metrics._f",
        "7: ph._hill_alpha",
    ]


def test_packages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in _modules()}
    assert {"rmtkit/__init__.py", "rmtkit/powerlaw/fit.py", "rmtkit/batch.py", "simulations/headline.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_is_at_most_450_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT).as_posix()} has {lines} lines; split it (a module per concern)"


def _module_names() -> dict[str, Path]:
    """``{"rmtkit.checkpoints.lazy": path}`` for every module of rmtkit (a package by its own name)."""
    out = {}
    for path in sorted((ROOT / "rmtkit").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The rmtkit modules ``module`` imports anywhere in its text, inside functions too.

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of
    ``pkg``; relative imports are resolved against ``module``. Parent packages imported implicitly
    (``rmtkit`` by ``import rmtkit.x``) are not counted, but an explicit ``import rmtkit`` or
    ``from rmtkit import __version__`` is: it imports the package's ``__init__``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    names = _module_names()
    return {name: imported_modules(path.read_text(), name, path.name == "__init__.py", set(names))
            for name, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search, nodes in sorted order)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_import_finder_on_examples():
    source = (
        "import numpy as np\n"
        "from rmtkit.checkpoints import load_weights\n"  # a name of a package: the package
        "from rmtkit import columns, __version__\n"  # a module, and a name of the root package
        "from . import lazy\n"
        "def f():\n"
        "    from rmtkit.analyzer import analyze\n"  # inside a function: still an import
        "    import rmtkit.metrics\n"
    )
    known = {"rmtkit", "rmtkit.checkpoints", "rmtkit.checkpoints.lazy", "rmtkit.checkpoints.npz", "rmtkit.columns",
             "rmtkit.analyzer", "rmtkit.metrics"}
    assert imported_modules(source, "rmtkit.checkpoints.npz", False, known) == {
        "rmtkit.checkpoints", "rmtkit", "rmtkit.columns", "rmtkit.checkpoints.lazy", "rmtkit.analyzer", "rmtkit.metrics"}


def test_cycle_finder_on_examples():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_no_import_cycle_among_rmtkit_modules():
    assert find_cycle(import_graph()) is None


def _layer_of(module: str) -> int:
    for rank, members in enumerate(LAYERS.values()):
        if any(module == m or module.startswith(m + ".") for m in members if m != "rmtkit") or module in members:
            return rank
    raise KeyError(module)


def test_every_module_has_a_layer():
    unplaced = [m for m in _module_names() if not any(m == x or m.startswith(x + ".") for xs in LAYERS.values()
                                                      for x in xs if x != "rmtkit") and m != "rmtkit"]
    assert unplaced == [], "place these in LAYERS and in docs/architecture.md"


def test_imports_point_down_the_layers():
    names = list(LAYERS)
    upward = [f"{a} ({names[_layer_of(a)]}) imports {b} ({names[_layer_of(b)]})"
              for a, deps in import_graph().items() for b in deps if _layer_of(b) > _layer_of(a)]
    assert upward == []


def test_architecture_doc_lists_every_layer_and_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [m for members in LAYERS.values() for m in members if f"`{m.removeprefix('rmtkit.')}`" not in text
               and m != "rmtkit"]
    assert missing == [] and all(layer in text for layer in LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_private_name_imported_across_modules(path):
    assert private_imports(path.read_text()) == []
