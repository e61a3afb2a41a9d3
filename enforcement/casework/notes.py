"""Officers' notes on a case: encrypted like evidence, shown with the case, deleted with it.

A note can hold anything an officer types (a name, a phone number), so it is personal data
under the case's retention: AES-256-GCM with a key derived from the evidence key and bound
to its case (a note copied onto another case does not decrypt), in `case_notes`, whose rows
go when their case goes (ON DELETE CASCADE). The audit log, kept for ever, records only
that a note was written and its keyed digest (`audit.digest`), never its text.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import Case, CaseNote

MAX_NOTE = 2000
"""Characters kept of a note."""
KINDS = frozenset({"escalate", "reject", "correct", "note"})


class NoteCipher:
    """AES-256-GCM for notes at rest; the key is derived from the evidence key (as the TOTP
    keys' is), so no new secret is needed and a database copy alone holds no note."""

    def __init__(self, root_key: bytes) -> None:
        self._aead = AESGCM(hmac.new(root_key, b"zes case note key v1", hashlib.sha256).digest())

    def encrypt(self, text: str, case_id: int) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, text.encode(), f"case:{case_id}".encode())

    def decrypt(self, ciphertext: bytes, case_id: int) -> str | None:
        """The text, or None when it does not decrypt (altered, or another case's)."""
        try:
            plain = self._aead.decrypt(ciphertext[:12], ciphertext[12:], f"case:{case_id}".encode())
        except (InvalidTag, ValueError):
            return None
        return plain.decode()


@dataclass(frozen=True, slots=True)
class Note:
    kind: str
    author: str
    written_at: datetime
    text: str | None
    """None when the stored note does not decrypt (shown as damaged, never guessed)."""


def write(
    session: Session,
    cipher: NoteCipher,
    case: Case,
    author: str,
    kind: str,
    text: str,
    now: datetime,
) -> bool:
    """Store a note on `case` (nothing for an empty text) and audit that it was written:
    its kind and keyed digest, never the text. True when a note was stored."""
    if kind not in KINDS:
        raise ValueError(f"unknown note kind {kind!r}")
    text = text.strip()[:MAX_NOTE]
    if not text:
        return False
    session.add(
        CaseNote(
            case_id=case.id,
            kind=kind,
            author=author,
            written_at=now,
            ciphertext=cipher.encrypt(text, case.id),
        )
    )
    audit.append(
        session,
        author,
        "note",
        case_id=case.id,
        detail={"kind": kind, "digest": audit.digest(session, text)},
        at=now,
    )
    return True


def notes_of(session: Session, cipher: NoteCipher, case: Case) -> list[Note]:
    """The case's notes, oldest first, decrypted."""
    rows = session.scalars(
        select(CaseNote)
        .where(CaseNote.case_id == case.id)
        .order_by(CaseNote.written_at, CaseNote.id)
    )
    return [
        Note(row.kind, row.author, row.written_at, cipher.decrypt(row.ciphertext, case.id))
        for row in rows
    ]
