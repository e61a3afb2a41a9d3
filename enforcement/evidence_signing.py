"""Evidence signatures: HMAC-SHA256 under a per-site key over an evidence image's identity.

The edge signs (`sign_evidence`), the case intake verifies (`verify_evidence`). What is signed
is the image's SHA-256 *and* what makes it evidence of one passage (site, camera, passage,
kind, capture instant), so an image cannot be moved to another passage, camera or time
without breaking the signature. Pure: no I/O, the keys come in as bytes (written as text,
they are read by `enforcement.keys.decode_key`, the one set of key rules).

(This module was `enforcement.evidence_seal`: "seal" meant sign here and encrypt in
casework; the old module re-exports these names under their old ones for a while.)

Outcomes of `verify`:
- `valid`: signed under the site's key, nothing changed;
- `invalid`: the signature does not match (image, metadata or key differ);
- `unsigned`: keys are configured but the record carries no signature (or names no site or
  camera): a signing edge never sends that;
- `no_key`: keys are configured, but none for the record's site: nothing can vouch for it;
- `unchecked`: no keys are configured at all (development), nothing to check against.
A case whose evidence is `invalid`, `unsigned` or `no_key` is flagged for the reviewer, never
dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from enforcement.records import Evidence

SignatureCheck = Literal["valid", "invalid", "unsigned", "no_key", "unchecked"]
FLAGGED: frozenset[str] = frozenset({"invalid", "unsigned", "no_key"})
#: The first line of every signed message. Its text is part of every signature ever made:
#: renaming it would make every stored signature `invalid`.
_MESSAGE_VERSION = "zes-evidence-seal-v1"


def signed_message(
    *,
    site_id: str,
    camera_id: str,
    passage_id: uuid.UUID,
    kind: str,
    captured_at: datetime,
    sha256: str,
) -> bytes:
    """The signed bytes: one field per line, the instant in UTC with microseconds."""
    at = captured_at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = (_MESSAGE_VERSION, site_id, camera_id, str(passage_id), kind, at, sha256)
    return "\n".join(fields).encode()


def sign(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(
    *,
    keys: Mapping[str, bytes],
    site_id: str | None,
    camera_id: str | None,
    passage_id: uuid.UUID,
    kind: str,
    captured_at: datetime,
    sha256: str,
    signature: str | None,
) -> SignatureCheck:
    """Verify one evidence record's signature against the per-site keys (see module doc)."""
    if not keys:
        return "unchecked"
    if site_id is None or camera_id is None or signature is None:
        return "unsigned"
    key = keys.get(site_id)
    if key is None:
        return "no_key"
    message = signed_message(
        site_id=site_id, camera_id=camera_id, passage_id=passage_id, kind=kind,
        captured_at=captured_at, sha256=sha256,
    )  # fmt: skip
    return "valid" if hmac.compare_digest(sign(key, message), signature) else "invalid"


def _message_of(evidence: Evidence, site_id: str, camera_id: str) -> bytes:
    return signed_message(
        site_id=site_id, camera_id=camera_id, passage_id=evidence.passage_id,
        kind=evidence.kind, captured_at=evidence.captured_at, sha256=evidence.sha256,
    )  # fmt: skip


def sign_evidence(key: bytes, evidence: Evidence) -> str:
    """The signature of an evidence record that names its site and camera."""
    if evidence.site_id is None or evidence.camera_id is None:
        raise ValueError("evidence is signed with its site_id and camera_id set")
    return sign(key, _message_of(evidence, evidence.site_id, evidence.camera_id))


def verify_evidence(evidence: Evidence, keys: Mapping[str, bytes]) -> SignatureCheck:
    """`verify` for a decoded evidence record."""
    return verify(
        keys=keys, site_id=evidence.site_id, camera_id=evidence.camera_id,
        passage_id=evidence.passage_id, kind=evidence.kind, captured_at=evidence.captured_at,
        sha256=evidence.sha256, signature=evidence.signature,
    )  # fmt: skip
