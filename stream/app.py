"""The Faust application: one agent consumes passage envelopes in batches, decides them
against the Redis register with the law, and produces violations and dead letters.

At-least-once end to end: the agent takes batches with `noack_take`, and acks the batch's
events only after every output record was acknowledged by the broker. A register outage
never acks anything: the batch is retried with back-off until Redis answers (no passage is
decided `allowed` for want of data). A worker killed mid-batch re-reads the batch on restart;
downstream sinks de-duplicate by passage id and case key.

Durable state (case de-duplication, day-permit counts) lives in Redis, never in Faust
tables: the embedded broker's wrong ListOffsets makes changelog recovery lose keys.

Run it as `zes stream worker`, or with Faust's own CLI: `faust -A stream.app worker`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.sensors import Monitor
from prometheus_client import start_http_server

from enforcement.broker_security import BrokerSecurity, load_broker_security
from enforcement.register.protocol import RegisterUnavailable
from enforcement.register.redis import AsyncRedisRegister
from enforcement.register.redis.urls import async_client_from_url
from enforcement.settings import Settings, load_areas, load_law, load_settings, require_keys
from stream.decider import BatchResult, PassageDecider, RawRecord
from stream.memo import QuietDecisions
from stream.metrics import StreamMetrics
from stream.settings import StreamSettings
from stream.transport import TunedTransport

log = logging.getLogger("zes.stream")


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message bookkeeping.

    The Monitor keeps per-event timing and counts in Python (measured here: a large share of
    the per-record overhead); the worker exports its own Prometheus metrics instead. Rebalance,
    commit and assignment hooks are kept, since they are rare and useful in logs."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


def faust_credentials(security: BrokerSecurity) -> faust.types.auth.CredentialsT | None:
    """`ZES_KAFKA_*` as Faust's broker credentials (Faust hands them to aiokafka)."""
    if security.sasl:
        assert security.sasl_password is not None
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context(),
        )
    context = security.ssl_context()
    return faust.SSLCredentials(context) if context is not None else None


class StreamWorker:
    """Everything one worker process holds: settings, register, metrics, the Faust app."""

    def __init__(
        self,
        settings: StreamSettings | None = None,
        core: Settings | None = None,
        broker_security: BrokerSecurity | None = None,
    ) -> None:
        self.settings = settings or StreamSettings()
        self.broker_security = broker_security or load_broker_security()
        self.core = core or load_settings()
        _, zones = load_law(self.core)
        self.metrics = StreamMetrics()
        client = async_client_from_url(
            self.core.redis_url, socket_connect_timeout=2, socket_timeout=5
        )
        self.register = AsyncRedisRegister(
            client,
            self.core.register_prefix,
            secret=self.core.hash_secret.get_secret_value().encode(),
        )
        self.decider = PassageDecider(
            self.register,
            zones,
            self.metrics,
            violations_topic=self.settings.violations_topic,
            dead_letter_topic=self.settings.dead_letter_topic,
            areas=load_areas(self.core),
            flows_topic=self.settings.flows_topic or None,
            worker_id=self.settings.worker_id,
            # Domain-separated inside (vehicle_digest): digests link nothing across days.
            flow_vehicle_key=self.core.hash_secret.get_secret_value().encode(),
            memo=QuietDecisions(self.settings.memo_kinds),
            lookalike_guard=self.settings.lookalike_guard,
        )
        self.app = self._create_app()
        self._metrics_started = False

    def _create_app(self) -> faust.App:
        s = self.settings
        datadir = self.core.work_dir / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            s.app_id,
            broker=s.broker,
            broker_credentials=faust_credentials(self.broker_security),
            value_serializer="raw",
            key_serializer="raw",
            broker_session_timeout=s.session_timeout_s,
            broker_heartbeat_interval=min(2.0, s.session_timeout_s / 3),
            consumer_auto_offset_reset="earliest",
            topic_partitions=s.partitions,
            topic_replication_factor=1,
            producer_acks=-1,
            stream_buffer_maxsize=16384,
            consumer_max_fetch_size=s.fetch_max_bytes,
            web_enabled=False,
            store="memory://",
            # Faust makes a data folder even with in-memory tables: keep it out of the cwd.
            datadir=str(datadir / f"{s.app_id}-data"),
            monitor=None if s.faust_sensors else QuietMonitor(),
        )
        # Before the first topic: topics reach the transport when they are declared.
        app.transport = TunedTransport(
            app.conf.broker_consumer, app, fetch_max_wait_ms=s.fetch_max_wait_ms
        )
        passages = app.topic(s.passages_topic, value_serializer="raw", key_serializer="raw")
        outputs = {
            name: app.topic(name, value_serializer="raw", key_serializer="raw")
            for name in (s.violations_topic, s.dead_letter_topic, s.flows_topic)
            if name
        }

        @app.task  # type: ignore[untyped-decorator]
        async def start_metrics() -> None:
            if s.metrics_port and not self._metrics_started:
                start_http_server(s.metrics_port, s.metrics_host, registry=self.metrics.registry)
                self._metrics_started = True
                log.info("metrics on http://%s:%d/metrics", s.metrics_host, s.metrics_port)

        @app.agent(passages)
        async def decide_passages(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
            # noack_take is on the concrete Stream only: we ack after delivery ourselves.
            batches = cast(faust.Stream[Any], stream).noack_take(s.take_max, within=s.take_within_s)
            async for events in batches:
                records = [
                    RawRecord(e.value, e.message.topic, e.message.partition, e.message.offset)
                    for e in events
                ]
                result = await self.process_until_decided(records)
                pending = [
                    await outputs[o.topic].send(key=o.key, value=o.value) for o in result.outputs
                ]
                for delivery in pending:
                    await delivery  # the broker acknowledged it: only now may we commit
                for event in events:
                    await stream.ack(event)
                self._observe_lag(app, events)
                yield None

        self.agent = decide_passages
        return app

    async def process_until_decided(self, records: Sequence[RawRecord]) -> BatchResult:
        """Decide a batch, retrying with back-off while the register is unavailable."""
        delay = self.settings.retry_initial_s
        while True:
            try:
                return await self.decider.process(records)
            except RegisterUnavailable as exc:
                self.metrics.register_up.set(0)
                self.metrics.register_retries.inc()
                log.warning("register unavailable, batch held (retry in %.1f s): %s", delay, exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.settings.retry_max_s)

    def _observe_lag(self, app: faust.App, events: Sequence[faust.EventT[Any]]) -> None:
        """Lag from the fetch high-watermark (Tansu's ListOffsets 'latest' is wrong)."""
        last: dict[Any, int] = {}
        for event in events:
            last[event.message.tp] = event.message.offset
        for tp, offset in last.items():
            try:
                highwater = app.consumer.highwater(tp)
            except Exception:
                continue
            if highwater is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, highwater - offset - 1)
                )


def tune_gc(gen0_threshold: int) -> None:
    """Collect cycles less often, and never scan what exists at start-up again.

    Deciding a batch allocates many short-lived objects that reference counting frees; the
    cyclic collector's default pace (every 700 allocations, old generations every 10) then
    mostly re-scans long-lived ones: the register's vehicle cache, the memo, Faust. Measured
    in the decider alone: 61 -> 44 us a passage with the collector off, 46 -> 40 with this
    (the two runs of each, 100k vehicles, memo on). Cycles are still collected, rarely."""
    if not gen0_threshold:
        return
    gc.freeze()
    gc.set_threshold(gen0_threshold, 20, 100)


def create_worker() -> StreamWorker:
    return StreamWorker()


def _module_app() -> faust.App:
    """`faust -A stream.app worker` imports this module and looks for `app`. Faust's own
    CLI has no `--dev`: the hash key must be a real one (the same check as `zes stream`)."""
    require_keys("the stream worker", [load_settings().hash_key], dev=False)
    return create_worker().app


def __getattr__(name: str) -> Any:  # lazily, so importing the module starts nothing
    if name == "app":
        return _module_app()
    raise AttributeError(name)
