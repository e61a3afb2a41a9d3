"""Deprecated: the old names of `enforcement.evidence_signing` ("seal" meant sign here, and
encrypt in casework). Kept only so that code written against them in parallel branches still
imports after a merge; nothing in this tree imports it. New code imports
`enforcement.evidence_signing` (and `enforcement.keys.decode_key` for key text). Remove this
module once no importer is left (`grep -rn evidence_seal --include=*.py`)."""

from __future__ import annotations

from enforcement.evidence_signing import FLAGGED, SignatureCheck, sign
from enforcement.evidence_signing import sign_evidence as seal_evidence
from enforcement.evidence_signing import signed_message as seal_message
from enforcement.evidence_signing import verify as check_seal
from enforcement.evidence_signing import verify_evidence as check_evidence
from enforcement.keys import MIN_KEY_BYTES
from enforcement.keys import KeyFormatError as SealKeyError
from enforcement.keys import decode_key as parse_key

SealCheck = SignatureCheck

__all__ = [
    "FLAGGED",
    "MIN_KEY_BYTES",
    "SealCheck",
    "SealKeyError",
    "check_evidence",
    "check_seal",
    "parse_key",
    "seal_evidence",
    "seal_message",
    "sign",
]
