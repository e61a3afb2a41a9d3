"""Settings of a stream worker (`ZES_STREAM_*`), beside the shared `enforcement` settings
(Redis register, hash secret, law file)."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings

from enforcement.settings import role_settings_config


class StreamSettings(BaseSettings):
    model_config = role_settings_config("ZES_STREAM_")

    broker: str = Field(
        "kafka://127.0.0.1:9092", description="Kafka bootstrap, e.g. kafka://127.0.0.1:9092."
    )
    app_id: str = Field("zes-stream", description="Faust app id = consumer group id.")
    passages_topic: str = Field("passages", description="Envelopes of 1..N passages.")
    violations_topic: str = Field("violations", description="Violations and undetermined.")
    dead_letter_topic: str = Field("passages-dead-letter", description="Malformed records.")
    flows_topic: str = Field(
        "flows",
        description="Anonymous hourly flow counts of every batch, for the persisted policy "
        "statistics (`zes flows sink`); empty: Prometheus counters only.",
    )
    worker_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="This worker's name in flow batch ids (default host and process id).",
    )
    partitions: int = Field(4, ge=1, description="Partitions of the topics this app creates.")
    take_max: int = Field(100, ge=1, description="Kafka records per batch (stream.take).")
    take_within_s: float = Field(0.05, gt=0, description="Max wait to fill a batch, seconds.")
    session_timeout_s: float = Field(
        6.0, gt=0, description="Consumer session timeout; Tansu joins take half of it."
    )
    retry_initial_s: float = Field(0.2, gt=0, description="First back-off after an outage.")
    retry_max_s: float = Field(5.0, gt=0, description="Longest back-off between retries.")
    fetch_max_bytes: int = Field(
        8 << 20,
        ge=1 << 20,
        description="Max bytes per partition and fetch (Faust's consumer_max_fetch_size). "
        "Envelopes of 50 passages are ~14 KB: Faust's 1 MiB default starves the worker.",
    )
    fetch_max_wait_ms: int = Field(
        50,
        ge=1,
        description="How long the broker may hold a fetch. Faust hard-codes 1500 ms; Tansu "
        "holds every fetch that long (see stream/transport.py).",
    )
    faust_sensors: bool = Field(
        False, description="Keep Faust's own per-message Monitor (costs throughput)."
    )
    memo_kinds: int = Field(
        50_000,
        ge=0,
        description="Kinds of vehicle whose decisions a worker keeps (stream.memo); 0: "
        "decide every passage in full.",
    )
    lookalike_guard: bool = Field(
        True,
        description="Decide a violation undetermined (R33) when a register plate is one "
        "look-alike substitution from the read on a character read below the zone's "
        "confidence floor (a second register lookup, only for such batches).",
    )
    gc_gen0_threshold: int = Field(
        50_000,
        ge=0,
        description="Allocations between young-generation collections (Python's default is "
        "700); 0 keeps Python's settings. See stream.app.tune_gc.",
    )
    uvloop: bool = Field(True, description="Run the worker on uvloop when it is installed.")
    metrics_host: str = Field("127.0.0.1", description="Prometheus endpoint address.")
    metrics_port: int = Field(9102, ge=0, description="Prometheus endpoint port (0: none).")

    @property
    def bootstrap(self) -> str:
        """`host:port[,host:port]` without the `kafka://` scheme (for plain Kafka clients)."""
        return self.broker.removeprefix("kafka://")
