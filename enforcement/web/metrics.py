"""Prometheus metrics of the review app, in a registry of its own (one per app, so tests and
several apps in one process never share counters). Labels are zones, statuses, actions and
reason codes: never a plate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from enforcement.casework.models import (
    ACTIVE_STATUSES,
    Case,
    CaseStatus,
    ExportBatch,
    RejectReason,
)
from enforcement.casework.outcomes import MisreadShareCollector

ACTIONS = ("confirm", "reject", "approve", "escalate", "correct", "close")

#: Statuses with work still to do (reviewers, or the export for approved cases): the queue.
QUEUE_STATUSES = (*(s.value for s in ACTIVE_STATUSES), CaseStatus.APPROVED.value)


class QueueCollector(Collector):
    """Reads the queue from the database at scrape time: the numbers are true for every
    process that writes cases (intake, other app instances), not just this one."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        cases = GaugeMetricFamily(
            "zes_review_queue_cases",
            "Cases waiting for a reviewer, an approval or the export, by zone and status.",
            labels=["zone", "status"],
        )
        oldest = GaugeMetricFamily(
            "zes_review_oldest_open_case_age_seconds",
            "Age of the oldest case a reviewer still has to handle, by zone.",
            labels=["zone"],
        )
        # Exports run as a batch job (`zes enforce export`) that no Prometheus scrapes; the
        # batches table is the durable count, and it only grows (cases are never un-exported).
        exported = CounterMetricFamily(
            "zes_export_cases",
            "Cases exported to the fine authority, by kind (fine or warning letter).",
            labels=["kind"],
        )
        try:
            with self.sessions() as session:
                counts = session.execute(
                    select(Case.zone_id, Case.status, func.count())
                    .where(Case.status.in_(QUEUE_STATUSES))
                    .group_by(Case.zone_id, Case.status)
                ).all()
                firsts = session.execute(
                    select(Case.zone_id, func.min(Case.first_seen_at))
                    .where(Case.status.in_([s.value for s in ACTIVE_STATUSES]))
                    .group_by(Case.zone_id)
                ).all()
                totals = {"fine": 0, "warning": 0}
                for kind, total in session.execute(
                    select(ExportBatch.kind, func.sum(ExportBatch.cases)).group_by(ExportBatch.kind)
                ):
                    totals[kind] = int(total or 0)
        except SQLAlchemyError:
            # A scrape must not fail on a database hiccup; the series are then absent, which
            # the alert on the queue (absent() / stale) notices.
            return
        for zone, status, count in counts:
            cases.add_metric([zone, status], float(count))
        now = self.clock()
        for zone, first in firsts:
            if first is not None:
                oldest.add_metric([zone], max(0.0, (now - _aware(first)).total_seconds()))
        for kind, total in totals.items():
            exported.add_metric([kind], float(total))
        yield cases
        yield oldest
        yield exported


def _aware(value: datetime) -> datetime:
    # Defensive: an aggregate's type is the column's, but a naive value would be UTC here.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReviewMetrics:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "zes_review_decisions_total",
            "Reviewer decisions and automatic closes, by action.",
            ["action"],
            registry=self.registry,
        )
        self.rejects = Counter(
            "zes_review_rejects_total",
            "Rejected cases by reason code.",
            ["reason"],
            registry=self.registry,
        )
        for action in ACTIONS:  # every series exists from the start, at 0
            self.decisions.labels(action=action)
        for reason in RejectReason:
            self.rejects.labels(reason=reason.value)
        self.platechecks = Counter(
            "zes_platecheck_checks_total",
            "Public plate checks, by zone asked about ('all' for every zone). Never the plate.",
            ["zone"],
            registry=self.registry,
        )
        self.registry.register(QueueCollector(sessions, clock))
        # Per camera: the share of its decided cases annulled or rejected as misread
        # (enforcement.casework.outcomes; alert ZesCameraMisreadsRising).
        self.registry.register(MisreadShareCollector(sessions, clock=clock))

    def decided(self, action: str, reason: str | None = None) -> None:
        self.decisions.labels(action=action).inc()
        if reason is not None:
            self.rejects.labels(reason=reason).inc()
