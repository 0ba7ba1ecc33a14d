"""The layers point one way: a module imports only its own layer and the layers below it.

Bottom to top: ``spaces_core`` (run folders, errors, settings helpers), ``sim``, the media
code both ends share (``media_bench.common``), the media server, the media client (bots, API
client, load generator, bench), ``loadtests`` (Locust users: the media client only, never the
server), the application (``spaces_lab``: CLI, main job, capacity plan). Every import counts,
also one inside a function; and no two modules import each other, directly or round a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = (
    "spaces_core",
    "sim",
    "media_bench.common",
    "media_bench.server",
    "media_bench.client",
    "loadtests",
    "spaces_lab",
)
FORBIDDEN = {"loadtests": ("media_bench.server",)}
"""Imports a layer may not make although they point down."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for top in ("spaces_core", "sim", "media_bench", "loadtests", "spaces_lab"):
        for path in (ROOT / top).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports (resolved to modules, not names in them)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def layer_of(name: str) -> int:
    for index in range(len(LAYERS) - 1, -1, -1):
        prefix = LAYERS[index]
        if name == prefix or name.startswith(prefix + "."):
            return index
    if name == "media_bench":
        return LAYERS.index("media_bench.common")
    raise AssertionError(f"module {name} belongs to no layer: add it to LAYERS")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = project_modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    for name in graph:
        layer_of(name)


def test_no_import_points_up(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{name} ({LAYERS[layer_of(name)]}) imports {target} ({LAYERS[layer_of(target)]})"
        for name, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_loadtests_use_the_media_client_only(graph: dict[str, set[str]]) -> None:
    wrong = [
        f"{name} imports {target}"
        for name, targets in sorted(graph.items())
        for layer, banned in FORBIDDEN.items()
        if layer_of(name) == LAYERS.index(layer)
        for target in sorted(targets)
        if any(target == b or target.startswith(b + ".") for b in banned)
    ]
    assert not wrong, "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop, as the modules round it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_loops(graph: dict[str, set[str]]) -> None:
    # a package's __init__ importing nothing, its submodules importing each other is a loop
    cycle = find_cycle(graph)
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_the_checks_catch_a_bad_graph() -> None:
    """The gauges can show failure: an upward import and a loop are both found."""
    bad = {"spaces_core.errors": {"sim.api"}, "sim.api": {"spaces_core.errors"}}
    assert layer_of("sim.api") > layer_of("spaces_core.errors")
    assert find_cycle(bad) == ["sim.api", "spaces_core.errors", "sim.api"]
