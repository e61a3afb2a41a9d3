"""The plate check for an entrepreneur: friendly form errors on the same page, one error
shape for the whole public API (RFC 9457 problem details in the request's language), a
summary of every zone above the details, and a zone that has not started."""

from __future__ import annotations

import re

import pytest

from tests.enforcement.web.conftest import Web

pytestmark = pytest.mark.redis
DAY = "2026-06-01"
PROBLEM = {"type", "title", "status", "detail", "instance"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"plate": "VNB12X", "date": "2026-13-45"}, "Dat is geen datum"),
        ({"plate": "VNB12X", "date": "morgen"}, "Dat is geen datum"),
        ({"plate": "X" * 80}, "Dat is geen kenteken"),
        ({"plate": "", "date": DAY}, "Dat is geen kenteken"),
        ({"plate": "VNB12X", "zone": "z" * 80}, "Onbekende zone"),
    ],
)
def test_a_bad_form_comes_back_with_its_message(
    web: Web, params: dict[str, str], message: str
) -> None:
    page = web.client().get("/platecheck", params=params)
    assert page.status_code == 400
    assert message in page.text
    assert 'id="platecheck"' in page.text  # the form again, to correct and send
    assert 'href="/queue"' not in page.text  # not the officers' error page


def test_every_api_error_is_problem_details_in_the_request_language(web: Web) -> None:
    client = web.client()
    asked = {
        "/api/v1/platecheck?plate=" + "x" * 65: 400,  # was FastAPI's 422 list
        "/api/v1/platecheck?plate=VNB12X&date=2026-13-45": 400,
        "/api/v1/platecheck?plate=%3Cb%3E": 400,  # was {"error": ...}
        "/api/v1/platecheck?plate=VNB12X&zone=atlantis": 400,
        "/api/v1/flows?zone=atlantis&from=2026-03-02&to=2026-03-03": 400,
        "/api/v1/flows?zone=utrecht": 400,  # from and to missing
        "/api/v1/nothing-here": 404,
    }
    for path, status in asked.items():
        answer = client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"] == "application/problem+json", path
        body = answer.json()
        assert set(body) >= PROBLEM and body["status"] == status, (path, body)
        assert body["instance"] == path.split("?")[0]
        assert body["type"] == "about:blank"
    dutch = client.get("/api/v1/platecheck?plate=VNB12X&date=gisteren").json()
    assert dutch["title"] == "Ongeldig verzoek"
    assert dutch["invalid-params"][0]["name"] == "date"
    english = client.get("/api/v1/platecheck?plate=VNB12X&date=x&lang=en").json()
    assert english["title"] == "Bad request" and "date" in english["detail"]
    by_header = client.get(
        "/api/v1/platecheck?plate=%3Cb%3E", headers={"accept-language": "en-GB,en;q=0.8"}
    ).json()
    assert by_header["detail"].startswith("That is not a licence plate")
    schema = client.get("/api/v1/openapi.json").json()
    responses = schema["paths"]["/platecheck"]["get"]["responses"]
    assert "application/problem+json" in responses["400"]["content"]


def test_all_zones_start_with_a_summary_table(web: Web) -> None:
    page = (
        web.client().get("/platecheck", params={"plate": "VNB12X", "date": DAY, "lang": "en"}).text
    )
    summary = page.split('id="pc-summary"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><td class="text"><a href="#zone-([a-z-]+)">', summary)
    details = re.findall(r'<article class="zone-answer[^"]*" data-zone="([a-z-]+)"', page)
    assert len(rows) > 20 and rows == details  # one row per zone, in the details' order
    assert page.index('id="pc-summary"') < page.index('class="zone-answer')
    utrecht = re.search(r'href="#zone-utrecht">Utrecht</a></td><td class="text">([^<]+)<', summary)
    assert utrecht and utrecht.group(1) == "violation"
    almere = re.search(r'href="#zone-almere">Almere</a></td><td class="text">([^<]+)<', summary)
    assert almere and almere.group(1) == "zone starts on 1 January 2028: access until then"
    assert "Bedrijfsauto" not in page.split('id="answer"', 1)[1]  # every label in English


def test_a_zone_that_has_not_started_in_the_api(web: Web) -> None:
    body = (
        web.client()
        .get(
            "/api/v1/platecheck",
            params={"plate": "VNB12X", "zone": "almere", "date": DAY, "lang": "en"},
        )
        .json()
    )
    zone = body["zones"][0]
    assert zone["starts_on"] == "1 January 2028"
    assert zone["sentence"].startswith(
        "The Almere zone starts on 1 January 2028; until then you may enter. From then:"
    )
    text = str(body)
    assert "this passage is before that" not in text and "No-hit" not in text
