"""Prometheus metrics of a stream worker, including the flow statistics of the seed's
"dashboard of logistics flows". Labels are low-cardinality by construction: zone, outcome,
vehicle class, fuel group, emission class, direction, partition. Never a plate or a camera.

Counters are declared with their exposed `_total` name (prometheus_client would add it anyway)
so a grep for the name a dashboard or alert uses finds the declaration."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from enforcement.model import Vehicle

_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600)


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.passages = Counter(
            "zes_stream_passages_total",
            "Passages decided, by zone and outcome.",
            ["zone", "outcome"],
            registry=r,
        )
        self.records = Counter(
            "zes_stream_records_total", "Kafka records (envelopes) consumed.", registry=r
        )
        self.batch_passages = Histogram(
            "zes_stream_batch_passages",
            "Passages per decided batch.",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "zes_stream_register_lookup_seconds",
            "Latency of one batched register lookup (vehicles + exemptions).",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=r,
        )
        self.decision_lag = Histogram(
            "zes_stream_decision_lag_seconds",
            "Time from capture (seen_at) to decision, of the oldest passage per camera and batch.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.dead_letters = Counter(
            "zes_stream_dead_letters_total",
            "Records or passages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.violations = Counter(
            "zes_stream_violation_records_total",
            "Records sent to the violations topic, by decision and first sighting or not.",
            ["decision", "first"],
            registry=r,
        )
        self.register_up = Gauge(
            "zes_stream_register_up", "1 when the Redis register answered last time.", registry=r
        )
        self.register_retries = Counter(
            "zes_stream_register_retries_total",
            "Batches retried because the register was unavailable.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "zes_stream_consumer_lag_records",
            "Records behind the fetch high-watermark, per partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.flow_passages = Counter(
            "zes_flow_passages_total",
            "All passages seen, by zone, direction and plate origin (nl, foreign, unread).",
            ["zone", "direction", "origin"],
            registry=r,
        )
        self.flow_entries = Counter(
            "zes_flow_entries_total",
            "Entries of Dutch-registered vehicles, by zone, vehicle class, fuel group and "
            "emission class.",
            ["zone", "vehicle_class", "fuel_group", "emission_class"],
            registry=r,
        )
        self.flow_area_entries = Counter(
            "zes_flow_area_entries_total",
            "Entries into access-window areas, by area, window state (in, privilege, exempt, "
            "out, out_of_scope, undetermined), vehicle class and local hour of day (00-23).",
            ["area", "window", "vehicle_class", "hour"],
            registry=r,
        )
        self.lookalike_doubts = Counter(
            "zes_stream_lookalike_doubts_total",
            "Violations decided undetermined (R33) because a register plate is one look-alike "
            "substitution from the read, on a character read below the confidence floor.",
            ["zone"],
            registry=r,
        )
        self.register_up.set(1)


def fuel_group(vehicle: Vehicle | None) -> str:
    """A handful of groups for the flow dashboards: zero_emission, hybrid, diesel, petrol,
    gas, other, unknown (`enforcement.model.vehicle_facts`, the law's own reading)."""
    return vehicle.facts.fuel_group if vehicle is not None else "unknown"


def emission_label(vehicle: Vehicle | None) -> str:
    """The canonical emission class, `unknown` (none registered) or `other` (unreadable)."""
    return vehicle.facts.emission_label if vehicle is not None else "unknown"
