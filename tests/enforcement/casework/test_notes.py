"""Officers' notes on SQLite and PostgreSQL (issue 21 item 5): stored encrypted with the case,
read back only for that case, audited by keyed digest only, and deleted with the case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from enforcement.casework import audit, notes, review
from enforcement.casework.accounts import add_user
from enforcement.casework.models import AuditEntry, Case, CaseNote
from enforcement.casework.notes import NoteCipher
from enforcement.casework.purge import purge
from enforcement.casework.review import QueueFilter
from tests.enforcement.casework.conftest import KEY, SEEN, CaseDB, violation

NOTE = "Bel Jan de Vries, 06-12345678, hij reed de bus die dag"
NOW = SEEN + timedelta(days=2)


def _audit_text(db: CaseDB) -> str:
    with db.sessions() as session:
        return json.dumps(
            [[e.action, e.detail] for e in session.scalars(select(AuditEntry))], ensure_ascii=False
        )


def test_an_escalation_note_is_encrypted_shown_for_its_case_and_gone_after_purge(
    case_db: CaseDB,
) -> None:
    """The probe of issue 21: a note with a name and a phone number was written in clear
    into the append-only audit log and survived the case's purge."""
    cipher = NoteCipher(KEY)
    case_db.intake().apply([violation("VNB12X"), violation("VNC44K")])
    with case_db.sessions.begin() as session:
        anna = add_user(session, "anna", "correct horse battery", "reviewer", actor="test")
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.escalate(session, case, anna, NOW, NOTE, cipher=cipher)
        case_id = case.id
    with case_db.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        [shown] = notes.notes_of(session, cipher, case)
        assert (shown.kind, shown.author, shown.text) == ("escalate", "anna", NOTE)
        row = session.scalars(select(CaseNote)).one()
        assert NOTE.encode() not in row.ciphertext and b"06-12345678" not in row.ciphertext
        other = session.scalars(select(Case).where(Case.id != case_id)).one()
        assert cipher.decrypt(row.ciphertext, other.id) is None  # bound to its case
        assert NoteCipher(bytes(32)).decrypt(row.ciphertext, case_id) is None
        digest = audit.digest(session, NOTE)
        assert audit.verify(session).ok
    # The audit log says a note was written, with its keyed digest; never the text.
    text = _audit_text(case_db)
    assert "06-12345678" not in text and "Jan de Vries" not in text
    assert digest in text and '"noted": true' in text

    # Retention removes the case and its notes with it.
    with case_db.sessions.begin() as session:
        session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(status="rejected", reject_reason="misread", closed_at=NOW - timedelta(days=60))
        )
    with case_db.sessions.begin() as session:
        result = purge(
            session, datetime.now(UTC), retention_days=28, hold_hours=6.0, failed_login_days=7,
            actor="purge",
        )  # fmt: skip
        assert result.cases == 1
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseNote)) == 0
        assert audit.verify(session).ok
    assert "06-12345678" not in _audit_text(case_db)


def test_a_note_is_never_stored_in_clear(case_db: CaseDB) -> None:
    """The old clear-text path is gone: without the cipher a note is refused, not written."""
    case_db.intake().apply([violation("VNB12X")])
    with case_db.sessions.begin() as session:
        anna = add_user(session, "anna", "correct horse battery", "reviewer", actor="test")
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        with pytest.raises(ValueError, match="encrypted"):
            review.escalate(session, case, anna, NOW, NOTE)
        session.rollback()
    with case_db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.reject(session, case, anna, NOW, "other", NOTE, cipher=NoteCipher(KEY))
        assert case.reject_text is None  # the explanation is a note now
    assert "06-12345678" not in _audit_text(case_db)
    with case_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseNote)) == 1
