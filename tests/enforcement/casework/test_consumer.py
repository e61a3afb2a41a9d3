"""The intake process against the real Tansu broker into SQLite and PostgreSQL:
re-delivery changes nothing, sightings attach, undetermined cases need identification,
malformed records are dead-lettered and the rest still lands."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from sqlalchemy import func, select

from enforcement.casework.consumer import IntakeConsumer
from enforcement.casework.intake import IntakeCounts
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.models import Case, EvidenceItem, Sighting
from enforcement.casework.settings import CaseSettings
from enforcement.records import decode_dead_letter, encode_evidence, encode_violation
from tests.enforcement.casework.conftest import SEEN, CaseDB, evidence_for, violation

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def topics(broker: str) -> CaseSettings:
    run = uuid.uuid4().hex[:8]
    cases = CaseSettings(
        broker=broker,
        violations_topic=f"violations-{run}",
        evidence_topic=f"evidence-{run}",
        dead_letter_topic=f"intake-dead-{run}",
        intake_group=f"intake-{run}",
        intake_metrics_port=0,
        session_timeout_s=6,
    )
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics(
        [
            NewTopic(name, num_partitions=2, replication_factor=1)
            for name in (cases.violations_topic, cases.evidence_topic, cases.dead_letter_topic)
        ]
    )
    admin.close()
    return cases


def _run(db: CaseDB, cases: CaseSettings, expect: int, timeout: float = 60) -> IntakeCounts:
    """Run one intake until it has seen `expect` violation + evidence records."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()

    def enough(t: IntakeCounts) -> bool:
        return t.records >= expect

    try:
        consumer = IntakeConsumer(db.intake(grace=timedelta(0)), cases, IntakeMetrics(), stop=stop)
        return consumer.run(until=enough)
    finally:
        timer.cancel()


def test_intake_end_to_end(case_db: CaseDB, topics: CaseSettings) -> None:
    opened = [violation(f"VNB{i:02d}X") for i in range(10)]
    later = [
        violation(f"VNB{i:02d}X", seen_at=SEEN + timedelta(hours=1), first=False) for i in range(10)
    ]
    unknown = violation("ZZ999Z", decision="undetermined", sanction="none")
    early_evidence = [evidence_for(r.passage_id) for r in opened[:5]]
    late_evidence = [evidence_for(r.passage_id, "plate_crop") for r in opened]
    producer = KafkaProducer(bootstrap_servers=topics.broker, acks="all")
    for item in early_evidence:
        producer.send(topics.evidence_topic, key=item.passage_id.bytes, value=encode_evidence(item))
    for record in [*opened, *later, unknown]:
        producer.send(
            topics.violations_topic, key=record.case_key.encode(), value=encode_violation(record)
        )
    for junk in (b"", b"{not json", b'{"schema": 1}'):
        producer.send(topics.violations_topic, key=b"junk", value=junk)
    for item in late_evidence:
        producer.send(topics.evidence_topic, key=item.passage_id.bytes, value=encode_evidence(item))
    producer.flush(30)
    producer.close()

    totals = _run(case_db, topics, expect=21 + 15)
    assert totals.new_cases == 11 and totals.sightings == 21
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 11
        assert session.scalar(select(func.count()).select_from(Sighting)) == 21
        counts = dict(session.execute(select(Case.plate, Case.sightings_count)).all())
        assert counts["VNB03X"] == 2 and counts["ZZ999Z"] == 1
        flagged = session.scalars(select(Case).where(Case.needs_identification)).all()
        assert [c.plate for c in flagged] == ["ZZ999Z"]
        # Early evidence waited for its violation; nothing is left pending.
        pending = session.scalar(
            select(func.count()).select_from(EvidenceItem).where(EvidenceItem.pending)
        )
        assert pending == 0
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == 15

    letters = KafkaConsumer(
        topics.dead_letter_topic, bootstrap_servers=topics.broker,
        auto_offset_reset="earliest", consumer_timeout_ms=3000,
    )  # fmt: skip
    dead = [decode_dead_letter(m.value) for m in letters]
    letters.close()
    assert len(dead) == 3
    assert all(d.source_topic == topics.violations_topic and d.error for d in dead)

    # Re-delivery: a new group reads everything again; nothing changes.
    again = topics.model_copy(update={"intake_group": topics.intake_group + "-again"})
    totals = _run(case_db, again, expect=21 + 15)
    assert (totals.new_cases, totals.sightings, totals.duplicates) == (0, 0, 21)
    assert totals.evidence_duplicates == 15
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Sighting)) == 21
