"""The register on a real 3-primary Redis Cluster, started from Debian's redis-server on free
loopback ports and joined with CLUSTER ADDSLOTSRANGE / MEET: lookups, reloads, grants, case
claims and day permits, synchronous and asyncio, with the keys where the layout puts them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
import redis
import redis.cluster

from enforcement.model import Exemption, Fuel, Vehicle
from enforcement.register.protocol import ClaimRequest
from enforcement.register.redis import AsyncRedisRegister, RedisRegister
from enforcement.register.redis.urls import (
    async_client_from_url,
    client_from_url,
    parse_cluster_url,
)
from tests.conftest import missing
from zes.embedded import free_port, wait_for_port

SECRET = b"cluster-test-secret-0123456789"
PREFIX = "zes-cluster"
AT = datetime(2026, 3, 10, 9, tzinfo=UTC)


def _van(plate: str, mass: int = 2800) -> Vehicle:
    return Vehicle(plate, "Bedrijfsauto", mass, fuels=(Fuel("Diesel", "5"),))


PLATES = [f"V{i:04d}BB" for i in range(1500)]


def test_cluster_urls_are_parsed_and_bad_ones_refused() -> None:
    assert parse_cluster_url("redis+cluster://:pw@127.0.0.1:7000,::1:7001") == (
        (("127.0.0.1", 7000), ("::1", 7001)),
        "pw",
    )
    for bad, why in (
        ("redis+cluster://", "at least one Cluster node"),
        ("redis+cluster://h", "host:port"),
        ("redis+cluster://h:1/3", "no path"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_cluster_url(bad)


@dataclass(frozen=True)
class Cluster:
    ports: tuple[int, ...]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package redis-server)")
        raise AssertionError  # unreachable: missing() skips or fails
    tmp = tmp_path_factory.mktemp("cluster")
    ports = tuple(free_port() for _ in range(3))
    # The bus defaults to port + 10000, past 65535 for a high free port: one of its own.
    buses = {port: free_port() for port in ports}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            started.append(
                subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(tmp), "--cluster-enabled", "yes",
                     "--cluster-config-file", str(tmp / f"nodes-{port}.conf"),
                     "--cluster-port", str(buses[port])],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
            wait_for_port(port, 10, started[-1])
        nodes = [redis.Redis(port=p) for p in ports]
        share = 16384 // len(nodes)
        for i, node in enumerate(nodes):
            last = 16383 if i == len(nodes) - 1 else (i + 1) * share - 1
            _command(node, "CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for port in ports[1:]:
            _command(nodes[0], "CLUSTER", "MEET", "127.0.0.1", port, buses[port])
        deadline = time.monotonic() + 20
        while not all(_ready(node, len(nodes)) for node in nodes):
            if time.monotonic() > deadline:
                raise AssertionError("the cluster did not form")
            time.sleep(0.1)
        for node in nodes:
            node.close()
        yield Cluster(ports)
    finally:
        for process in started:
            process.kill()
            process.wait(10)


def _command(node: redis.Redis, *args: object) -> Any:
    return cast(Any, node).execute_command(*args)


def _ready(node: redis.Redis, count: int) -> bool:
    info = _command(node, "CLUSTER", "INFO").decode()
    fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
    return fields["cluster_state"] == "ok" and int(fields["cluster_known_nodes"]) == count


def _keys_per_node(cluster: Cluster, pattern: str) -> dict[int, int]:
    counts = {}
    for port in cluster.ports:
        node = cluster.node(port)
        counts[port] = sum(1 for _ in node.scan_iter(match=pattern, count=1000))
        node.close()
    return counts


def test_the_register_runs_on_a_cluster(cluster: Cluster) -> None:
    client = client_from_url(cluster.url, socket_timeout=5)
    assert isinstance(client, redis.cluster.RedisCluster)
    register = RedisRegister(client, PREFIX, secret=SECRET)
    assert register.replace_vehicles([_van(p) for p in PLATES]) == len(PLATES)
    permit = Exemption.day_permit(PLATES[7], "Utrecht", date(2026, 3, 10))
    register.replace_exemptions([permit])

    view = register.lookup([*PLATES[:600], "XX99XX"], AT)
    assert len(view.vehicles) == 600 and view.vehicles[PLATES[3]] == _van(PLATES[3])
    assert "XX99XX" not in view.vehicles
    assert view.exemptions == {PLATES[7]: (permit,)}

    # The vehicle register sits in one slot; the case keys (the writes) spread out.
    vehicle_keys = _keys_per_node(cluster, f"{{{PREFIX}:veh}}:*")
    assert sorted(vehicle_keys.values())[:2] == [0, 0] and sum(vehicle_keys.values()) > 50
    claims = register.claim_cases([ClaimRequest(p, "utrecht", AT, 24, f"p-{p}") for p in PLATES])
    assert all(claim.first for claim in claims)
    again = register.claim_cases([ClaimRequest(p, "utrecht", AT, 24, "other") for p in PLATES])
    assert not any(claim.first for claim in again)
    assert all(n > 100 for n in _keys_per_node(cluster, f"{PREFIX}:case:*").values())
    rolling = register.claim_cases([ClaimRequest(p, "utrecht", AT, 4) for p in PLATES[:50]])
    assert (
        all(c.first for c in rolling) and not register.claim_case(PLATES[0], "utrecht", AT, 4).first
    )
    assert register.use_day_permit(PLATES[1], "Utrecht", date(2026, 3, 10), 12).consumed
    assert register.day_permits_used(PLATES[1], "Utrecht", 2026) == 1

    # A grant (WATCH/MULTI in the exemption slot), then a reload: the old generation goes.
    later = Exemption.day_permit(PLATES[8], "Utrecht", date(2026, 3, 10))
    assert register.add_exemptions([later]) == 1
    assert register.exemptions([PLATES[8]], AT) == {PLATES[8]: (later,)}
    assert register.replace_vehicles([_van(p, 3100) for p in PLATES[:100]]) == 100
    assert register.vehicles([PLATES[0], PLATES[200]]) == {PLATES[0]: _van(PLATES[0], 3100)}
    assert _keys_per_node(cluster, f"{{{PREFIX}:veh}}:1:*") == dict.fromkeys(cluster.ports, 0)
    stats = register.stats()
    assert stats["vehicles"] == 100 and stats["used_memory_bytes"] > 0

    async def stream_side() -> None:
        aclient = async_client_from_url(cluster.url, socket_timeout=5)
        try:
            reader = AsyncRedisRegister(aclient, PREFIX, secret=SECRET)
            found = await reader.lookup(PLATES[:100], AT)
            assert len(found.vehicles) == 100 and PLATES[8] in found.exemptions
            claimed = await reader.claim_cases(
                [ClaimRequest(p, "amsterdam", AT, 24, "q") for p in PLATES[:300]]
            )
            assert all(c.first for c in claimed)
            use = await reader.use_day_permit(PLATES[2], "Utrecht", date(2026, 3, 10), 12)
            assert use.consumed  # EVALSHA on the plate's own slot
        finally:
            await aclient.aclose()

    asyncio.run(stream_side())
    client.close()
