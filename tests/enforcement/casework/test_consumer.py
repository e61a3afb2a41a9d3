"""The intake process against the real Tansu broker into SQLite and PostgreSQL:
re-delivery changes nothing, sightings attach, undetermined cases need identification,
malformed records are dead-lettered and the rest still lands."""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import timedelta

import msgspec
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from sqlalchemy import func, select

from enforcement.casework.consumer import IntakeConsumer
from enforcement.casework.intake import IntakeCounts
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.models import Case, EvidenceItem, Sighting
from enforcement.casework.settings import CaseSettings
from enforcement.records import (
    DeadLetter,
    decode_dead_letter,
    encode_evidence,
    encode_violation,
)
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


def _dead_letters(cases: CaseSettings) -> list[DeadLetter]:
    letters = KafkaConsumer(
        cases.dead_letter_topic, bootstrap_servers=cases.broker,
        auto_offset_reset="earliest", consumer_timeout_ms=3000,
    )  # fmt: skip
    try:
        return [decode_dead_letter(m.value) for m in letters]
    finally:
        letters.close()


def test_a_record_the_database_cannot_store_is_dead_lettered_alone(
    case_db: CaseDB, topics: CaseSettings
) -> None:
    """The crash loop of the issue: a violation with a naive `seen_at` was decoded, then
    refused by the database while binding, and the intake died before committing, at every
    restart. Now it is dead-lettered and the rest of the batch lands. On PostgreSQL a value
    the decoder cannot see as wrong (a NUL character) is refused by the database itself:
    the batch is then applied record by record, and only that one is dead-lettered."""
    good = [violation(f"VNB{i:02d}X") for i in range(6)]
    naive = violation("VNC44K", seen_at=SEEN.replace(tzinfo=None))
    bad = [naive]
    if case_db.url.startswith("postgresql"):
        bad.append(msgspec.structs.replace(violation("VNB99Z"), plate_raw="VNB\x0099Z"))
    producer = KafkaProducer(bootstrap_servers=topics.broker, acks="all")
    for record in [*good[:3], *bad, *good[3:]]:  # the bad ones in the middle of one batch
        producer.send(topics.violations_topic, key=b"k", value=encode_violation(record))
    producer.flush(30)
    producer.close()

    totals = _run(case_db, topics, expect=len(good))
    assert totals.new_cases == len(good)
    dead = _dead_letters(topics)
    assert len(dead) == len(bad)
    errors = sorted(d.error for d in dead)
    assert "seen_at must carry a UTC offset" in errors[-1]
    if len(bad) == 2:
        assert errors[0].startswith("DataError") and "VNB" not in errors[0]  # no plate in it
    with case_db.sessions() as session:
        plates = set(session.scalars(select(Case.plate)))
    assert plates == {r.plate for r in good}


def test_an_oversized_dead_letter_carries_a_reference(
    sqlite_db: CaseDB, topics: CaseSettings
) -> None:
    """An ~800 KB malformed evidence record: its dead letter with the payload (base64 in
    JSON) would pass Kafka's 1 MiB limit, and `send` raised, crash-looping the intake."""
    image = bytes(range(256)) * 3200  # 800 KB
    malformed = msgspec.structs.replace(evidence_for(uuid.uuid4(), data=image), sha256="0" * 64)
    fine = evidence_for(uuid.uuid4())
    producer = KafkaProducer(bootstrap_servers=topics.broker, acks="all", max_request_size=2 << 20)
    sent = producer.send(topics.evidence_topic, key=b"k", value=encode_evidence(malformed))
    metadata = sent.get(30)
    producer.send(topics.evidence_topic, key=b"k", value=encode_evidence(fine))
    producer.flush(30)
    producer.close()

    totals = _run(sqlite_db, topics, expect=1)
    assert totals.evidence_pending == 1
    (letter,) = _dead_letters(topics)
    raw = encode_evidence(malformed)
    assert letter.payload == b"" and letter.payload_size == len(raw)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset) == (
        topics.evidence_topic, metadata.partition, metadata.offset,
    )  # fmt: skip
    assert "sha256 does not match" in letter.error


def test_a_record_whose_case_key_is_not_its_own_is_dead_lettered(
    case_db: CaseDB, topics: CaseSettings
) -> None:
    """Issue 23: an Amsterdam violation carrying the Utrecht case's key joined that case and
    its image became visible to Utrecht officers. Now it is dead-lettered, its image stays
    held (and is purged with the other unclaimed evidence), the Utrecht case is untouched."""
    utrecht = violation("VNB12X", "utrecht")
    forged = msgspec.structs.replace(violation("VNB12X", "amsterdam"), case_key=utrecht.case_key)
    image = evidence_for(forged.passage_id)
    producer = KafkaProducer(bootstrap_servers=topics.broker, acks="all")
    producer.send(topics.violations_topic, key=b"k", value=encode_violation(utrecht)).get(30)
    for record in (forged, violation("VNB99Z", "amsterdam")):
        producer.send(topics.violations_topic, key=b"k", value=encode_violation(record))
    producer.send(topics.evidence_topic, key=b"e", value=encode_evidence(image))
    producer.flush(30)
    producer.close()

    totals = _run(case_db, topics, expect=3)
    assert (totals.new_cases, totals.sightings, totals.evidence_pending) == (2, 2, 1)
    (letter,) = _dead_letters(topics)
    assert letter.error.startswith("case key refused") and "VNB12X" not in letter.error
    assert letter.payload == encode_violation(forged)
    with case_db.sessions() as session:
        case = session.scalars(select(Case).where(Case.zone_id == "utrecht")).one()
        assert case.sightings_count == 1
        held = session.scalars(select(EvidenceItem)).one()
        assert held.pending  # never attached to a case, so no officer sees it
