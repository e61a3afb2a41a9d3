"""What `zes up --duration` reports: counts scraped from the processes' /metrics endpoints,
the cases in the case database that show both evidence images, and the Prometheus scrape
config of exactly the processes started."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""Metric name → sorted label pairs → value."""


def scrape(port: int, timeout: float = 3.0) -> Samples:
    """Samples of a /metrics endpoint ({} when it does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = float(sample.value)
    return samples


def sum_by(samples: Samples, name: str, label: str) -> dict[str, float]:
    """The values of metric `name` summed per value of `label` ("" where it has none)."""
    totals: dict[str, float] = {}
    for labels, value in samples.get(name, {}).items():
        key = dict(labels).get(label, "")
        totals[key] = totals.get(key, 0.0) + value
    return totals


def total(samples: Samples, name: str) -> float:
    return sum(samples.get(name, {}).values())


ALERT_RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
"""The alert rules of deploy/, which the demo's Prometheus loads too (a checkout has them)."""


def prometheus_config(
    targets: dict[str, int], interval: str = "5s", rules: Path | None = ALERT_RULES
) -> str:
    """A scrape config for exactly the processes `zes up` started (jobs as in deploy/), with
    the alert rules of deploy/ when `rules` is there."""
    data: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
    }
    if rules is not None and rules.is_file():
        data["rule_files"] = [str(rules)]
    data |= {
        "scrape_configs": [
            {"job_name": f"zes-{role}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for role, port in targets.items()
        ],
    }
    return yaml.safe_dump(data, sort_keys=False)


def cases_with_evidence(database_url: str) -> int:
    """Cases whose review page shows every evidence image: a sighting of the case has each
    kind stored (not held back as pending)."""
    from sqlalchemy import func, select

    from enforcement.casework.db import make_engine
    from enforcement.casework.models import EvidenceItem, Sighting
    from enforcement.records import EvidenceKind

    complete = (
        select(Sighting.case_id)
        .join(EvidenceItem, EvidenceItem.passage_id == Sighting.passage_id)
        .where(EvidenceItem.pending.is_(False))
        .group_by(Sighting.case_id, Sighting.passage_id)
        .having(func.count(func.distinct(EvidenceItem.kind)) == len(get_args(EvidenceKind)))
        .subquery()
    )
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(select(func.count(func.distinct(complete.c.case_id))))
    finally:
        engine.dispose()
    return int(found or 0)


def flow_entries_persisted(database_url: str) -> int:
    """Entries (passages the stream decided as entering or of unknown direction) in the
    persisted flow statistics: equal to the stream's `entries_decided` once the sink caught
    up, each counted once."""
    from enforcement.casework.db import make_engine, session_factory
    from enforcement.flows.store import entries_total

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return entries_total(session)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class ChainMetrics:
    """The counts of the running chain, read from the metrics ports of its roles."""

    ports: dict[str, int]
    """role → metrics port of what runs."""

    def samples(self, role: str) -> Samples:
        return scrape(self.ports[role]) if role in self.ports else {}

    def seen(self) -> int:
        """Passages the stream took in: entries are decided, exits only counted."""
        return int(total(self.samples("stream"), "zes_flow_passages_total"))

    def edge_published(self) -> int:
        return int(total(self.samples("edge"), "zes_edge_passages_published_total"))

    def cases_opened(self) -> int:
        stream = self.samples("stream")
        return int(sum_by(stream, "zes_stream_violation_records_total", "first").get("true", 0))

    def intake_records(self, kind: str) -> dict[str, int]:
        """What the intake did with the records of `kind` ("violation", "evidence")."""
        intake = self.samples("intake")
        results: dict[str, float] = {}
        for labels, value in intake.get("zes_intake_records_total", {}).items():
            named = dict(labels)
            if named.get("kind") == kind:
                result = named.get("result", "")
                results[result] = results.get(result, 0.0) + value
        return {k: int(v) for k, v in results.items()}

    def entries_decided(self) -> int:
        return int(total(self.samples("stream"), "zes_stream_passages_total"))

    def flow_entries(self) -> int:
        """Entries the flows sink counted into zone rows (its own metric)."""
        return int(total(self.samples("flows"), "zes_flows_sink_entries_total"))

    def cases_created(self) -> int:
        return self.intake_records("violation").get("new_case", 0)

    def evidence_received(self) -> int:
        return sum(self.intake_records("evidence").values())

    def summary(self, synthetic: int) -> dict[str, Any]:
        stream = self.samples("stream")
        review = self.samples("review")
        outcomes = sum_by(stream, "zes_stream_passages_total", "outcome")
        violations = sum_by(stream, "zes_stream_violation_records_total", "first")
        result: dict[str, Any] = {
            "passages_published": {"edge": self.edge_published(), "synthetic": synthetic},
            "passages_seen": self.seen(),
            "entries_decided": int(sum(outcomes.values())),
            "decisions": {k: int(v) for k, v in sorted(outcomes.items())},
            "cases_opened": int(violations.get("true", 0)),
            "violation_records": int(sum(violations.values())),
            "dead_letters": int(total(stream, "zes_stream_dead_letters_total")),
            "cases_created": self.cases_created(),
        }
        if review:
            result["cases_in_queue"] = int(total(review, "zes_review_queue_cases"))
        return result
