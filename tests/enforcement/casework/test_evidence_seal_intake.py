"""Intake verifies each image's seal under its site's key: a mismatch flags the case (on
SQLite and PostgreSQL), whether the image comes before or after its violation; nothing is
dropped."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import msgspec
from sqlalchemy import select

from enforcement.casework.intake import CaseIntake
from enforcement.casework.models import Case, EvidenceItem
from enforcement.evidence_signing import sign_evidence
from enforcement.records import Evidence
from tests.enforcement.casework.conftest import CaseDB, evidence_for, violation

KEY = secrets.token_bytes(32)


def intake(db: CaseDB, keys: dict[str, bytes] | None = None) -> CaseIntake:
    return CaseIntake(db.sessions, db.vault, grace=timedelta(0), seal_keys=keys or {"site-1": KEY})


def sealed(passage_id: uuid.UUID, kind: str = "overview", key: bytes = KEY) -> Evidence:
    item = msgspec.structs.replace(evidence_for(passage_id, kind), site_id="site-1",
                                   camera_id="cam-1", time_sync="synchronized")  # fmt: skip
    return msgspec.structs.replace(item, signature=sign_evidence(key, item))


def state(db: CaseDB) -> tuple[dict[str, str | None], dict[tuple[str, str], str | None]]:
    with db.sessions() as session:
        cases = dict(session.execute(select(Case.plate, Case.evidence_seal)).all())
        items = {
            (pid, kind): seal
            for pid, kind, seal in session.execute(
                select(EvidenceItem.passage_id, EvidenceItem.kind, EvidenceItem.seal)
            )
        }
    return cases, items


def test_valid_seals_leave_the_case_unflagged(case_db: CaseDB) -> None:
    pid = uuid.uuid4()
    got = intake(case_db).apply([violation("AB12CD", passage_id=pid)], [sealed(pid)])
    assert got.new_cases == 1 and got.evidence_stored == 1
    cases, items = state(case_db)
    assert cases == {"AB12CD": None}
    assert items == {(str(pid), "overview"): "valid"}


def test_a_tampered_image_flags_its_case_and_is_kept(case_db: CaseDB) -> None:
    early, late = uuid.uuid4(), uuid.uuid4()
    run = intake(case_db)
    # Evidence before its violation (held), with an image swapped after signing.
    swapped = msgspec.structs.replace(sealed(early), camera_id="cam-9")
    assert run.apply(evidence=[swapped]).evidence_pending == 1
    run.apply([violation("AB12CD", passage_id=early), violation("XY99ZZ", passage_id=late)])
    # Evidence after its violation, signed with another key.
    run.apply(evidence=[sealed(late, key=secrets.token_bytes(32)), sealed(late, "plate_crop")])
    cases, items = state(case_db)
    assert cases == {"AB12CD": "invalid", "XY99ZZ": "invalid"}
    assert items[(str(early), "overview")] == "invalid"
    assert items[(str(late), "overview")] == "invalid"
    assert items[(str(late), "plate_crop")] == "valid"
    assert len(items) == 3  # nothing dropped


def test_unsigned_or_unknown_site_evidence_is_flagged_old_records_still_decode(
    case_db: CaseDB,
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    run = intake(case_db)
    other_site = msgspec.structs.replace(sealed(b), site_id="site-2")
    run.apply([violation("AB12CD", passage_id=a), violation("XY99ZZ", passage_id=b)],
              [evidence_for(a), other_site])  # fmt: skip
    cases, items = state(case_db)
    assert cases == {"AB12CD": "unsigned", "XY99ZZ": "no_key"}
    assert set(items.values()) == {"unsigned", "no_key"}
    # An invalid image later is the stronger flag and is never softened afterwards.
    run.apply(evidence=[msgspec.structs.replace(sealed(a, "plate_crop"), signature="0" * 64)])
    run.apply(evidence=[evidence_for(a, "overview")])  # a repeat: unsigned again
    assert state(case_db)[0]["AB12CD"] == "invalid"


def test_without_keys_nothing_is_checked_or_flagged(case_db: CaseDB) -> None:
    pid = uuid.uuid4()
    CaseIntake(case_db.sessions, case_db.vault, grace=timedelta(0)).apply(
        [violation("AB12CD", passage_id=pid)], [evidence_for(pid)]
    )
    cases, items = state(case_db)
    assert cases == {"AB12CD": None}
    assert items == {(str(pid), "overview"): "unchecked"}
