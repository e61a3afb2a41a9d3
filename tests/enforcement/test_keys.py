"""The one key decoder (`enforcement.keys.decode_key`): its rules, one by one. Every role
reads its keys with it: the start-up check, the review app's ciphers, the intake's and the
edge's evidence signing keys (tests/enforcement/casework/test_keys.py checks they agree)."""

from __future__ import annotations

import base64
import secrets

import pytest

from enforcement.keys import MIN_DISTINCT_BYTES, MIN_KEY_BYTES, KeyFormatError, decode_key

RAW = secrets.token_bytes(32)


def written(raw: bytes) -> list[str]:
    """Every way the rules accept to write `raw`."""
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    return [
        raw.hex(),
        raw.hex().upper(),
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
    ]


@pytest.mark.parametrize("text", written(RAW))
def test_hex_and_both_base64_alphabets_with_or_without_padding(text: str) -> None:
    assert decode_key(text) == RAW


@pytest.mark.parametrize("around", ["\n", "  ", "\r\n", "\t", " \n"])
def test_whitespace_around_a_key_is_ignored(around: str) -> None:
    for text in written(RAW):
        assert decode_key(f"{around}{text}{around}") == RAW


def test_whitespace_inside_a_key_is_refused() -> None:
    hexed = RAW.hex()
    standard = base64.b64encode(RAW).decode()
    for text in (f"{hexed[:32]} {hexed[32:]}", f"{standard[:20]}\n{standard[20:]}"):
        with pytest.raises(KeyFormatError, match="neither hex nor base64"):
            decode_key(text)


def test_the_two_base64_alphabets_are_never_mixed() -> None:
    raw = bytes([0xFB, 0xFF]) * 8 + secrets.token_bytes(16)  # "+" and "/" in standard
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    mixed = standard.replace("/", "_", 1) if "/" in standard else standard.replace("+", "-", 1)
    with pytest.raises(KeyFormatError, match="mixes the standard and the URL-safe"):
        decode_key(mixed)


def test_at_least_32_bytes() -> None:
    assert MIN_KEY_BYTES == 32
    assert decode_key(secrets.token_hex(32)) and decode_key(secrets.token_hex(64))
    for short in (secrets.token_hex(31), base64.b64encode(secrets.token_bytes(31)).decode()):
        with pytest.raises(KeyFormatError, match="31 bytes, fewer than 32"):
            decode_key(short)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("correct horse battery staple", "a passphrase is not a key"),
        ("", "neither hex nor base64"),
        ("not a key!", "neither hex nor base64"),
        ("correcthorsebatterystaplecorrecthorsebatter", "letters only"),
        ("CorrectHorseBatteryStapleCorrectHorseBatteryStaple==", "letters only"),
        ("00" * 32, "not random"),
        ("ab" * 64, "letters only"),
        ("0102" * 32, "not random"),
        ((bytes(range(MIN_DISTINCT_BYTES - 1)) * 4).hex(), "not random"),
    ],
)
def test_refused_patterns(text: str, why: str) -> None:
    with pytest.raises(KeyFormatError, match=why) as caught:
        decode_key(text)
    assert not text or text not in str(caught.value)  # never repeats the secret


def test_enough_distinct_bytes_are_accepted() -> None:
    key = bytes(range(MIN_DISTINCT_BYTES)) * 3
    assert decode_key(key.hex()) == key
