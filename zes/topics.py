"""The pipeline's Kafka topics and how long the broker keeps each one (`retention.ms`).

One table for `zes up`, deploy/docker-compose.yml and deploy/k8s/topics-job.yaml (a static
test, tests/deploy/test_topics.py, holds the deploy files to it). Why these terms: the topics
that carry every passing plate (passages, their dead letters, evidence images of every
passage) are kept hours, long enough to ride out an outage of the stream workers or the
intake overnight (their alerts fire within minutes) and far inside the 72 hours that is the
most a no-hit may be kept (R38); violations and the other dead letters, days: time for an
operator to replay them into a restored case database or to read and fix a dead letter. The
flows topic holds anonymous counts only.

Kafka deletes whole closed segments only, and a segment closes after `segment.ms` (7 days by
default) or `segment.bytes`; so every topic also sets `segment.ms` to a fraction of its
retention, or a quiet topic would keep a week of plates whatever `retention.ms` says.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class TopicRetention:
    retention_ms: int
    segment_ms: int

    def configs(self) -> dict[str, str]:
        """As Kafka topic configs (`--config` / CreateTopics)."""
        return {"retention.ms": str(self.retention_ms), "segment.ms": str(self.segment_ms)}


PLATES_OF_EVERYONE = TopicRetention(retention_ms=12 * HOUR_MS, segment_ms=HOUR_MS)
"""Passages (every plate that passed), their dead letters, evidence of every passage."""
DAYS = TopicRetention(retention_ms=7 * DAY_MS, segment_ms=6 * HOUR_MS)
"""Violations (plates of suspected violators only), dead letters to read, anonymous flows."""

TOPIC_RETENTION: dict[str, TopicRetention] = {
    "passages": PLATES_OF_EVERYONE,
    "passages-dead-letter": PLATES_OF_EVERYONE,
    "evidence": PLATES_OF_EVERYONE,
    "violations": DAYS,
    "violations-dead-letter": DAYS,
    "flows": DAYS,
    "flows-dead-letter": DAYS,
}


def topic_configs(name: str) -> dict[str, str]:
    """The configs of topic `name` (none for a topic not in the table)."""
    retention = TOPIC_RETENTION.get(name)
    return retention.configs() if retention else {}
