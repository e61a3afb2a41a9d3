"""Evidence signatures, pure: what they bind, how keys are written, what a check says."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from enforcement.evidence_signing import sign, signed_message, verify
from enforcement.keys import KeyFormatError, decode_key

KEY = secrets.token_bytes(32)
AT = datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)
FIELDS: dict[str, Any] = {
    "site_id": "site-1",
    "camera_id": "cam-1",
    "passage_id": uuid.UUID(int=7),
    "kind": "overview",
    "captured_at": AT,
    "sha256": "a" * 64,
}
SIGNATURE = sign(KEY, signed_message(**FIELDS))


def check(keys: dict[str, bytes], signature: str | None = SIGNATURE, **changes: Any) -> str:
    return verify(keys=keys, signature=signature, **{**FIELDS, **changes})


def test_signing_keys_are_read_by_the_one_key_decoder() -> None:
    """A key file's text: hex or base64 of at least 32 bytes (enforcement.keys.decode_key)."""
    assert decode_key(KEY.hex()) == KEY
    assert decode_key(base64.b64encode(KEY).decode() + "\n") == KEY
    with pytest.raises(KeyFormatError, match="fewer than 32"):
        decode_key(secrets.token_hex(16))
    with pytest.raises(KeyFormatError, match="hex nor base64"):
        decode_key("not a key!")


def test_the_old_module_name_still_imports_the_same_functions() -> None:
    """`enforcement.evidence_seal` is kept for code written against it in parallel."""
    from enforcement import evidence_seal, evidence_signing, keys

    assert evidence_seal.seal_evidence is evidence_signing.sign_evidence
    assert evidence_seal.check_evidence is evidence_signing.verify_evidence
    assert evidence_seal.check_seal is evidence_signing.verify
    assert evidence_seal.seal_message is evidence_signing.signed_message
    assert evidence_seal.parse_key is keys.decode_key
    assert evidence_seal.SealKeyError is keys.KeyFormatError


def test_the_signature_binds_image_passage_camera_site_kind_and_instant() -> None:
    keys = {"site-1": KEY}
    assert check(keys) == "valid"
    # The same instant written in another time zone is the same instant.
    assert check(keys, captured_at=AT.astimezone(timezone(timedelta(hours=1)))) == "valid"
    changes: list[dict[str, Any]] = [
        {"camera_id": "cam-2"},
        {"passage_id": uuid.UUID(int=8)},
        {"kind": "plate_crop"},
        {"sha256": "b" * 64},
        {"captured_at": AT + timedelta(microseconds=1)},
    ]
    for change in changes:
        assert check(keys, **change) == "invalid", change
    assert check({"site-2": KEY}, site_id="site-2") == "invalid"
    assert check({"site-1": secrets.token_bytes(32)}) == "invalid"


def test_what_cannot_be_checked_says_why() -> None:
    assert check({}, signature=None) == "unchecked"
    assert check({"site-1": KEY}, signature=None) == "unsigned"
    assert check({"site-1": KEY}, camera_id=None) == "unsigned"
    assert check({"site-9": KEY}) == "no_key"


def test_records_of_edges_from_before_signing_still_decode() -> None:
    import hashlib

    import msgspec

    from enforcement.records import decode_evidence, decode_passage

    data = b"jpeg bytes"
    old_evidence = msgspec.msgpack.encode({
        "schema": 1, "passage_id": str(uuid.UUID(int=7)), "kind": "overview",
        "sha256": hashlib.sha256(data).hexdigest(), "content_type": "image/jpeg",
        "captured_at": AT, "data": data,
    })  # fmt: skip
    evidence = decode_evidence(old_evidence)
    assert (evidence.site_id, evidence.camera_id, evidence.signature) == (None, None, None)
    assert evidence.time_sync is None
    old_passage = msgspec.json.encode({
        "schema": 1, "passage_id": str(uuid.UUID(int=7)), "site_id": "site-1",
        "camera_id": "cam-1", "zone_id": "utrecht", "direction": "entering", "plate": "AB12CD",
        "plate_raw": "AB12CD", "confidence": 0.9, "seen_at": AT.isoformat(),
    })  # fmt: skip
    assert decode_passage(old_passage).time_sync is None


def test_a_signature_made_before_the_rename_still_verifies() -> None:
    """The signed bytes did not change with the names: stored signatures stay `valid`.
    (The hex was made by `enforcement.evidence_seal` at 8645ed4.)"""
    before = "83850652940f1edf4b0233fb4fee0e25d29232c169ec8d705c99283bac69b94d"
    assert check({"site-1": bytes(range(32))}, signature=before) == "valid"
