"""Review app fixtures: the app on the case database (SQLite and PostgreSQL), a real Redis
register for the re-checks, logged-in clients, and a live server for the browser tests."""

from __future__ import annotations

import re
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import msgspec
import numpy as np
import pyotp
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from enforcement.casework.accounts import add_user
from enforcement.casework.models import User
from enforcement.casework.recheck import Rechecker
from enforcement.casework.settings import CaseSettings
from enforcement.model import Fuel, Vehicle
from enforcement.records import AlternativeRead, EvidenceRef, ExemptionFacts
from enforcement.register.redis import RedisRegister
from enforcement.settings import Settings, load_law
from enforcement.web import create_app
from tests.conftest import missing
from tests.enforcement.casework.conftest import (  # noqa: F401  (fixtures used by name)
    AUDIT_KEY,
    KEY,
    SEEN,
    CaseDB,
    case_db,
    evidence_for,
    postgres_db,
    sqlite_db,
    violation,
)
from zes.embedded import free_port

# Starlette 1.10 wants `httpx2` for its TestClient and warns about `httpx` (pinned by the
# project); the warning is about the client library, not about the app under test.
with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.filterwarnings(
        "ignore",
        message="Using `httpx` with `starlette.testclient`",
        category=StarletteDeprecationWarning,
    )
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
#: A random test key (hex, 32 bytes): the start-up check refuses development values.
SESSION_SECRET = "5f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"
SECRET = b"web-test-plate-hash-secret"
#: The reviewers' "now": a day after the sightings, so every case is past its grace period.
NOW = SEEN + timedelta(days=1)
CHROMIUM = Path("/usr/bin/chromium")

#: In the register: an emission class 4 diesel van (a violation in Utrecht in 2026) and a
#: battery-electric van (always allowed), for re-checks and plate corrections.
DIESEL_VAN = Vehicle(
    plate="VNB12X",
    kind="Bedrijfsauto",
    max_mass_kg=3000,
    eu_category="N1",
    first_admission=date(2008, 5, 1),
    first_nl_registration=date(2008, 5, 1),
    fuels=(Fuel("Diesel", "4"),),
)
ELECTRIC_VAN = Vehicle(
    plate="VNB12Y",
    kind="Bedrijfsauto",
    max_mass_kg=3000,
    eu_category="N1",
    first_admission=date(2022, 5, 1),
    first_nl_registration=date(2022, 5, 1),
    fuels=(Fuel("Elektriciteit", None),),
)


def jpeg(width: int, height: int, shade: int) -> bytes:
    """A real JPEG, so a browser can decode and lay it out."""
    pixels = np.full((height, width, 3), shade, dtype=np.uint8)
    cv2.rectangle(pixels, (width // 4, height // 3), (3 * width // 4, 2 * height // 3), 0, -1)
    ok, data = cv2.imencode(".jpg", pixels)
    assert ok
    return bytes(data.tobytes())


class Clock:
    """The app's clock, moved by the tests (claims, sessions and ages depend on it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Web:
    app: FastAPI
    db: CaseDB
    cases: CaseSettings
    clock: Clock
    register: RedisRegister
    rechecker: Rechecker
    work_dir: Path
    users: dict[str, int] = field(default_factory=dict)
    settings: Settings | None = None
    totp: dict[str, str] = field(default_factory=dict)
    """The TOTP keys of the users who enrolled (as their phone would hold them)."""

    def code(self, username: str) -> str:
        """A valid, unused code of `username`'s key at the app's clock: the first step of
        the accepted window (one before to one after now) after the last one used."""
        with self.db.sessions() as session:
            last = session.scalar(select(User.totp_last_step).where(User.username == username))
        step = int(self.clock.now.timestamp()) // 30
        candidate = step - 1 if last is None else max(step - 1, last + 1)
        assert candidate <= step + 1, "every code of this window was used: move the clock"
        return str(pyotp.TOTP(self.totp[username]).at(candidate * 30))

    def client(self) -> TestClient:
        # https: the session cookie is Secure, and httpx sends it over TLS URLs only.
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def add_case(
        self,
        plate: str = "VNB12X",
        zone: str = "utrecht",
        *,
        seen_at: datetime = SEEN,
        images: bool = True,
        alternatives: tuple[tuple[str, float], ...] = (),
        exemptions: tuple[ExemptionFacts, ...] = (),
        **kwargs: Any,
    ) -> uuid.UUID:
        """One violation (and its two images); returns the passage id."""
        passage = uuid.uuid4()
        overview = evidence_for(passage, "overview", jpeg(320, 200, 180))
        crop = evidence_for(passage, "plate_crop", jpeg(120, 40, 230))
        refs = tuple(
            EvidenceRef(kind=e.kind, sha256=e.sha256, size=len(e.data)) for e in (overview, crop)
        )
        record = violation(
            plate, zone, seen_at=seen_at, passage_id=passage, evidence=refs, **kwargs
        )
        record = msgspec.structs.replace(
            record,
            alternatives=tuple(AlternativeRead(plate=p, confidence=c) for p, c in alternatives),
            exemptions=exemptions,
        )
        self.db.intake(now=seen_at).apply([record], [overview, crop] if images else [])
        return passage


def client_of(app: ASGIApp, address: str = "testclient") -> TestClient:
    """A client of `app` connecting from `address` (the TCP peer the app sees)."""
    return TestClient(
        app, base_url="https://testserver", follow_redirects=False, client=(address, 50000)
    )


def settings_for(tmp_path: Path, **overrides: Any) -> CaseSettings:
    values: dict[str, Any] = {
        "evidence_key": KEY.hex(),  # the fixtures' vault key
        "audit_key": AUDIT_KEY.hex(),  # the fixtures' audit chain key
        "session_secret": SESSION_SECRET,
        "login_attempts": 3,
        "login_window_s": 60.0,
        "login_delay_s": 0.05,
        "login_max_delay_s": 0.2,
        "review_metrics_port": 0,
        "export_dir": tmp_path / "exports",
    }
    values.update(overrides)
    return CaseSettings(_env_file=None, **values)


@pytest.fixture
def register(redis_client: redis.Redis, redis_prefix: str) -> RedisRegister:
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    register.replace_vehicles([DIESEL_VAN, ELECTRIC_VAN])
    return register


@pytest.fixture
def zones_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, work_dir=tmp_path, law_file=None)


def make_web(
    db: CaseDB, register: RedisRegister, settings: Settings, tmp_path: Path, **overrides: Any
) -> Web:
    _, zones = load_law(settings)
    rechecker = Rechecker(register, zones)
    cases = settings_for(tmp_path, **overrides)
    clock = Clock(NOW)
    app = create_app(settings, cases, engine=db.engine, rechecker=rechecker, clock=clock)
    web = Web(app, db, cases, clock, register, rechecker, tmp_path, settings=settings)
    with db.sessions.begin() as session:
        for name, role in (("anna", "reviewer"), ("bram", "reviewer"), ("sara", "supervisor")):
            web.users[name] = add_user(
                session, name, PASSWORD, role, actor="test", all_municipalities=True
            ).id
    return web


def add_officer(web: Web, name: str, role: str, *municipalities: str) -> int:
    """An account of these municipalities only (tenancy)."""
    with web.db.sessions.begin() as session:
        user = add_user(
            session, name, PASSWORD, role, actor="test", municipalities=municipalities,
            zones=web.rechecker.zones,
        )  # fmt: skip
        web.users[name] = user.id
    return web.users[name]


@pytest.fixture
def web(
    case_db: CaseDB,  # noqa: F811  (the fixture imported above, requested by name)
    register: RedisRegister,
    zones_settings: Settings,
    tmp_path: Path,
) -> Web:
    return make_web(case_db, register, zones_settings, tmp_path)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


SECRET_SHOWN = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


def second_factor(web: Web, client: TestClient, username: str, response: Any) -> Any:
    """Finish a login that asks for the second factor: enrol (reading the key from the
    page, as a person would scan it) or type a fresh code."""
    where = response.headers.get("location", "")
    if where not in ("/login/enrol", "/login/code"):
        return response
    page = client.get(where)
    assert page.status_code == 200, page.text
    if where == "/login/enrol":
        remember_shown_key(web, username, page.text)
    return client.post(where, data={"code": web.code(username), "csrf_token": csrf_of(page.text)})


def remember_shown_key(web: Web, username: str, html: str) -> None:
    """Read the second-factor key an enrol page shows (as a person would scan it), so
    `web.code(username)` makes codes of it."""
    shown = SECRET_SHOWN.search(html)
    assert shown, html
    web.totp[username] = shown.group(1).replace(" ", "")


def enrol_by_choice(web: Web, client: TestClient, username: str) -> Any:
    """A logged-in user enrols a second factor on their own (password asked again)."""
    page = client.get("/login/enrol")
    remember_shown_key(web, username, page.text)
    return client.post("/login/enrol", data={"code": web.code(username), "password": PASSWORD,
                                             "csrf_token": csrf_of(page.text)})  # fmt: skip


def logged_in(web: Web, username: str) -> TestClient:
    client = web.client()
    response = second_factor(web, client, username, login(client, username))
    assert response.status_code == 303, response.text
    assert response.headers["location"] not in ("/login/enrol", "/login/code", "/login")
    return client


# -- live server for the browser -----------------------------------------------------------
class Dispatch:
    """One uvicorn for the whole session; each browser test mounts its own app on it (the
    base URL is session-wide in pytest-playwright, the app and its database are not)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("no app mounted on the live server")
        await self.app(scope, receive, send)


@dataclass
class LiveServer:
    url: str
    dispatch: Dispatch


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    port = free_port()
    dispatch = Dispatch()
    config = uvicorn.Config(
        dispatch, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-review-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live review app did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", dispatch)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        missing(f"Debian Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


@pytest.fixture
def live_web(web: Web, live_server: LiveServer) -> Iterator[Web]:
    """`web` served by the live server for this test."""
    live_server.dispatch.app = web.app
    yield web
    live_server.dispatch.app = None
