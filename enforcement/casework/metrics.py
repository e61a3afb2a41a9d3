"""The intake's Prometheus metrics (own registry; no plate ever in a label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.records = Counter(
            "zes_intake_records",
            "Records the intake applied, by kind and what became of them.",
            ["kind", "result"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "zes_intake_batch_seconds",
            "Time to apply one batch to the case database.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.database_up = Gauge(
            "zes_intake_database_up",
            "1 when the last write to the case database worked.",
            registry=r,
        )
