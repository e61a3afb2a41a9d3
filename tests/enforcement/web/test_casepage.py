"""The officer's case page (issue 26): what an unknown or foreign read asks the officer to
check, the capture time with its zone, and the keyboard shortcuts' legend and keys. The
layout and the keys themselves are measured in the real browser
(`test_browser_casepage.py`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from enforcement.casework.models import Case
from tests.enforcement.casework.conftest import SEEN
from tests.enforcement.web.conftest import Web, csrf_of, logged_in

pytestmark = pytest.mark.redis


def _page(web: Web, lang: str = "nl") -> str:
    client = logged_in(web, "anna")
    if lang != "nl":
        page = client.get("/queue").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        client.post("/lang", data={"lang": lang, "next": "/queue", "csrf_token": token[1]})
    response = client.get("/cases/1")
    assert response.status_code == 200, response.text
    return str(response.text)


def _banner(html: str) -> tuple[str, str]:
    found = re.search(
        r'<p class="notice identify" id="notice-identify" data-kind="(\w+)">([^<]*)', html
    )
    assert found, "no identification banner"
    return found[1], found[2]


def test_an_unknown_dutch_plate_asks_to_compare_the_crop_not_to_correct(web: Web) -> None:
    web.add_case("VNB12Z", decision="undetermined", sanction="none")  # not in the register
    kind, text = _banner(_page(web))
    assert kind == "unknown_plate"
    assert "VNB-12-Z" in text and "staat niet in het RDW-register" in text
    assert "Vergelijk het kenteken in de uitsnede" in text
    assert "Klopt de lezing" in text and "geen boete" in text
    # The old advice, whatever the read: "identify the vehicle by correcting the plate".
    assert "door het kenteken te corrigeren" not in _page(web)


def test_a_foreign_shaped_read_names_the_country_and_r34(web: Web) -> None:
    web.add_case("BAB1234", decision="undetermined", sanction="none")  # a German shape
    kind, text = _banner(_page(web))
    assert kind == "foreign_plate"
    assert "Duitsland" in text and "R34" in text and "landcode" in text
    kind, text = _banner(_page(web, "en"))
    assert kind == "foreign_plate" and "Germany" in text and "R34" in text


def test_a_read_of_no_known_shape_asks_to_read_the_crop(web: Web) -> None:
    web.add_case("12ABC3", decision="undetermined", sanction="none")  # vowels: no sidecode
    kind, text = _banner(_page(web))
    assert kind == "no_format" and "past bij geen bekend kentekenformaat" in text


def test_a_known_vehicle_gets_no_identification_banner(web: Web) -> None:
    web.add_case()
    assert 'id="notice-identify"' not in _page(web)


def test_the_capture_time_is_local_with_its_zone(web: Web) -> None:
    web.add_case()  # seen 2026-03-02 08:30 UTC: 09:30 in Amsterdam (CET)
    html = _page(web)
    found = re.search(r'<p class="captured" id="captured">([^<]*)</p>', html)
    assert found
    assert "2 maart 2026 09:30:00 CET" in found[1] and "Europe/Amsterdam" in found[1]
    found = re.search(r'<p class="captured" id="captured">([^<]*)</p>', _page(web, "en"))
    assert found and "2 March 2026 09:30:00 CET" in found[1]


def test_the_shortcuts_are_keys_of_the_controls_and_listed(web: Web) -> None:
    web.add_case()
    client = logged_in(web, "anna")
    page = client.get("/queue").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    assert client.post("/queue/next", data={"csrf_token": token[1]}).status_code == 303
    html = client.get("/cases/1").text
    keys = dict(re.findall(r'id="([\w-]+)"[^>]*accesskey="(\w)"', html))
    assert keys["zoom-crop"] == "z" and keys["attest"] == "a"
    assert [keys[f"reason-{i}"] for i in range(1, 7)] == ["1", "2", "3", "4", "5", "6"]
    for form, key in (("form-confirm", "c"), ("form-reject", "r"), ("case-next", "n")):
        block = html[html.index(f'id="{form}"') :]
        assert re.search(
            rf'<button type="submit"[^>]*accesskey="{key}"', block[: block.index("</form>")]
        )
    legend = html[html.index('id="shortcuts"') :]
    legend = legend[: legend.index("</aside>")]
    for key in ("N", "A", "C", "R", "Z"):
        assert f"<kbd>{key}</kbd>" in legend
    assert "volgende zaak" in legend and "Tikken in een invoerveld" in legend


def test_next_from_a_held_case_skips_it_and_lets_its_claim_go(web: Web) -> None:
    web.add_case("VNB12X")
    web.add_case("VNB12Y", seen_at=SEEN + timedelta(minutes=5))
    client = logged_in(web, "anna")
    token = csrf_of(client.get("/queue").text)
    assert client.post("/queue/next", data={"csrf_token": token}).headers["location"] == "/cases/1"
    # The queue's "next case" hands the held case back; the case page's goes on.
    assert client.post("/queue/next", data={"csrf_token": token}).headers["location"] == "/cases/1"
    skipped = client.post("/cases/1/next", data={"csrf_token": token})
    assert skipped.status_code == 303 and skipped.headers["location"] == "/cases/2"
    with web.db.sessions() as session:
        first, second = session.get(Case, 1), session.get(Case, 2)
        assert first and second
        assert first.claimed_by is None and second.claimed_by == web.users["anna"]
    # The skipped case is free again, so it is the next one after case 2.
    assert client.post("/cases/2/next", data={"csrf_token": token}).headers["location"] == (
        "/cases/1"
    )
    # Once nothing else may be taken: back to the queue with the message.
    assert _post_status(client, "/cases/1/confirm", token, attest="yes") == 303
    last = client.post("/cases/2/next", data={"csrf_token": token})
    assert last.headers["location"] == "/queue"
    assert "Er is nu geen zaak voor u beschikbaar." in client.get("/queue").text


def _post_status(client: Any, path: str, token: str, **data: str) -> int:
    return int(client.post(path, data={"csrf_token": token, **data}).status_code)
