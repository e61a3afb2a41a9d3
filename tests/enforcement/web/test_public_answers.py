"""The public answers reveal nothing and never fail with a traceback (issue 23): the plate
check's dates and day permits, limits per address and in total, the open flow data's limit,
out-of-range ids and dates, and the security headers on every response, 500 included."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI

from enforcement.model import LOCAL_TZ, Exemption
from enforcement.web.app import create_app
from enforcement.web.core.security import SECURITY_HEADERS
from tests.enforcement.web.conftest import Web, client_of, logged_in

PLATE = "VNB12X"  # a Euro 4 diesel van: no access to Utrecht without an exemption


def _app(web: Web, **overrides: object) -> FastAPI:
    """The same app and database with other settings (another replica)."""
    assert web.settings is not None
    cases = web.cases.model_copy(update=overrides)
    return create_app(
        web.settings, cases, engine=web.db.engine, rechecker=web.rechecker, clock=web.clock
    )


def _today(web: Web) -> date:
    return web.clock.now.astimezone(LOCAL_TZ).date()


def _answer(web: Web, day: date, address: str = "198.51.100.7") -> dict[str, Any]:
    got = client_of(web.app, address).get(
        "/api/v1/platecheck", params={"plate": PLATE, "zone": "utrecht", "date": str(day)}
    )
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_a_day_permit_is_never_revealed_for_another_day_than_today(web: Web) -> None:
    """Asked for every day of a month, the check showed on which days the vehicle held a
    day permit. Now every other day is answered as if none were registered."""
    today = _today(web)
    permit_days = [today, today + timedelta(days=3)]
    web.register.add_exemptions(
        [Exemption.day_permit(PLATE, "Utrecht", day) for day in permit_days]
    )
    answers = {n: _answer(web, today + timedelta(days=n), f"198.51.100.{n + 1}") for n in range(6)}
    outcome = {n: a["zones"][0]["outcome"] for n, a in answers.items()}
    assert outcome[0] == "allowed"  # today: the permit counts, as at the camera
    assert {outcome[n] for n in range(1, 6)} == {"violation"}  # day 3 looks like any other
    assert answers[3] == answers[4] | {"notes": answers[3]["notes"]}
    assert answers[3]["notes"] == answers[4]["notes"] != []
    assert "alleen voor vandaag" in str(answers[3]["notes"])
    assert answers[0]["notes"] == []


def test_dates_run_from_today_to_a_year_ahead(web: Web) -> None:
    today = _today(web)
    client = client_of(web.app, "198.51.100.9")
    past = client.get(
        "/api/v1/platecheck", params={"plate": PLATE, "date": str(today - timedelta(days=1))}
    )
    assert past.status_code == 400 and "verleden" in past.json()["detail"]
    far = client.get(
        "/api/v1/platecheck", params={"plate": PLATE, "date": str(today + timedelta(days=400))}
    )
    assert far.status_code == 400 and "jaar vooruit" in far.json()["detail"]
    page = client.get(
        "/platecheck",
        params={"plate": PLATE, "date": str(today - timedelta(days=30)), "lang": "en"},
    )
    assert page.status_code == 400 and "A date in the past cannot be checked" in page.text
    assert _answer(web, today + timedelta(days=365))["status"] == "found"


def test_a_global_limit_holds_for_many_addresses(web: Web) -> None:
    app = _app(web, platecheck_global_per_minute=5)
    statuses = [
        client_of(app, f"203.0.113.{i}").get("/api/v1/platecheck", params={"plate": PLATE})
        for i in range(8)
    ]
    assert [s.status_code for s in statuses] == [200] * 5 + [429] * 3
    assert "te veel controles" in statuses[-1].json()["detail"].lower()


def test_the_open_flow_data_is_rate_limited_per_address(web: Web) -> None:
    limit = web.cases.flows_api_per_minute
    params = {"zone": "utrecht", "from": "2026-03-01", "to": "2026-03-31"}
    client = client_of(web.app, "192.0.2.50")
    codes = [client.get("/api/v1/flows", params=params).status_code for _ in range(limit + 2)]
    assert codes == [200] * limit + [429, 429]
    assert client_of(web.app, "192.0.2.51").get("/api/v1/flows", params=params).status_code == 200


def test_out_of_range_ids_and_dates_are_4xx_with_the_security_headers(web: Web) -> None:
    """`/cases/99999999999999999999`, `/flows?on=9999-12-31` and `/api/v1/flows` with
    9999-12-31 were 500s, one traceback each in the log."""
    officer = logged_in(web, "anna")
    policy = logged_in(web, "sara")
    checks = [
        (officer, "/cases/99999999999999999999"),
        (officer, "/cases/0"),
        (officer, "/cases/1/evidence/99999999999999999999"),
        (policy, "/flows?zone=utrecht&on=9999-12-31"),
        (client_of(web.app), "/api/v1/flows?zone=utrecht&from=9999-12-31&to=9999-12-31"),
        (client_of(web.app), "/api/v1/platecheck?plate=VNB12X&date=9999-12-31"),
    ]
    for client, path in checks:
        got = client.get(path)
        assert 400 <= got.status_code < 500, (path, got.status_code)
        assert got.headers["x-content-type-options"] == "nosniff", path
        assert got.headers["strict-transport-security"].startswith("max-age=31536000"), path


def test_a_500_carries_the_security_headers_and_no_traceback(web: Web) -> None:
    """Starlette's last-resort error handler sits outside every middleware: its 500s had
    none of the headers (despite the comment in web/app.py)."""
    broken = APIRouter()

    @broken.get("/boom")
    def boom() -> None:
        raise RuntimeError("VNB12X secret detail")

    web.app.include_router(broken)
    got = client_of(web.app).get("/boom")
    assert got.status_code == 500
    for name, value in SECURITY_HEADERS:
        assert got.headers[name] == value
    assert got.headers["cache-control"] == "no-store"
    assert "strict-transport-security" in got.headers
    assert "VNB12X" not in got.text and "Traceback" not in got.text
    missing = client_of(web.app).get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["x-frame-options"] == "DENY"


def test_hsts_can_be_left_to_the_tls_proxy(web: Web) -> None:
    app = _app(web, hsts_seconds=0)
    got = client_of(app).get("/login")
    assert got.status_code == 200 and "strict-transport-security" not in got.headers
    assert got.headers["x-frame-options"] == "DENY"
