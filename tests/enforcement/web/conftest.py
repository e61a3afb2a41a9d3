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
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from enforcement.casework.accounts import add_user
from enforcement.casework.recheck import Rechecker
from enforcement.casework.settings import CaseSettings
from enforcement.model import Fuel, Vehicle
from enforcement.records import AlternativeRead, EvidenceRef, ExemptionFacts
from enforcement.register.redis_store import RedisRegister
from enforcement.settings import Settings, load_law
from enforcement.web import create_app
from tests.conftest import missing
from tests.enforcement.casework.conftest import (  # noqa: F401  (fixtures used by name)
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


def settings_for(tmp_path: Path, **overrides: Any) -> CaseSettings:
    values: dict[str, Any] = {
        "evidence_key": "test evidence key",  # SHA-256 of it is the fixtures' vault KEY
        "session_secret": "web-test-session-secret-0123456789",
        "login_attempts": 3,
        "login_window_s": 60.0,
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
    web = Web(app, db, cases, clock, register, rechecker, tmp_path)
    with db.sessions.begin() as session:
        for name, role in (("anna", "reviewer"), ("bram", "reviewer"), ("sara", "supervisor")):
            web.users[name] = add_user(session, name, PASSWORD, role, actor="test").id
    return web


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


def logged_in(web: Web, username: str) -> TestClient:
    client = web.client()
    response = login(client, username)
    assert response.status_code == 303, response.text
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
