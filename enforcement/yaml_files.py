"""Reading the YAML files people write (a site file, an exemption policy): one reader, so
every such file fails the same way, with the file named and one line per problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: Path, problem: Callable[[str, list[str]], Exception]) -> dict[str, Any]:
    """The mapping at the top of the YAML file `path`; an unreadable file, bad YAML or a
    top level that is not a mapping raises `problem(str(path), [line])` (the caller's own
    error type, e.g. `SiteConfigError`, `PolicyError`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise problem(str(path), [f"(file): cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise problem(str(path), [f"(yaml): {exc}".replace("\n", " ")]) from None
    if not isinstance(data, dict):
        raise problem(str(path), ["(top): the file must hold a mapping"])
    return data
