"""The layout stays a picture of the data flow: every import points down the layers.

Layers, lowest first (README "Architecture"): errors, config, log, security, commands, adapters,
pollers | projectors, dispatch, ops, web, cli. A module may import its own package or a lower layer;
``engine.sim`` (the simulators) imports only itself and is imported only by the demo and the
``sim`` command. No cycle between engine modules, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"

RANK = {
    "__init__": 0,  # engine/__init__.py: the version only
    "errors": 0,
    "config": 1,
    "observe": 1,  # engine/observe.py: the metrics hook of adapters and dispatch (errors only)
    "log": 2,
    "security": 3,
    "commands": 4,
    "adapters": 5,
    "pollers": 6,
    "projectors": 6,
    "dispatch": 7,
    "ops": 8,
    "web": 9,  # engine/web: the status page (aiohttp + jinja2); ops and below, used by cli
    "cli": 10,
    "__main__": 11,
}
SIM_USERS = {"engine.ops.demo", "engine.cli.sim"}
# Modules allowed over 400 lines (none since the QAD client was split by flow).
SIZE_EXEMPT: set[str] = set()
MAX_LINES = 400


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str) -> set[str]:
    """Every engine module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # "from engine.x import y" may name a submodule y
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "engine" or m.startswith("engine.")}


def graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    return {
        name: {m for m in imports_of(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(root: Path) -> list[str]:
    edges = graph(root)
    bad: list[str] = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            ls, ld = layer(src), layer(dst)
            if ld == "sim" or ls == "sim":
                if ls != "sim" and src not in SIM_USERS:
                    bad.append(f"{src} imports the simulators ({dst})")
                elif ls == "sim" and ld != "sim" and ld != "errors":
                    bad.append(f"{src} (a simulator) imports {dst}")
                continue
            if ls == ld:
                continue
            if ls not in RANK or ld not in RANK:
                bad.append(f"{src} -> {dst}: package not in the layer table")
            elif RANK[ld] >= RANK[src.split(".")[1] if "." in src else "__init__"]:
                bad.append(f"{src} ({ls}) imports {dst} ({ld}): upward or sideways")
    bad += [f"import cycle: {' -> '.join(c)}" for c in cycles(edges)]
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the engine graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_import_points_down_the_layers() -> None:
    assert violations(ENGINE) == []


def test_no_module_over_400_lines_outside_the_simulators() -> None:
    long = {
        str(p.relative_to(ENGINE)): n
        for p in ENGINE.rglob("*.py")
        if "sim" not in p.relative_to(ENGINE).parts[:1]
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= SIZE_EXEMPT, long


def new_violations(copy: Path) -> list[str]:
    """What the plant added (the real tree's own findings are the first test's business)."""
    before = set(violations(ENGINE))
    return [v for v in violations(copy) if v not in before]


@pytest.fixture
def engine_copy(tmp_path: Path) -> Path:
    root = tmp_path / "engine"
    shutil.copytree(ENGINE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_planted_upward_import_is_caught(engine_copy: Path) -> None:
    (engine_copy / "log" / "planted.py").write_text("from engine.cli import main\n")
    assert new_violations(engine_copy) == [
        "engine.log.planted (log) imports engine.cli (cli): upward or sideways"
    ]


def test_a_planted_lazy_sideways_import_is_caught(engine_copy: Path) -> None:
    (engine_copy / "projectors" / "planted.py").write_text(
        "def f() -> None:\n    from engine.pollers import base\n"
    )
    assert new_violations(engine_copy) == [
        "engine.projectors.planted (projectors) imports engine.pollers (pollers): upward or "
        "sideways",
        "engine.projectors.planted (projectors) imports engine.pollers.base (pollers): upward "
        "or sideways",
    ]


def test_a_planted_cycle_and_simulator_import_are_caught(engine_copy: Path) -> None:
    (engine_copy / "dispatch" / "a_planted.py").write_text(
        "from engine.dispatch import b_planted\n"
    )
    (engine_copy / "dispatch" / "b_planted.py").write_text("import engine.dispatch.a_planted\n")
    (engine_copy / "dispatch" / "c_planted.py").write_text("from engine.sim.qad import store\n")
    assert new_violations(engine_copy) == [
        "engine.dispatch.c_planted imports the simulators (engine.sim.qad)",
        "engine.dispatch.c_planted imports the simulators (engine.sim.qad.store)",
        "import cycle: engine.dispatch.a_planted -> engine.dispatch.b_planted",
    ]
