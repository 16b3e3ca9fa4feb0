"""The package's import graph: no cycles between folders, imports point down, no Qt or CLI below the UI."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ltu_desktop"
# What each folder may import (besides itself). cli may import everything; nothing imports cli or ui.
ALLOWED = {
    "audio": set(),
    "engine": {"audio"},
    "store": {"paths"},
    "models": {"engine", "audio", "paths"},
    "bench": {"engine", "models", "audio", "paths", "server", "train", "evaluation"},
    "batch": {"engine", "audio"},
    "server": {"engine", "models", "audio"},
    "evaluation": {"batch", "engine", "audio"},
    "train": {"engine", "audio", "paths"},
    "ui": {"engine", "store", "models", "audio", "settings", "paths", "server", "train"},
    "settings": {"paths"},
    "paths": set(),
}
NO_QT = {"audio", "engine", "store", "models", "bench", "batch", "server", "evaluation", "train"}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    """Top-level ltu_desktop units (and PySide6) this file imports, relative or absolute, at any depth."""
    rel_parts = list(path.relative_to(PACKAGE).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules: list[list[str]] = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = rel_parts[: len(rel_parts) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            modules = [target] if target else [[a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module.split(".")]
        elif isinstance(node, ast.Import):
            modules = [a.name.split(".") for a in node.names]
        for parts in modules:
            if parts[0] == "PySide6":
                found.add("PySide6")
            elif parts[0] == "ltu_desktop" and len(parts) > 1:
                found.add(parts[1])
            elif node.__class__ is ast.ImportFrom and node.level:
                found.add(parts[0])
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        if unit in ("__init__", "__main__"):
            continue
        graph[unit] |= {u for u in _imports(path) if u != unit}
    return graph


def test_imports_point_down_and_nothing_imports_the_cli_or_the_ui():
    graph = _graph()
    wrong = []
    for unit, deps in graph.items():
        if unit == "cli":
            continue
        allowed = ALLOWED.get(unit)
        for dep in deps - {"PySide6"}:
            if dep in ("cli", "ui") and unit != "ui" or (allowed is not None and dep not in allowed):
                wrong.append(f"{unit} -> {dep}")
    assert not wrong, wrong


def test_no_qt_below_the_ui():
    graph = _graph()
    assert [u for u in NO_QT if "PySide6" in graph.get(u, set())] == []


def test_the_folder_graph_has_no_cycle():
    graph = {u: {d for d in deps if d != "PySide6"} for u, deps in _graph().items()}
    state: dict[str, int] = {}

    def visit(u: str, trail: list[str]) -> None:
        state[u] = 1
        for d in graph.get(u, ()):
            assert state.get(d) != 1, "cycle: " + " -> ".join(trail + [u, d])
            if d not in state:
                visit(d, trail + [u])
        state[u] = 2

    for u in list(graph):
        if u not in state:
            visit(u, [])


def test_engine_modules_import_no_upward_package_at_runtime():
    """Importing the engine, the store and the models loads neither Qt nor the CLI."""
    import subprocess
    import sys

    code = ("import sys, ltu_desktop.engine.engine, ltu_desktop.store.history, ltu_desktop.models.catalog, "
            "ltu_desktop.bench.runner, ltu_desktop.batch.runner, ltu_desktop.server.app, "
            "ltu_desktop.evaluation.runner, ltu_desktop.evaluation.ray_runner; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'ltu_desktop.cli', 'ltu_desktop.ui'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
