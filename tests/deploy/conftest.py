"""Fixtures of the deployment tests: the Prometheus binaries (Debian package `prometheus`)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import missing


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"`{name}` is not on PATH (apt-get install prometheus)")
        raise AssertionError  # unreachable: missing() skips or fails
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return _binary("prometheus")
