"""The message catalogue: both languages say the same things with the same facts."""

from __future__ import annotations

import re
import string
from datetime import date, datetime

import pytest

from enforcement.messages import CATALOGUE, LANGUAGES, format_value, render


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(LANGUAGES) == set(CATALOGUE)
    keys = set(CATALOGUE["en"])
    assert set(CATALOGUE["nl"]) == keys
    for key in keys:
        assert placeholders(CATALOGUE["nl"][key]) == placeholders(CATALOGUE["en"][key]), key


def test_every_key_the_law_names_exists() -> None:
    """Literal keys in the law and window modules (f-string keys are rendered by the law
    tests, which decide every rule)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "enforcement"
    used: set[str] = set()
    for module in ("law.py", "windows.py"):
        text = (root / module).read_text(encoding="utf-8")
        used |= set(re.findall(r'hit\(\s*"[RW]\d+",\s*"([a-z0-9_]+)"', text))
    assert used, "the scan found no keys"
    assert used <= set(CATALOGUE["en"]), used - set(CATALOGUE["en"])


@pytest.mark.parametrize(
    ("lang", "expected"), [("nl", "31 december 2028"), ("en", "31 December 2028")]
)
def test_dates_are_written_out(lang: str, expected: str) -> None:
    assert format_value(date(2028, 12, 31), lang) == expected
    assert format_value(datetime(2028, 12, 31, 6, 5), lang) == f"{expected} 06:05"


def test_unknown_key_is_an_error_and_unknown_language_falls_back() -> None:
    with pytest.raises(KeyError):
        render("no_such_message", {})
    assert render("in_scope", {}, "fr") == render("in_scope", {}, "nl")
