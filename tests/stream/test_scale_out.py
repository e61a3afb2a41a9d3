"""Scale-out: two worker processes of one consumer group share the 4 partitions of a
prefilled topic; one is killed mid-run and the other takes its partitions over."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import redis

from enforcement.demo.fleet import synthetic_plates
from enforcement.register.redis import RedisRegister
from tests.stream.harness import SECRET, RedisGate, StreamHarness, now, passage
from tests.stream.test_worker import diesel_van

pytestmark = [pytest.mark.broker, pytest.mark.redis, pytest.mark.slow]


def decided(h: StreamHarness, worker: int) -> float:
    return h.metric("zes_stream_passages_total", worker=worker)


def holding(h: StreamHarness, worker: int) -> Callable[[], bool]:
    return lambda: h.metric("zes_stream_register_retries_total", worker=worker) > 0


def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_dies(
    harness: StreamHarness,
) -> None:
    plates = synthetic_plates(1200, seed=23)
    RedisRegister(
        redis.Redis.from_url(harness.redis_url), harness.prefix, secret=SECRET.encode()
    ).replace_vehicles(diesel_van(p) for p in plates)
    passages = [passage(p, "utrecht", now()) for p in plates]  # each a violation of its own
    harness.send_passages(passages, per_envelope=2, cameras=8)  # prefilled, all 4 partitions

    # Both workers join before either can decide: until the gates open Redis is
    # unreachable and every batch is held (retried), so neither drains the topic alone.
    # The doomed worker's link to Redis is slow (each reply held 0.25 s), so it is killed
    # mid-run: at full speed it decided its whole share (3 batches) between two looks at
    # its metrics, and the test then failed without exercising the takeover.
    port = urlsplit(harness.redis_url).port or 6379
    gate, slow = RedisGate(port), RedisGate(port, delay_s=0.25)
    db = urlsplit(harness.redis_url).path.strip("/") or 0
    try:
        harness.start_worker(f"redis://127.0.0.1:{gate.port}/{db}")
        doomed = harness.start_worker(f"redis://127.0.0.1:{slow.port}/{db}")
        for worker in (0, 1):  # a held batch: the worker owns partitions with data
            harness.wait_for(holding(harness, worker), 90, f"worker {worker} holding a batch")
        gate.open()
        slow.open()
        harness.wait_for(lambda: decided(harness, 1) > 0, timeout=60, what="both deciding")
        share = decided(harness, 1)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        records = harness.violations_covering({p.passage_id for p in passages}, timeout=120)
    finally:
        gate.close()
        slow.close()

    # Killed mid-run: the survivor decided all the rest, its partitions and the dead one's.
    assert share < len(passages) / 2
    assert decided(harness, 0) + share >= len(passages)
    by_id: dict[object, set[str]] = {}
    openers: dict[str, set[object]] = {}
    for record in records:
        by_id.setdefault(record.passage_id, set()).add(record.case_key)
        if record.first_sighting:
            openers.setdefault(record.case_key, set()).add(record.passage_id)
    assert set(by_id) == {p.passage_id for p in passages}  # nothing lost
    assert all(len(keys) == 1 for keys in by_id.values())  # a re-decision names the same case
    # No duplicate case: each plate's case was opened once, by one passage (a re-send of
    # the opener after the kill says first again, idempotently, for the same passage).
    assert len(openers) == len(plates)
    assert all(len(ids) == 1 for ids in openers.values())
