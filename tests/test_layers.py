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
    "enforcement.evidence_seal",
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
