"""The desk with real parts: the case database (SQLite and PostgreSQL) and Redis."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from enforcement.casework import review
from enforcement.casework.accounts import add_user
from enforcement.casework.models import (
    ApplicationStatus,
    AuditEntry,
    Case,
    CaseStatus,
    ExemptionApplication,
    User,
)
from enforcement.casework.recheck import Rechecker
from enforcement.exemptions import desk as service
from enforcement.exemptions.desk import Desk, DeskError
from enforcement.exemptions.export import to_csv, write_csv
from enforcement.exemptions.grants import SOURCE_NOTE
from enforcement.model import LOCAL_TZ, ExemptionStatus
from enforcement.platecheck import check_plate
from enforcement.register.exemption_files import read_exemptions
from enforcement.register.redis import RedisRegister
from enforcement.register.report import LoadReport
from enforcement.settings import Settings, load_law
from enforcement.zones import ZoneCatalog
from tests.enforcement.casework.conftest import CaseDB, violation
from tests.enforcement.exemptions.conftest import NOW, SECRET, TODAY

pytestmark = [pytest.mark.redis]


def apply(
    db: CaseDB, desk: Desk, plate: str, kind: str, first: date, last: date | None = None,
    *, municipality: str = "amsterdam", trips: int | None = None,
) -> ExemptionApplication:  # fmt: skip
    policy = desk.policy(municipality)
    assert policy is not None
    with db.sessions.begin() as session:
        row = service.submit(
            session, desk, policy, plate_text=plate, type_key=kind, first_day=first,
            last_day=last or first, reason="", trips_per_year=trips, now=NOW,
        )  # fmt: skip
        session.flush()
        session.expunge(row)
    return row


def officer(db: CaseDB, name: str, *municipalities: str) -> User:
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    with db.sessions.begin() as session:
        user = add_user(
            session, name, "correct horse battery staple", "permits", actor="test",
            municipalities=municipalities, zones=zones,
        )  # fmt: skip
        session.expunge(user)
    return user


def test_an_application_is_refused_automatically_with_its_sentence(
    case_db: CaseDB, desk: Desk
) -> None:
    row = apply(case_db, desk, "vnb-44-x", "dagontheffing", TODAY)
    assert (row.status, row.code, row.decided_by) == ("refused", "below_min_class", "policy")
    assert row.plate == "VNB44X" and row.fee_cents is None
    with case_db.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        actions = [e.action for e in entries]
        assert actions[-2:] == ["desk_apply", "desk_refuse"]
        # The plate is in the audit log only as a keyed digest.
        assert all("VNB44X" not in str(e.detail) for e in entries)
        rows = service.tallies(session, frozenset({"Amsterdam"}))
    assert [(t.type_key, t.received, t.refused, t.automatic) for t in rows] == [
        ("dagontheffing", 1, 1, 1)
    ]


def test_a_day_permit_granted_at_once_is_honoured_by_the_plate_check(
    case_db: CaseDB, desk: Desk, register: RedisRegister
) -> None:
    zones = [z for z in desk.zones if z.id == "amsterdam"]
    at = NOW.astimezone(LOCAL_TZ) + timedelta(hours=2)
    before = check_plate("VNB55X", zones, register, at=at, today=TODAY)
    assert before.zones[0].outcome == "violation"
    row = apply(case_db, desk, "VNB55X", "dagontheffing", TODAY)
    assert (row.status, row.code, row.fee_cents) == ("granted", "policy_grant", 3000)
    (held,) = register.exemptions(["VNB55X"])["VNB55X"]
    # Marked with its source: the desk's reference and note.
    assert held.reference == f"desk/amsterdam/{row.id}" and held.note == SOURCE_NOTE
    assert held.scope == "Amsterdam" and held.status is ExemptionStatus.GRANTED
    after = check_plate("VNB55X", zones, register, at=at, today=TODAY)
    assert after.zones[0].outcome == "allowed"
    # The R22 window runs on to 06:00 the next day, and no further (asked on that day: the
    # public check takes a day permit into account for today only, issue 23).
    tomorrow = TODAY + timedelta(days=1)
    late = check_plate(
        "VNB55X", zones, register, at=at.replace(hour=5) + timedelta(days=1), today=tomorrow
    )
    assert late.zones[0].outcome == "allowed"
    next_day = check_plate("VNB55X", zones, register, at=at + timedelta(days=1), today=tomorrow)
    assert next_day.zones[0].outcome == "violation"


def test_the_thirteenth_day_permit_counts_the_registers_grants(
    case_db: CaseDB, desk: Desk, register: RedisRegister
) -> None:
    from enforcement.model import Exemption

    register.add_exemptions(
        Exemption.day_permit("VNB55X", "Amsterdam", date(2027, 1, 4) + timedelta(days=i))
        for i in range(12)
    )
    row = apply(case_db, desk, "VNB55X", "dagontheffing", TODAY)
    assert (row.status, row.code) == ("refused", "year_limit")


def test_four_eyes_needs_a_second_officer(
    case_db: CaseDB, desk: Desk, register: RedisRegister
) -> None:
    last = TODAY + timedelta(days=200)
    row = apply(case_db, desk, "VNB44X", "markthandel", TODAY, last, trips=52)
    assert (row.status, row.code, row.policy_code) == ("review", None, "officer_review")
    anna, bram = officer(case_db, "anna", "Amsterdam"), officer(case_db, "bram", "Amsterdam")
    with case_db.sessions.begin() as session:
        held = session.get(ExemptionApplication, row.id)
        assert held is not None
        service.decide(session, desk, held, anna, action="grant", code="", note="", now=NOW)
        assert held.status == ApplicationStatus.APPROVING
        with pytest.raises(DeskError) as same:
            service.decide(session, desk, held, anna, action="grant", code="", note="", now=NOW)
        assert same.value.key == "four_eyes"
        assert register.exemptions(["VNB44X"]) == {}
        service.decide(session, desk, held, bram, action="grant", code="", note="", now=NOW)
        assert held.status == ApplicationStatus.GRANTED and held.fee_cents == 7500
    (grant,) = register.exemptions(["VNB44X"])["VNB44X"]
    assert (grant.type, grant.starts_at, grant.ends_before) == (
        "markthandel",
        NOW.astimezone(LOCAL_TZ).replace(hour=0, minute=0),
        (NOW.astimezone(LOCAL_TZ) + timedelta(days=201)).replace(hour=0, minute=0),
    )


def test_an_officer_refuses_with_a_reason_code(case_db: CaseDB, desk: Desk) -> None:
    row = apply(case_db, desk, "VNB44X", "dierenambulance", TODAY, TODAY + timedelta(days=30))
    anna = officer(case_db, "anna", "Amsterdam")
    with case_db.sessions.begin() as session:
        held = session.get(ExemptionApplication, row.id)
        assert held is not None
        with pytest.raises(DeskError):
            service.decide(session, desk, held, anna, action="refuse", code="nope", note="",
                           now=NOW)  # fmt: skip
        service.decide(session, desk, held, anna, action="refuse", code="evidence_missing",
                       note="Geen inschrijving ontvangen.", now=NOW)  # fmt: skip
        assert (held.status, held.code) == ("refused", "officer_evidence_missing")
        with pytest.raises(DeskError) as again:
            service.decide(session, desk, held, anna, action="grant", code="", note="", now=NOW)
        assert again.value.key == "decided"


def test_an_open_case_is_closed_by_the_grant_on_recheck(
    case_db: CaseDB, desk: Desk, register: RedisRegister
) -> None:
    seen = NOW + timedelta(minutes=30)
    case_db.intake().apply([violation("VNB55X", "amsterdam", seen_at=seen)])
    rechecker = Rechecker(register, ZoneCatalog(desk.zones))
    with case_db.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert not review.recheck_exemptions(session, case, rechecker, NOW, actor="t").covered
    assert apply(case_db, desk, "VNB55X", "dagontheffing", TODAY).status == "granted"
    with case_db.sessions.begin() as session:
        case = session.scalars(select(Case)).one()
        assert review.recheck_exemptions(session, case, rechecker, NOW, actor="t").covered
        assert case.status == CaseStatus.CLOSED and case.close_reason == "covered_later"


def test_export_then_load_round_trips(
    case_db: CaseDB, desk: Desk, register: RedisRegister, redis_client: redis.Redis,
    redis_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    apply(case_db, desk, "VNB55X", "dagontheffing", TODAY)
    markt = apply(case_db, desk, "VNB44X", "markthandel", TODAY, TODAY + timedelta(days=90),
                  trips=20)  # fmt: skip
    anna, bram = officer(case_db, "anna", "Amsterdam"), officer(case_db, "bram", "Amsterdam")
    with case_db.sessions.begin() as session:
        pending = session.get(ExemptionApplication, markt.id)
        assert pending is not None
        for who in (anna, bram):
            service.decide(session, desk, pending, who, action="grant", code="", note="", now=NOW)
    policy = desk.policy("amsterdam")
    assert policy is not None
    with case_db.sessions() as session:
        grants = service.granted(session, policy)
    path = tmp_path / "amsterdam.csv"
    assert write_csv(path, grants) == 2
    first = path.read_bytes()
    write_csv(path, grants)
    assert path.read_bytes() == first  # idempotent: the same grants, the same file
    report = LoadReport()
    loaded = list(read_exemptions(path, report=report))
    assert (report.loaded, report.skipped) == (2, 0)
    assert sorted(loaded, key=lambda e: e.reference) == sorted(grants, key=lambda e: e.reference)
    # Into another region's register, twice: the same records, once.
    region = f"{redis_prefix}-region"
    other = RedisRegister(redis_client, region, secret=SECRET)
    try:
        other.add_exemptions(loaded)
        other.add_exemptions(read_exemptions(path, report=LoadReport()))
        held = other.exemptions(["VNB55X", "VNB44X"])
    finally:
        for key in list(redis_client.scan_iter(match=f"{{{region}:*")):
            redis_client.unlink(key)
    mine = register.exemptions(["VNB55X", "VNB44X"])
    assert held == mine
    assert to_csv(e for v in held.values() for e in v) == first.decode()


def test_purge_keeps_the_counts(case_db: CaseDB, desk: Desk) -> None:
    refused = apply(case_db, desk, "VNB44X", "dagontheffing", TODAY)
    granted = apply(case_db, desk, "VNB55X", "dagontheffing", TODAY)
    assert refused.purge_after == TODAY + timedelta(days=30)
    assert granted.purge_after == TODAY + timedelta(days=30)
    with case_db.sessions.begin() as session:
        assert service.purge(session, TODAY + timedelta(days=30), actor="t").applications == 0
    with case_db.sessions.begin() as session:
        assert service.purge(session, TODAY + timedelta(days=31), actor="t").applications == 2
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ExemptionApplication)) == 0
        (tally,) = service.tallies(session, None)
    assert (tally.received, tally.granted, tally.refused, tally.automatic) == (2, 1, 1, 2)


def test_a_form_that_cannot_be_taken_is_refused_with_its_key(case_db: CaseDB, desk: Desk) -> None:
    policy = desk.policy("amsterdam")
    assert policy is not None
    for plate, kind, first, last, key in (
        ("???", "dagontheffing", TODAY, TODAY, "plate"),
        ("VNB55X", "parkeren", TODAY, TODAY, "type"),
        ("VNB55X", "dagontheffing", TODAY, TODAY - timedelta(days=1), "period"),
    ):
        with case_db.sessions.begin() as session, pytest.raises(DeskError) as caught:
            service.submit(session, desk, policy, plate_text=plate, type_key=kind,
                           first_day=first, last_day=last, reason="", trips_per_year=None,
                           now=NOW)  # fmt: skip
        assert caught.value.key == key
