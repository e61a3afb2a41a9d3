"""Keys: random bytes given as hex or base64, and the one start-up check every role runs.

A key is at least 32 random bytes written as hex (64 digits) or base64 (standard or URL-safe,
padding optional), e.g. `python -c "import secrets; print(secrets.token_hex(32))"`; every key
of every role is read by `decode_key`, whose docstring is the one set of rules. A
passphrase is not a key: text that decodes as neither is refused, and so is every published
development value, whatever address the process listens on. The check itself is
`enforcement.settings.require_keys`: `--dev` turns its refusal into a warning (for `zes up`
and tests on one machine); nothing else does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from pydantic import SecretStr

MIN_KEY_BYTES = 32
"""Shortest key accepted: 256 bits, so no hashed plate can be found by trying keys."""
MIN_DISTINCT_BYTES = 12
"""32 random bytes hold ~30 distinct values (fewer than 12: chance < 1e-9); `00…00` or a
repeated pattern holds a handful. Catches a placeholder, not a weak generator."""

DEV_HASH_SECRET = "zes-development-only-secret"
DEV_SESSION_SECRET = "zes-development-only-session-secret"
DEV_EVIDENCE_KEY = hashlib.sha256(b"zes-development-only-evidence-key").hexdigest()
DEV_AUDIT_KEY = hashlib.sha256(b"zes-development-only-audit-key").hexdigest()
#: Every value that was ever a published default (also the evidence key's old passphrase).
DEVELOPMENT_VALUES = frozenset(
    {
        DEV_HASH_SECRET,
        DEV_SESSION_SECRET,
        DEV_EVIDENCE_KEY,
        DEV_AUDIT_KEY,
        "zes-development-only-evidence-key",
    }
)

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
GENERATE = 'python -c "import secrets; print(secrets.token_hex(32))"'


class KeyFormatError(ValueError):
    """Text that is not a usable key; the message says why (never the value)."""


def decode_key(text: str) -> bytes:
    """The bytes of a key as written; `KeyFormatError` saying why for anything else.

    The one set of rules for every key of every role (the hash secret, the session secret,
    the evidence cipher and audit keys, the sites' evidence signing keys):

    - Whitespace: around the key it is ignored (a key file ends in a newline); inside it the
      text is refused: a passphrase has spaces, and a key of 32-64 bytes fits one line.
    - Alphabets: hex (64+ digits, either case), or base64 in the standard (`+/`) or the
      URL-safe (`-_`) alphabet, never the two mixed, with or without its `=` padding.
    - At least `MIN_KEY_BYTES` (32) bytes once decoded.
    - Refused patterns: letters only (a word or a run-together passphrase decodes as base64,
      but base64 of 32 random bytes is letters only with chance (52/64)^43 = 1.3e-4), and
      fewer than `MIN_DISTINCT_BYTES` distinct byte values (`00...00`, a repeated pattern).

    Published development values pass (they are random-looking hex); whether one may be used
    is the start-up check's question (`key_problem`), not the decoder's."""
    value = text.strip()
    key: bytes | None = None
    if _HEX.fullmatch(value):
        key = bytes.fromhex(value)
    elif _BASE64.fullmatch(value):
        padded = value + "=" * (-len(value) % 4)
        urlsafe = "-" in value or "_" in value
        alphabet = b"-_" if urlsafe else b"+/"
        if urlsafe and ("+" in value or "/" in value):
            raise KeyFormatError("it mixes the standard and the URL-safe base64 alphabets")
        try:
            key = base64.b64decode(padded, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None:
        raise KeyFormatError("it is neither hex nor base64 (a passphrase is not a key)")
    if value.rstrip("=").isalpha():
        raise KeyFormatError("it is letters only: a word or passphrase, not a random key")
    if len(key) < MIN_KEY_BYTES:
        raise KeyFormatError(f"it decodes to {len(key)} bytes, fewer than {MIN_KEY_BYTES}")
    if len(set(key)) < MIN_DISTINCT_BYTES:
        raise KeyFormatError("it is not random (a repeated pattern)")
    return key


@dataclass(frozen=True, slots=True)
class KeySetting:
    """One secret a role needs: the setting's environment name and its value."""

    name: str
    value: SecretStr
    exact_bytes: int | None = None
    """The cipher's key length where it has one (AES-256: 32)."""


def key_problem(setting: KeySetting) -> str | None:
    """Why `setting` is not a production key (naming the setting), or None."""
    text = setting.value.get_secret_value()
    if text.strip() in DEVELOPMENT_VALUES:
        return f"{setting.name} is a published development value"
    try:
        key = decode_key(text)
    except KeyFormatError as exc:
        return f"{setting.name}: {exc}"
    if setting.exact_bytes is not None and len(key) != setting.exact_bytes:
        return f"{setting.name} decodes to {len(key)} bytes, not {setting.exact_bytes}"
    return None


def key_bytes(setting: KeySetting) -> bytes:
    """The decoded key of a cipher (evidence, audit): `decode_key`'s rules and the cipher's
    length; a development value too (the start-up check decides whether that is allowed)."""
    try:
        key = decode_key(setting.value.get_secret_value())
    except KeyFormatError as exc:
        raise KeyFormatError(f"{setting.name}: {exc}") from None
    if setting.exact_bytes is not None and len(key) != setting.exact_bytes:
        raise KeyFormatError(
            f"{setting.name} decodes to {len(key)} bytes, not {setting.exact_bytes}"
        )
    return key
