"""Passwords and second factors (issue 23): a password can be changed (the current one
required), reset by an admin (a change is forced at the next login), an account re-enabled;
passwords need 12 characters and pass a strength and common-password check (zxcvbn,
offline); enrolling a second factor from a session asks for the password again, and an
admin can provision the key so no first login is trusted."""

from __future__ import annotations

import io
import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from enforcement.casework.accounts import AccountError, add_user, password_problem
from enforcement.casework.models import AuditEntry, User
from tests.enforcement.casework.conftest import AUDIT_KEY, KEY
from tests.enforcement.web.conftest import (
    PASSWORD,
    Web,
    csrf_of,
    enrol_by_choice,
    logged_in,
    login,
    remember_shown_key,
)
from zes.cli import main

pytestmark = pytest.mark.redis
NEW = "seven purple owls juggle quietly"


def test_password_rules() -> None:
    assert password_problem("correct horse battery staple") is None
    assert password_problem("short pw") == "at least 12 characters"
    for common in ("password1234", "qwertyuiop123", "iloveyou1234"):
        assert password_problem(common) == "one of the most common passwords", common
    for weak in ("passwordpassword", "123456789012", "aaaaaaaaaaaa", "anna.de.vries1"):
        assert (password_problem(weak, "anna.de.vries") or "").startswith("too easy"), weak


def _cli(web: Web, monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> tuple[int, str]:
    monkeypatch.setenv("ZES_CASES_DATABASE_URL", web.db.url)
    monkeypatch.setenv("ZES_CASES_AUDIT_KEY", AUDIT_KEY.hex())
    monkeypatch.setenv("ZES_CASES_EVIDENCE_KEY", KEY.hex())
    monkeypatch.setenv("ZES_WORK_DIR", str(web.work_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    code = main(["enforce", "user", *argv, "--actor", "beheer"])
    return code, out.getvalue()


def _change(client: TestClient, current: str, new: str, repeat: str | None = None) -> Any:
    page = client.get("/account/password")
    data = {"current": current, "new": new, "repeat": new if repeat is None else repeat,
            "csrf_token": csrf_of(page.text)}  # fmt: skip
    return client.post("/account/password", data=data)


def test_a_password_change_needs_the_current_password_and_a_strong_new_one(web: Web) -> None:
    anna = logged_in(web, "anna")
    assert 'href="/account/password"' in anna.get("/account").text
    wrong = _change(anna, "not my password", NEW)
    assert wrong.status_code == 400 and "huidige wachtwoord klopt niet" in wrong.text
    weak = _change(anna, PASSWORD, "passwordpassword")
    assert weak.status_code == 400 and "te makkelijk te raden" in weak.text
    differ = _change(anna, PASSWORD, NEW, NEW + "!")
    assert differ.status_code == 400
    done = _change(anna, PASSWORD, NEW)
    assert done.status_code == 303, done.text
    assert login(web.client(), "anna", PASSWORD).status_code == 401
    assert login(web.client(), "anna", NEW).status_code == 303
    with web.db.sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "password_changed" in actions and NEW not in str(
            session.scalars(select(AuditEntry.detail)).all()
        )


def test_an_admin_reset_forces_a_change_and_a_disabled_account_can_be_re_enabled(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = _cli(web, monkeypatch, "reset-password", "bram", "--password-stdin",
                   stdin="one time only password 42\n")  # fmt: skip
    assert code == 0
    bram = web.client()
    assert login(bram, "bram", PASSWORD).status_code == 401  # the old one is gone
    assert login(bram, "bram", "one time only password 42").status_code == 303
    queue = bram.get("/queue")
    assert queue.status_code == 303 and queue.headers["location"] == "/account/password"
    assert "kies eerst een nieuw" in bram.get("/account/password").text
    assert _change(bram, "one time only password 42", NEW).status_code == 303
    assert bram.get("/queue").status_code == 200  # changed: everything opens again

    assert _cli(web, monkeypatch, "disable", "bram")[0] == 0
    assert login(web.client(), "bram", NEW).status_code == 401
    assert _cli(web, monkeypatch, "enable", "bram")[0] == 0
    assert login(web.client(), "bram", NEW).status_code == 303
    weak = _cli(web, monkeypatch, "reset-password", "bram", "--password-stdin",
                stdin="123456789012\n")  # fmt: skip
    assert weak[0] == 2


def test_enrolling_from_a_session_asks_for_the_password_again(web: Web) -> None:
    """With only a session cookie, /login/enrol showed a key and accepted a code: the owner
    was then locked out until an admin reset it."""
    anna = logged_in(web, "anna")
    page = anna.get("/login/enrol")
    assert 'name="password"' in page.text
    remember_shown_key(web, "anna", page.text)
    cookie_only = anna.post("/login/enrol", data={"code": web.code("anna"),
                                                  "csrf_token": csrf_of(page.text)})  # fmt: skip
    assert cookie_only.status_code == 401 and "wachtwoord klopt niet" in cookie_only.text
    with web.db.sessions() as session:
        assert session.scalar(select(User.totp_secret).where(User.username == "anna")) is None
    done = enrol_by_choice(web, anna, "anna")
    assert done.status_code == 303 and done.headers["location"] == "/account"


def test_an_admin_provisions_the_key_so_no_first_login_is_trusted(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    with web.db.sessions.begin() as session:
        add_user(session, "ada", PASSWORD, "admin", actor="test", all_municipalities=True)
    code, out = _cli(web, monkeypatch, "provision-totp", "ada")
    assert code == 0
    key = re.search(r"shown this once\): ([A-Z2-7 ]+)", out)
    assert key is not None and "otpauth://totp/" in out
    assert any(block in out for block in "\u2580\u2584\u2588")  # the QR code, in the terminal
    web.totp["ada"] = key.group(1).replace(" ", "")
    client = web.client()
    first = login(client, "ada")
    assert first.headers["location"] == "/login/code"  # no enrolment, no trust on first use
    assert client.get("/login/enrol").status_code == 303
    page = client.get("/login/code")
    done = client.post("/login/code", data={"code": web.code("ada"),
                                            "csrf_token": csrf_of(page.text)})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    assert pyotp.TOTP(web.totp["ada"]).now()  # a real base32 key


def test_add_user_refuses_a_weak_password(web: Web) -> None:
    with web.db.sessions.begin() as session, pytest.raises(AccountError, match="common"):
        add_user(session, "piet", "password1234", "reviewer", actor="t", all_municipalities=True)
