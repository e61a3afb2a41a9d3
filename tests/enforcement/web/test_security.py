"""Login state shared by every replica (sessions, login limits, plate-check limits in the
case database), the client address behind trusted proxies only, the idle timeout, the
lock-out that an attacker on a shared address cannot cause, and the development secret."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from enforcement.casework.db import make_engine
from enforcement.casework.models import AuditEntry, WebSession
from enforcement.casework.settings import DEV_SESSION_SECRET
from enforcement.web import create_app
from tests.conftest import REPO_ROOT
from tests.enforcement.web.conftest import (
    NOW,
    PASSWORD,
    Web,
    client_of,
    csrf_of,
    logged_in,
    login,
)
from zes.embedded import free_port

if TYPE_CHECKING:
    from starlette.testclient import TestClient

pytestmark = pytest.mark.redis


def _replica(web: Web, **overrides: Any) -> tuple[Any, Any]:
    """A second review app on the same database, with its own engine (another process)."""
    engine = make_engine(web.db.url)
    cases = web.cases.model_copy(update=overrides) if overrides else web.cases
    assert web.settings is not None
    app = create_app(web.settings, cases, engine=engine, rechecker=web.rechecker, clock=web.clock)
    return app, engine


def _client(app: Any, address: str = "testclient") -> TestClient:
    return client_of(app, address)


def test_a_logout_on_one_replica_ends_the_session_on_the_other_and_after_a_restart(
    web: Web,
) -> None:
    """Hole 4: logged-out session ids were remembered in one process only."""
    other, engine = _replica(web)
    try:
        a = logged_in(web, "anna")
        b = _client(other)
        b.cookies.update(dict(a.cookies))
        assert b.get("/queue").status_code == 200  # the same login on the other replica
        token = csrf_of(a.get("/queue").text)
        assert a.post("/logout", data={"csrf_token": token}).status_code == 303
        assert b.get("/queue").status_code == 303  # refused there too
        restarted, engine2 = _replica(web)
        try:
            c = _client(restarted)
            c.cookies.update(dict(b.cookies))
            assert c.get("/queue").status_code == 303  # and after a restart
        finally:
            engine2.dispose()
    finally:
        engine.dispose()


def test_login_failures_and_plate_checks_count_on_every_replica(web: Web) -> None:
    other, engine = _replica(web)
    try:
        for app in (web.app, other, web.app):
            client = _client(app, "192.0.2.10")
            assert login(client, "anna", "wrong password!!").status_code == 401
        refused = login(_client(other, "192.0.2.10"), "anna")
        assert refused.status_code == 429  # the address used its attempts across replicas
        limit = web.cases.platecheck_per_minute
        for i in range(limit):
            app = (web.app, other)[i % 2]
            got = _client(app, "192.0.2.20").get("/api/v1/platecheck", params={"plate": "VNB12X"})
            assert got.status_code == 200
        last = _client(other, "192.0.2.20").get("/api/v1/platecheck", params={"plate": "VNB12X"})
        assert last.status_code == 429
        assert (
            _client(web.app, "192.0.2.21")
            .get("/api/v1/platecheck", params={"plate": "VNB12X"})
            .status_code
            == 200
        )  # another client is not counted with it
    finally:
        engine.dispose()


def test_an_attacker_on_a_shared_address_cannot_lock_a_user_out(web: Web) -> None:
    """Hole 4: behind an ingress every client has one address; five wrong passwords for a
    user locked that user out for everyone. Now the user name only slows down."""
    proxy = "10.1.0.7"
    app, engine = _replica(web, trusted_proxies=["10.1.0.0/16"])
    try:

        def via_proxy(client_ip: str) -> TestClient:
            client = _client(app, proxy)
            client.headers["x-forwarded-for"] = client_ip
            return client

        attacker = via_proxy("203.0.113.66")
        for _ in range(web.cases.login_attempts):
            assert login(attacker, "anna", "guess guess guess").status_code == 401
        assert login(attacker, "anna", PASSWORD).status_code == 429  # that address is out
        # Anna, through the same proxy from her own address: a delay, then in.
        anna = via_proxy("198.51.100.23")
        started = time.monotonic()
        response = login(anna, "anna", PASSWORD)
        assert response.status_code == 303 and response.headers["location"] == "/queue"
        assert time.monotonic() - started >= web.cases.login_delay_s
        assert anna.get("/queue").status_code == 200
        # Someone else behind the same proxy is not affected at all.
        assert login(via_proxy("198.51.100.99"), "bram", PASSWORD).status_code == 303
        # A client that is not a trusted proxy cannot escape its address with the header.
        spoofer = _client(app, "203.0.113.66")
        spoofer.headers["x-forwarded-for"] = "198.51.100.50"
        assert login(spoofer, "bram", PASSWORD).status_code == 429
    finally:
        engine.dispose()


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    web: Web,
) -> None:
    from starlette.requests import Request

    from enforcement.web.deps import client_address

    app, engine = _replica(web, trusted_proxies=["10.0.0.0/8", "::1/128"])
    try:

        def address(peer: str, *forwarded: str) -> str:
            headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
            scope = {"type": "http", "app": app, "client": (peer, 1), "headers": headers}
            return client_address(Request(scope))

        assert address("10.0.0.2", "198.51.100.1") == "198.51.100.1"
        assert address("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.9") == "198.51.100.1"
        assert address("10.0.0.2", "6.6.6.6", "198.51.100.1") == "198.51.100.1"
        assert address("192.0.2.5", "198.51.100.1") == "192.0.2.5"  # untrusted peer
        assert address("10.0.0.2", "not-an-address") == "10.0.0.2"
        assert address("10.0.0.2") == "10.0.0.2"
        assert address("::1", "2001:db8::5") == "2001:db8::5"
    finally:
        engine.dispose()


def test_a_login_ends_after_the_idle_timeout(web: Web) -> None:
    client = logged_in(web, "anna")
    idle = timedelta(minutes=web.cases.idle_minutes)
    web.clock.now = NOW + idle - timedelta(minutes=1)
    assert client.get("/queue").status_code == 200  # used: the idle time starts again
    web.clock.now += idle - timedelta(minutes=1)
    assert client.get("/queue").status_code == 200
    web.clock.now += idle + timedelta(minutes=1)
    assert client.get("/queue").status_code == 303
    with web.db.sessions() as session:
        assert session.scalars(select(WebSession.id)).all()  # only the digest is stored
        assert all(len(i) == 64 for i in session.scalars(select(WebSession.id)))


def test_queue_views_are_audited_with_filters_page_and_counts_but_no_plate(web: Web) -> None:
    """Hole 11: who looked at which part of the queue was not recorded."""
    web.add_case("VNB12X")
    web.add_case("VNB99Z")
    anna = logged_in(web, "anna")
    assert anna.get("/queue", params={"zone": "utrecht", "status": "open"}).status_code == 200
    assert anna.get("/queue", params={"zone": "VNB12X"}).status_code == 200  # a plate typed
    with web.db.sessions() as session:
        views = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "view_queue").order_by(AuditEntry.seq)
        ).all()
    assert [(v.actor, v.detail) for v in views] == [
        ("anna", {"filters": {"zone": "utrecht", "status": "open"}, "page": 1, "shown": 2,
                  "total": 2}),
        ("anna", {"filters": {"zone": "?"}, "page": 1, "shown": 0, "total": 0}),
    ]  # fmt: skip
    for view in views:
        assert "VNB" not in str(view.detail)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(url: str, cookie: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _serve(tmp_path: Path, port: int, redis_url: str, prefix: str, dev: bool) -> Any:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from enforcement.casework.settings import CaseSettings
        from enforcement.settings import Settings
        from enforcement.web import serve
        serve(
            Settings(_env_file=None, work_dir=Path({str(tmp_path)!r}), redis_url={redis_url!r},
                     register_prefix={prefix!r}),
            CaseSettings(_env_file=None, host="127.0.0.1", port={port}, review_metrics_port=0,
                         cookie_secure=False),
            dev={dev!r},
        )
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def _forged_cookie(uid: int) -> str:
    """The session cookie anyone can sign with the public development secret."""
    import base64
    import json

    payload = {"uid": uid, "sid": "forged", "login_at": time.time(), "csrf": "x"}
    data = base64.b64encode(json.dumps(payload).encode())
    return "zes_session=" + TimestampSigner(DEV_SESSION_SECRET).sign(data).decode()


def test_the_development_session_secret_is_refused_on_loopback_too_and_forged_cookies_fail(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Hole 1: behind a TLS proxy on the same host the app listened on 127.0.0.1 with the
    public development secret, and a cookie signed with it was `/supervisor 200`."""
    port = free_port()
    process = _serve(tmp_path, port, redis_url, redis_prefix, dev=False)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        status, _ = _get(f"http://127.0.0.1:{port}/supervisor", _forged_cookie(1))
        pytest.fail(f"serve started with the development secret; forged cookie got {status}")
    assert process.returncode != 0
    assert b"ZES_CASES_SESSION_SECRET" in output
    # With --dev (one machine, `zes up`) it runs, and still a forged cookie gets nowhere:
    # a login exists only as a row in web_sessions, which no signature can make.
    from enforcement.casework.accounts import add_user
    from enforcement.casework.db import migrate, session_factory
    from tests.enforcement.casework.conftest import AUDIT_KEY

    url = f"sqlite:///{(tmp_path / 'cases.db').resolve()}"
    migrate(url)
    engine = make_engine(url)
    from enforcement.casework.settings import CaseSettings

    key = CaseSettings(_env_file=None).audit_hmac_key()
    assert key != AUDIT_KEY
    with session_factory(engine, audit_key=key).begin() as session:
        uid = add_user(session, "root", PASSWORD, "admin", actor="test", all_municipalities=True).id
    engine.dispose()
    process = _serve(tmp_path, port, redis_url, redis_prefix, dev=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        status, _ = _get(f"http://127.0.0.1:{port}/supervisor", _forged_cookie(uid))
        assert status == 303  # to the login page, not the supervisor page
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()
