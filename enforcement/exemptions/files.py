"""Reading the policy files: the framework and every municipality file of a folder.

A policy folder holds `framework.yaml` and `municipalities/*.yaml` (one per municipality).
`load_policies` reports every problem of every file at once (`PolicyError`), each line led by
the file it is in, because a policy officer fixing a typo should not iterate one error at a
time. The example shipped beside this module (`examples/`) is the default folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enforcement.exemptions.policy import (
    Framework,
    MunicipalPolicy,
    PolicyError,
    parse_framework,
    parse_municipality,
    resolve,
)
from enforcement.yaml_files import read_mapping

#: The shipped framework (R22's municipal variations and R31) and an example municipality.
EXAMPLE_DIR = Path(__file__).resolve().parent / "examples"
FRAMEWORK_FILE = "framework.yaml"
MUNICIPALITY_DIR = "municipalities"


def _yaml(path: Path) -> dict[str, Any]:
    return read_mapping(path, PolicyError)


def load_framework(path: Path) -> Framework:
    return parse_framework(_yaml(path), str(path))


def load_policies(
    folder: Path, *, municipalities: frozenset[str] | None = None
) -> dict[str, MunicipalPolicy]:
    """Every municipality's policy of `folder`, by URL slug (`den-haag`).

    `municipalities` (the zone file's spellings) makes a municipality without a zone a
    problem. Raises `PolicyError` listing every problem of every file."""
    problems: list[str] = []
    framework: Framework | None = None
    try:
        framework = load_framework(folder / FRAMEWORK_FILE)
    except PolicyError as exc:
        problems.extend(f"{FRAMEWORK_FILE}: {p}" for p in exc.problems)
    policies: dict[str, MunicipalPolicy] = {}
    files = sorted((folder / MUNICIPALITY_DIR).glob("*.yaml"))
    if not files:
        problems.append(f"{MUNICIPALITY_DIR}/: no municipality file (*.yaml)")
    for path in files:
        name = f"{MUNICIPALITY_DIR}/{path.name}"
        try:
            local = parse_municipality(_yaml(path), name)
            if framework is None:
                continue
            policy = resolve(framework, local, municipalities=municipalities, source=name)
        except PolicyError as exc:
            problems.extend(f"{name}: {p}" for p in exc.problems)
            continue
        if policy.slug in policies:
            problems.append(f"{name}: municipality {policy.municipality!r} has a second file")
        policies[policy.slug] = policy
    if problems:
        raise PolicyError(str(folder), problems)
    return policies
