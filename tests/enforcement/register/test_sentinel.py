"""The register on Redis servers of the tests' own, started from Debian's redis-server on
free loopback ports: through Sentinel (`redis+sentinel://` URLs) with a real primary, replica
and Sentinel, and on a server whose script cache is flushed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio

from enforcement.model import Fuel, Vehicle
from enforcement.register.protocol import CaseClaim, ClaimRequest, RegisterUnavailable
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.register.redis.urls import (
    async_client_from_url,
    client_from_url,
    parse_sentinel_url,
)
from tests.conftest import missing
from zes.embedded import free_port, wait_for_port

SECRET = b"sentinel-test-secret-0123456789"
VAN = Vehicle(
    "VBB12B", "Bedrijfsauto", 2800, first_admission=date(2008, 2, 1), fuels=(Fuel("Diesel", "4"),)
)
SERVICE = "zes-register"


def test_sentinel_urls_are_parsed_and_bad_ones_refused() -> None:
    url = parse_sentinel_url("redis+sentinel://:s%40cret@127.0.0.1:26379,::1:26380/zes/2")
    assert url.sentinels == (("127.0.0.1", 26379), ("::1", 26380))
    assert (url.service, url.db, url.password) == ("zes", 2, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:1/zes").db == 0
    for bad, why in (
        ("redis+sentinel:///zes", "at least one Sentinel"),
        ("redis+sentinel://h/zes", "host:port"),
        ("redis+sentinel://h:1/", "service_name"),
        ("redis+sentinel://h:1/zes/x", "service_name"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_sentinel_url(bad)


@dataclass
class Servers:
    primary: subprocess.Popen[bytes]
    primary_port: int
    replica_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}"

    def primary_address(self) -> tuple[str, int]:
        sentinel = redis.Redis(port=self.sentinel_port, decode_responses=True)
        try:
            host, port = sentinel.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "get-master-addr-by-name", SERVICE
            )
            return str(host), int(port)
        finally:
            sentinel.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
        raise AssertionError  # unreachable: missing() skips or fails
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started.append(process)
        return process

    # --dir: a full resync writes an RDB file even with saving off; keep it out of the cwd.
    plain = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path))
    primary_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    try:
        primary = start("--port", str(primary_port), *plain)
        wait_for_port(primary_port, 10, primary)
        replica = start(
            "--port", str(replica_port), *plain, "--replicaof", "127.0.0.1", str(primary_port)
        )
        wait_for_port(replica_port, 10, replica)
        config = tmp_path / "sentinel.conf"  # Sentinel rewrites its file: a copy of its own
        config.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n",
            encoding="utf-8",
        )
        sentinel = start(str(config), "--sentinel")
        wait_for_port(sentinel_port, 10, sentinel)
        yield Servers(primary, primary_port, replica_port, sentinel_port)
    finally:
        for process in started:
            process.kill()
            process.wait(10)


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, RegisterUnavailable):
            pass  # during the failover the register is unavailable: the caller retries
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_the_register_works_through_sentinel_and_follows_a_failover(servers: Servers) -> None:
    client = client_from_url(servers.url, socket_connect_timeout=1, socket_timeout=2)
    register = RedisRegister(client, "zes-sentinel", secret=SECRET)
    register.replace_vehicles([VAN])
    at = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert register.lookup(["VBB12B"]).vehicles["VBB12B"] == VAN
    assert register.claim_case("VBB12B", "utrecht", at, 24, "p1").first

    async def lookup() -> Vehicle | None:
        aclient = async_client_from_url(servers.url, socket_connect_timeout=1)
        try:
            view = await AsyncRedisRegister(aclient, "zes-sentinel", secret=SECRET).lookup(
                ["VBB12B"]
            )
            return view.vehicles.get("VBB12B")
        finally:
            await aclient.aclose()
            for sentinel in cast(Any, aclient).connection_pool.sentinel_manager.sentinels:
                await sentinel.aclose()

    assert asyncio.run(lookup()) == VAN

    replica = redis.Redis(port=servers.replica_port)
    wait_until(lambda: replica.info("replication")["master_sync_in_progress"] == 0
               and replica.exists("{zes-sentinel:veh}:cur"), 20, "the replica in sync")  # fmt: skip
    servers.primary.kill()
    servers.primary.wait(10)
    wait_until(lambda: servers.primary_address()[1] == servers.replica_port, 30, "a failover")
    # The same clients ask the Sentinel again on reconnect: the promoted replica answers.
    wait_until(lambda: register.lookup(["VBB12B"]).vehicles.get("VBB12B") == VAN, 20,
               "the register on the new primary")  # fmt: skip
    assert not register.claim_case("VBB12B", "utrecht", at, 24, "p2").first  # the case survived
    assert asyncio.run(lookup()) == VAN
    replica.close()
    client.close()
    for sentinel in cast(Any, client).connection_pool.sentinel_manager.sentinels:
        sentinel.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis server of this test's own (its script cache is flushed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
        raise AssertionError
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 10, process)
        yield port
    finally:
        process.kill()
        process.wait(10)


def test_batch_claims_survive_a_lost_script_cache(own_redis: int) -> None:
    """Claims go pre-packed on one connection; a rolling interval's script missing from the
    server's cache (restart, failover) comes back as an error in its reply's place, and the
    batch is sent again after loading it."""
    client = redis.Redis(port=own_redis)
    register = RedisRegister(client, "zes-scripts", secret=SECRET)
    at = datetime(2026, 3, 10, 9, tzinfo=UTC)
    requests = [
        ClaimRequest("VBB12B", "utrecht", at, 48, "p1"),
        ClaimRequest("VBB12C", "den-haag", at, 24, "p2"),
    ]
    assert [c.first for c in register.claim_cases(requests)] == [True, True]
    client.script_flush()

    async def again() -> list[CaseClaim]:
        aclient = redis.asyncio.Redis(port=own_redis)
        try:
            return await AsyncRedisRegister(aclient, "zes-scripts", secret=SECRET).claim_cases(
                [ClaimRequest("VBB12B", "utrecht", at, 48, "p3"), *requests]
            )
        finally:
            await aclient.aclose()

    claims = asyncio.run(again())
    assert [(c.case_key, c.first) for c in claims] == [
        ("VBB12B:utrecht:2026-03-10", False),
        ("VBB12B:utrecht:2026-03-10", True),  # the opener again: idempotent
        ("VBB12C:den-haag:2026-03-10", True),
    ]
    client.close()
