"""The package's import graph: layered, no circle, nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "prism_async"

#: Bottom to top: a module may import only from the layers below its own.
LAYERS: list[set[str]] = [
    {"_errors", "_results", "_secrets", "_retry_after", "_version", "_telemetry"},
    {"_http", "_media", "_events", "_proxy"},
    {"_requests", "_provider", "_wire"},
    {"providers", "_clock", "_policy", "_registry"},
    {"_transport", "testing", "webhooks"},
    {"_engine"},
    {"_downloads"},
    {"_client"},
    {"batch"},
    {"_cli", "journal", "errors"},
    {"__init__", "__main__"},
]
LAYER = {name: n for n, names in enumerate(LAYERS) for name in names}


def unit(module: str) -> str:
    """``prism_async.batch._items`` -> ``batch``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> set[tuple[str, str]]:
    """(importing unit, imported unit) pairs; ``if TYPE_CHECKING:`` blocks left out."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        here = unit(".".join(relative.parts))
        if relative.parts[-1] in ("__init__", "__main__") and len(relative.parts) == 2:
            here = relative.parts[-1]
        tree = ast.parse(path.read_text())
        skipped = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "prism_async" or name.startswith("prism_async."):
                    there = unit(name)
                    if there != here:
                        edges.add((here, there))
    return edges


def test_every_module_has_a_layer() -> None:
    units = {a for edge in imports() for a in edge}
    assert units <= set(LAYER), sorted(units - set(LAYER))


def test_no_module_imports_its_own_layer_or_one_above() -> None:
    upward = sorted((a, b) for a, b in imports() if LAYER[b] >= LAYER[a])
    assert upward == []


def test_the_reader_sees_the_imports_that_exist() -> None:
    edges = imports()
    assert {("_client", "_engine"), ("batch", "_client"), ("__init__", "_client")} <= edges
