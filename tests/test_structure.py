"""The package's shape (issue 15): modules stay small, and no module reaches into another's private names.

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
MAX_LINES = 600
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
def test_module_is_at_most_600_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it (STYLE: a package per concept)"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_private_name_imported_across_modules(path):
    assert private_imports(path.read_text()) == []
