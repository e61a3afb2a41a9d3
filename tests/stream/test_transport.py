"""Pins what `stream.transport` relies on: aiokafka builds its fetcher from the consumer's
`_fetch_max_wait_ms` when it starts. (The worker tests run every worker on the transport.)"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from stream.transport import set_fetch_max_wait

pytestmark = pytest.mark.broker


def test_the_fetcher_uses_the_wait_set_before_start(broker: str) -> None:
    async def go() -> int:
        consumer = AIOKafkaConsumer(
            "pin-topic", bootstrap_servers=broker, group_id=None, fetch_max_wait_ms=1500
        )
        set_fetch_max_wait(consumer, 50)
        await consumer.start()
        try:
            return int(consumer._fetcher._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(go()) == 50
