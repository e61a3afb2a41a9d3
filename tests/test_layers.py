"""The import contract: arrows point one way, `edge → enforcement ← stream`.

Read from the source (every `import` and `from … import`, also inside functions), so a
forbidden import anywhere in a module fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE_CORE = (
    "enforcement.plates",
    "enforcement.model",
    "enforcement.params",
    "enforcement.law",
    "enforcement.windows",
    "enforcement.outcome",
    "enforcement.zones",
    "enforcement.areas",
    "enforcement.messages",
    "enforcement.records",
    "enforcement.explain",
    "enforcement.plate_formats",
    "enforcement.keys",
    "enforcement.evidence_signing",
    "enforcement.description",
    "enforcement.exemptions.policy",
    "enforcement.exemptions.decision",
)
ADAPTERS = (
    "enforcement.register",
    "enforcement.casework",
    "enforcement.web",
    "stream",
    "edge",
)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(PURE_CORE, ADAPTERS),
    "edge": ("enforcement.register", "enforcement.casework", "enforcement.web", "stream"),
    "stream": ("edge", "enforcement.casework", "enforcement.web"),
    # Casework and the flow statistics speak no HTTP: the review app sits on them, and
    # `zes.cli` mounts its `serve` (enforcement.web.cli) beside the casework commands.
    "enforcement.casework": ("enforcement.web",),
    "enforcement.flows": ("enforcement.web",),
}


def module_files(name: str) -> list[Path]:
    path = ROOT.joinpath(*name.split("."))
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path.with_suffix(".py")]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def within(imported: str, package: str) -> bool:
    return imported == package or imported.startswith(package + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_none_of_its_forbidden_packages(layer: str) -> None:
    files = module_files(layer)
    assert files and all(f.exists() for f in files), f"{layer} not found"
    broken = sorted(
        f"{path.relative_to(ROOT)} imports {imported}"
        for path in files
        for imported in imports_of(path)
        for package in FORBIDDEN[layer]
        if within(imported, package)
    )
    assert not broken, "\n".join(broken)


def test_the_contract_catches_a_forbidden_import(tmp_path: Path) -> None:
    """Also the arrow that once ran back up: `casework/cli.py` importing `web.app`."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from enforcement.casework import db\n")
    assert any(within(i, "enforcement.casework") for i in imports_of(bad))


# -- the house: no import circle anywhere, no long module without its reason (issue 24) ---
PACKAGES = ("edge", "enforcement", "stream", "zes", "benchmarks")
MAX_LINES = 600


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its `__init__`)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Who imports whom among `modules`, at any depth (a lazy import inside a function is
    still a dependency, and a circle through it is one a refactor trips over).
    `from a.b import c` depends on the module a.b.c when it is one, else on a.b."""

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(known(f"{node.module}.{alias.name}") for alias in node.names)
        graph[name] = targets - {"", name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph`, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_anywhere() -> None:
    """Issue 24: `edge.recognition` <-> `edge.variants` and `web.core.security` <->
    `web.core.state` were circles; none may come back, in any package."""
    graph = module_graph(project_modules())
    assert len(graph) > 100  # the whole project, not an empty walk
    found = cycle(graph)
    assert found is None, " -> ".join(found or [])


def test_every_pure_module_is_in_the_contract() -> None:
    """A top-level module of `enforcement` that imports no adapter and does no I/O must be
    listed as pure core, so an adapter import into it fails here."""
    services = {"enforcement.cli", "enforcement.settings", "enforcement.platecheck",
                "enforcement.scenarios", "enforcement.broker_security",
                "enforcement.yaml_files"}  # fmt: skip
    listed = set(PURE_CORE)
    unlisted = [
        name
        for name, path in project_modules().items()
        if name.count(".") == 1 and name.startswith("enforcement.") and path.stem != "__init__"
        and name not in listed and name not in services
    ]  # fmt: skip
    assert not unlisted, f"pure core or services? {unlisted}"


@pytest.mark.parametrize("name", sorted(project_modules()))
def test_a_long_module_says_why_it_is_one(name: str) -> None:
    path = project_modules()[name]
    text = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text)) or ""
    lines = len(text.splitlines())
    assert lines <= MAX_LINES or "one module" in doc.lower(), f"{name}: {lines} lines"
