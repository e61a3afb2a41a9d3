"""Faust's aiokafka transport with one setting Faust does not expose: the fetch wait.

Faust builds its worker consumer with `fetch_max_wait_ms=1500` hard-coded. Kafka answers a
fetch as soon as `fetch_min_bytes` (1) are there, but the embedded Tansu broker holds every
fetch for the full wait: measured here, a record produced at a steady 10/s reached an
aiokafka consumer after 0.41 s median (0.72 s max) with 1500 ms, and 0.003 s with 50 ms.
Under load that wait starved the worker and put 1-2 s of decision lag on every passage.

The subclass changes only the created consumer's wait before it starts (aiokafka reads it
when it builds its fetcher in `start()`); `tests/stream/test_transport.py` pins that.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


class TunedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        set_fetch_max_wait(consumer, getattr(transport, "fetch_max_wait_ms", 50))
        return consumer


class TunedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TunedTransport(faust_aiokafka.Transport):
    """Set on the app before its first topic: `app.transport = TunedTransport(...)`."""

    Consumer = TunedConsumer

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 50, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_max_wait_ms = fetch_max_wait_ms


def set_fetch_max_wait(consumer: aiokafka.AIOKafkaConsumer, wait_ms: int) -> None:
    """Set the fetch wait of a consumer that has not started yet."""
    if not hasattr(consumer, "_fetch_max_wait_ms"):
        raise RuntimeError("aiokafka changed: AIOKafkaConsumer has no _fetch_max_wait_ms")
    consumer._fetch_max_wait_ms = wait_ms
