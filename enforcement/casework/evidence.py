"""Evidence images at rest: content-addressed by SHA-256, encrypted with AES-256-GCM.

The SHA-256 of the plaintext is the blob's key and the cipher's associated data, so a blob
cannot be swapped for another one, and every read checks the image against its hash.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework.db import insert_new
from enforcement.casework.models import EvidenceBlob

_NONCE = 12


class EvidenceIntegrityError(Exception):
    """A stored image does not decrypt or does not match its SHA-256: never show it."""


@dataclass(frozen=True, slots=True)
class Image:
    sha256: str
    content_type: str
    data: bytes


class EvidenceVault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("evidence key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, sha256: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, sha256.encode())

    def decrypt(self, sha256: str, ciphertext: bytes) -> bytes:
        try:
            data = self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], sha256.encode())
        except InvalidTag:
            raise EvidenceIntegrityError(f"evidence {sha256[:12]}… does not decrypt") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceIntegrityError(f"evidence {sha256[:12]}… does not match its hash")
        return data

    def store(
        self, session: Session, sha256: str, data: bytes, content_type: str, at: datetime
    ) -> None:
        """Store an image once (a second store of the same hash changes nothing)."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceIntegrityError(f"evidence {sha256[:12]}… does not match its hash")
        values = {
            "sha256": sha256,
            "size": len(data),
            "content_type": content_type,
            "sealed": self.encrypt(sha256, data),  # the column of `EvidenceBlob.ciphertext`
            "stored_at": at,
        }
        insert_new(session, EvidenceBlob, [values], "sha256")

    def load(self, session: Session, sha256: str) -> Image | None:
        blob = session.scalar(select(EvidenceBlob).where(EvidenceBlob.sha256 == sha256))
        if blob is None:
            return None
        return Image(sha256, blob.content_type, self.decrypt(sha256, blob.ciphertext))
