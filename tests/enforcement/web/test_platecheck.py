"""The public plate check: page and JSON API outside the login, its own rate limit, hostile
input, the OpenAPI description, a real browser, and no plate in the server's logs."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from enforcement.model import LOCAL_TZ
from enforcement.settings import Settings
from tests.conftest import REPO_ROOT
from tests.enforcement.web.conftest import SECRET, Web, make_web
from zes.embedded import free_port

pytestmark = pytest.mark.redis
DAY = "2026-06-01"


def test_the_page_answers_per_zone_without_a_login(web: Web) -> None:
    client = web.client()
    page = client.get("/platecheck", params={"plate": "vn-b1-2x", "date": DAY})
    assert page.status_code == 200
    assert "VNB-12-X" in page.text or "VN-B1-2X" in page.text or "VNB12X" in page.text
    assert "Bestelauto, emissieklasse 4, eerste toelating 2008: geen toegang tot Utrecht." in (
        page.text
    )
    assert "Dagontheffing: maximaal 12 dagen" in page.text
    english = client.get("/platecheck", params={"plate": "VNB12Y", "zone": "utrecht",
                                                "date": DAY, "lang": "en"})  # fmt: skip
    assert english.status_code == 200
    assert "Van, zero-emission: access to Utrecht." in english.text
    assert english.text.count('class="zone-answer') == 1


def test_the_api_and_its_openapi_description(web: Web) -> None:
    client = web.client()
    answer = client.get(
        "/api/v1/platecheck", params={"plate": "VNB 12 X", "zone": "utrecht", "date": DAY}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "found" and body["zones"][0]["outcome"] == "violation"
    assert ["R7", body["zones"][0]["reasons"][2][1]] == body["zones"][0]["reasons"][2]
    unknown = client.get("/api/v1/platecheck", params={"plate": "ZZ-99-ZZ", "lang": "en"})
    assert unknown.json()["status"] == "unknown"
    assert "not in the Dutch vehicle register" in unknown.json()["notice"]
    assert client.get("/api/v1/platecheck", params={"plate": "x" * 65}).status_code == 400
    bad = client.get("/api/v1/platecheck", params={"plate": "<b>DROP TABLE</b>"})
    assert bad.status_code == 400 and "geen kenteken" in bad.json()["detail"]
    schema = client.get("/api/v1/openapi.json").json()
    assert "/platecheck" in schema["paths"]
    params = {p["name"] for p in schema["paths"]["/platecheck"]["get"]["parameters"]}
    assert params == {"plate", "zone", "date", "lang"}
    assert "/queue" not in schema["paths"]  # the review app itself is not public API


def test_hostile_input_is_harmless(web: Web) -> None:
    client = web.client()
    for text in ("<script>alert(1)</script>", "' OR 1=1; --", "A" * 5000):
        page = client.get("/platecheck", params={"plate": text})
        assert page.status_code in (200, 400, 422)
        assert "<script>alert(1)</script>" not in page.text
    page = client.get("/platecheck", params={"plate": "<script>x</script>"})
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert client.get("/platecheck", params={"plate": "VNB12X", "zone": "'; --"}).status_code == 400


def test_too_many_checks_get_a_clear_429(
    case_db: Any, register: Any, zones_settings: Settings, tmp_path: Path
) -> None:
    web = make_web(case_db, register, zones_settings, tmp_path, platecheck_per_minute=3)
    client = web.client()
    for _ in range(3):
        assert client.get("/api/v1/platecheck", params={"plate": "VNB12X"}).status_code == 200
    refused = client.get("/api/v1/platecheck", params={"plate": "VNB12X", "lang": "en"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "about:blank",
        "title": "Too many requests",
        "status": 429,
        "detail": "Too many checks from your address. Try again in a minute.",
        "instance": "/api/v1/platecheck",
    }
    page = client.get("/platecheck", params={"plate": "VNB12X"})
    assert page.status_code == 429 and "Te veel controles" in page.text
    # Logins have their own limit: the plate check did not use it up.
    assert client.get("/login").status_code == 200


def test_counts_checks_per_zone_and_never_the_plate(web: Web) -> None:
    client = web.client()
    client.get("/api/v1/platecheck", params={"plate": "VNB12X", "zone": "utrecht"})
    client.get("/api/v1/platecheck", params={"plate": "VNB12X"})
    registry = web.app.state.zes.metrics.registry
    assert registry.get_sample_value("zes_platecheck_checks_total", {"zone": "utrecht"}) == 1
    assert registry.get_sample_value("zes_platecheck_checks_total", {"zone": "all"}) == 1
    from prometheus_client import generate_latest

    assert b"VNB12X" not in generate_latest(registry)


@pytest.mark.browser
def test_in_a_real_browser(live_web: Web, page: Any) -> None:
    page.goto("/platecheck")
    page.fill("#plate", "vnb-12-x")
    page.select_option("#zone", "all")
    page.fill("#date", DAY)
    page.click("#check")
    answer = page.locator("#answer")
    expect(answer).to_be_visible()
    utrecht = page.locator('[data-zone="utrecht"] .sentence')
    expect(utrecht).to_have_text(
        "Bestelauto, emissieklasse 4, eerste toelating 2008: geen toegang tot Utrecht."
    )
    assert page.locator(".zone-answer").count() >= 10  # every zone, one answer each
    page.fill("#plate", "<img src=x onerror=alert(1)>")
    page.click("#check")
    expect(page.locator("p.error")).to_be_visible()
    assert page.locator("img").count() == 0


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_no_plate_in_the_server_logs(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    """A real `serve` process: its whole output after checks holds paths, never the plate."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from enforcement.casework.settings import CaseSettings
        from enforcement.settings import Settings
        from enforcement.web import serve
        serve(
            Settings(_env_file=None, work_dir=Path({str(tmp_path)!r}), redis_url={redis_url!r},
                     register_prefix={redis_prefix!r}, hash_secret={SECRET.decode()!r}),
            CaseSettings(_env_file=None, port={port}, review_metrics_port=0),
            dev=True,
        )
        """
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", script], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    _get(f"http://127.0.0.1:{port}/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            base = f"http://127.0.0.1:{port}"
            assert _get(f"{base}/healthz") == 200
            soon = (datetime.now(LOCAL_TZ).date() + timedelta(days=30)).isoformat()
            assert _get(f"{base}/platecheck?plate=QX-987-Z&date={soon}") == 200  # a real clock
            assert _get(f"{base}/api/v1/platecheck?plate=qx987z") == 200
            assert _get(f"{base}/api/v1/platecheck?plate=QX%20987%20Z&zone=nowhere") == 400
            time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(10)
    text = log.read_text()
    assert "GET /api/v1/platecheck 200" in text  # the access log is there …
    assert not re.search(r"qx.?987.?z", text, re.IGNORECASE), text  # … without the plate


def test_the_api_never_names_an_r28_exemption_but_the_case_page_shows_it(web: Web) -> None:
    """Hole 3 over HTTP: the public answer treats a health-related ontheffing (R28) as not
    registered; officers still see it on the case page."""
    from datetime import UTC
    from datetime import date as day_of
    from datetime import datetime as instant

    from enforcement.model import Exemption
    from enforcement.records import ExemptionFacts
    from tests.enforcement.web.conftest import logged_in

    web.register.replace_exemptions(
        [
            Exemption.for_dates(
                "VNB12X", "aangepast-voertuig-handicap", "Utrecht", day_of(2026, 1, 1),
                day_of(2027, 12, 31), reference="R28-UTR-77",
            )
        ]
    )  # fmt: skip
    client = web.client()
    answer = client.get(
        "/api/v1/platecheck", params={"plate": "VNB12X", "zone": "utrecht", "date": DAY}
    )
    assert answer.status_code == 200
    zone = answer.json()["zones"][0]
    assert zone["outcome"] == "violation"  # as if none were registered
    text = answer.text.replace("(R28)", "")  # the list of what one could apply for
    for word in ("handicap", "aangepast-voertuig", "R28-UTR", "R28", "ontheffing aang"):
        assert word not in text, word
    page = client.get("/platecheck", params={"plate": "VNB12X", "zone": "utrecht", "date": DAY})
    assert "R28-UTR" not in page.text and "geen toegang tot Utrecht" in page.text
    # The officers' case page keeps every fact the stream recorded.
    facts = ExemptionFacts(
        type="aangepast-voertuig-handicap",
        scope="Amersfoort",
        starts_at=instant(2026, 1, 1, tzinfo=UTC),
        ends_before=instant(2027, 1, 1, tzinfo=UTC),
        status="granted",
        reference="R28-AMF-1",
    )
    web.add_case("VNB12X", exemptions=(facts,))
    anna = logged_in(web, "anna")
    case_page = anna.get("/queue").text
    case_id = int(re.findall(r'href="/cases/(\d+)"', case_page)[0])
    shown = anna.get(f"/cases/{case_id}").text
    assert "aangepast-voertuig-handicap" in shown and "R28-AMF-1" in shown
