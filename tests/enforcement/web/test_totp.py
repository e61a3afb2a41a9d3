"""The TOTP second factor (RFC 6238): required for supervisors and admins, chosen by
reviewers; enrolled with a QR code (inline SVG: no script, no data: image) or the key shown
once; each code accepted once; wrong codes limited."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from enforcement.casework.models import AuditEntry, User
from tests.enforcement.web.conftest import (
    NOW,
    SECRET_SHOWN,
    Web,
    csrf_of,
    enrol_by_choice,
    logged_in,
    login,
    make_web,
)

pytestmark = pytest.mark.redis


def _user(web: Web, name: str) -> User:
    with web.db.sessions() as session:
        return session.scalars(select(User).where(User.username == name)).one()


def _actions(web: Web, actor: str) -> list[str]:
    with web.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor == actor).order_by(AuditEntry.seq)
            )
        )


def test_a_supervisor_enrols_at_the_first_login_and_then_needs_a_code(
    case_db: Any, register: Any, zones_settings: Any, tmp_path: Path
) -> None:
    """Hole 12: a password alone was enough for every role."""
    web = make_web(case_db, register, zones_settings, tmp_path, login_attempts=5)
    client = web.client()
    first = login(client, "sara")
    assert first.status_code == 303 and first.headers["location"] == "/login/enrol"
    assert client.get("/queue").status_code == 303  # the password alone opens nothing
    assert client.get("/supervisor").status_code == 303
    page = client.get("/login/enrol")
    assert page.status_code == 200
    assert re.search(r'<svg [^>]*class="segno"', page.text)  # the QR code, inline
    assert "<script" not in page.text and "data:" not in page.text
    shown = SECRET_SHOWN.search(page.text)
    assert shown
    secret = shown.group(1).replace(" ", "")
    assert len(secret) == 32  # 160 bits
    # A wrong code: refused, and a new key is shown (each key is shown once).
    wrong = client.post("/login/enrol", data={"code": "000000", "csrf_token": csrf_of(page.text)})
    assert wrong.status_code == 400 and "Die code klopt niet" in wrong.text
    again = SECRET_SHOWN.search(wrong.text)
    assert again and again.group(1).replace(" ", "") != secret
    secret = again.group(1).replace(" ", "")
    late = pyotp.TOTP(shown.group(1).replace(" ", "")).at(NOW)
    stale = client.post("/login/enrol", data={"code": late, "csrf_token": csrf_of(wrong.text)})
    assert stale.status_code == 400  # the first key is gone
    secret = SECRET_SHOWN.search(stale.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    code = pyotp.TOTP(secret).at(NOW)
    done = client.post("/login/enrol", data={"code": code, "csrf_token": csrf_of(stale.text)})
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    assert client.get("/supervisor").status_code == 200
    stored = _user(web, "sara").totp_secret
    assert stored is not None and secret not in stored  # encrypted, not the key itself
    # The next login asks for a code; the code already used is not accepted again.
    other = web.client()
    step = login(other, "sara")
    assert step.headers["location"] == "/login/code"
    form = other.get("/login/code")
    replay = other.post("/login/code", data={"code": code, "csrf_token": csrf_of(form.text)})
    assert replay.status_code == 401 and "al gebruikt" in replay.text
    fresh = pyotp.TOTP(secret).at(NOW + timedelta(seconds=30))
    ok = other.post("/login/code", data={"code": fresh, "csrf_token": csrf_of(replay.text)})
    assert ok.status_code == 303 and ok.headers["location"] == "/queue"
    assert other.get("/supervisor").status_code == 200
    assert _actions(web, "sara")[-4:] == ["totp_enrolled", "login", "login_code_failed", "login"]


def test_wrong_codes_are_limited_and_the_pending_login_expires(web: Web) -> None:
    logged_in(web, "sara")  # enrolled
    client = web.client()
    login(client, "sara")
    form = client.get("/login/code")
    for _ in range(web.cases.login_attempts):
        wrong = client.post(
            "/login/code", data={"code": "123456", "csrf_token": csrf_of(form.text)}
        )
        assert wrong.status_code == 401
    blocked = client.post("/login/code", data={"code": web.code("sara"),
                                                "csrf_token": csrf_of(form.text)})  # fmt: skip
    assert blocked.status_code == 429
    # After the window, and with a fresh password step, a right code works again; a pending
    # login left for more than five minutes is gone.
    web.clock.now = NOW + timedelta(seconds=2 * web.cases.login_window_s + 1)
    late = web.client()
    login(late, "sara")
    web.clock.now += timedelta(minutes=6)
    assert late.get("/login/code").headers["location"] == "/login"


def test_a_reviewer_may_choose_the_second_factor(web: Web) -> None:
    anna = logged_in(web, "anna")  # no code asked: optional for reviewers
    assert "niet ingesteld" in anna.get("/account").text
    done = enrol_by_choice(web, anna, "anna")
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert "Tweede stap (TOTP): ingesteld." in anna.get("/account").text
    assert _user(web, "anna").totp_wanted
    again = login(web.client(), "anna")
    assert again.headers["location"] == "/login/code"  # from now on she needs a code
    assert logged_in(web, "anna").get("/queue").status_code == 200


def test_a_logged_in_user_cannot_swap_an_enrolled_key(web: Web) -> None:
    """A stolen session must not be able to put the thief's key on the account."""
    sara = logged_in(web, "sara")
    assert sara.get("/login/enrol").status_code == 303
    token = csrf_of(sara.get("/queue").text)
    assert (
        sara.post("/login/enrol", data={"code": "123456", "csrf_token": token}).status_code == 303
    )
    assert 'id="totp-setup"' not in sara.get("/account").text
    stored = _user(web, "sara").totp_secret
    assert stored is not None and logged_in(web, "sara").get("/queue").status_code == 200
