"""Stromen in the back office and the open flow data of the public API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from enforcement.casework.accounts import add_user
from enforcement.flows import store
from enforcement.flows.opendata import COLUMNS
from tests.enforcement.flows.helpers import batch, key
from tests.enforcement.web.conftest import NOW, PASSWORD, Web, logged_in

pytestmark = pytest.mark.redis

HOURS = [dt.datetime(2026, 3, d, h, tzinfo=dt.UTC) for d in (2, 3) for h in (6, 7, 12)]


def fill(web: Web) -> None:
    """Two days of flows into Utrecht: diesel and electric vans, a few rare trucks, foreign."""
    with web.db.sessions.begin() as session:
        add_user(session, "pia", PASSWORD, "policy", actor="test", all_municipalities=True)
        add_user(
            session, "hugo", PASSWORD, "policy", actor="test", municipalities=["Haarlem"],
            zones=web.rechecker.zones,
        )  # fmt: skip
        keys = []
        for hour in HOURS:
            keys += [key(hour=hour)] * 3
            keys += [key(hour=hour, fuel="zero_emission", emission="Z")] * 2
            keys.append(key(hour=hour, origin="foreign", vehicle_class="unknown", fuel="unknown"))
        keys.append(key(hour=HOURS[0], vehicle_class="tractor", emission="5"))  # one rare truck
        store.apply(session, [batch(range(2), keys)], NOW)


def test_policy_staff_land_on_flows_and_see_every_chart(web: Web) -> None:
    fill(web)
    client = web.client()
    from tests.enforcement.web.conftest import login

    response = login(client, "pia")
    assert response.headers["location"] == "/flows"
    page = client.get("/flows")
    assert page.status_code == 200
    for chart in ("vehicle_class", "emission_fuel", "zero_emission", "hour_weekday", "origin"):
        assert f'src="/flows/chart/{chart}.svg?' in page.text
        assert f'href="/flows/{chart}.csv?' in page.text
    assert "/flows/chart/window.svg" not in page.text  # a zone, not a window area
    assert 'id="flows-total"' in page.text
    assert client.get("/queue").status_code == 403  # no cases for policy staff
    assert client.get("/cases/1").status_code == 403


def test_a_reviewer_is_refused_and_supervisors_see_it(web: Web) -> None:
    fill(web)
    assert logged_in(web, "anna").get("/flows").status_code == 403
    assert logged_in(web, "sara").get("/flows").status_code == 200
    assert web.client().get("/flows").status_code in (303, 401)  # not logged in


def test_policy_staff_see_only_their_municipalities_zones(web: Web) -> None:
    fill(web)
    client = logged_in(web, "hugo")  # Haarlem
    assert client.get("/flows?zone=utrecht").status_code == 404
    assert client.get("/flows/chart/vehicle_class.svg?zone=utrecht").status_code == 404
    assert client.get("/flows/origin.csv?zone=utrecht").status_code == 404
    page = client.get("/flows")
    assert page.status_code == 200
    assert 'value="haarlem"' in page.text and 'value="utrecht"' not in page.text


def test_charts_are_svg_without_script(web: Web) -> None:
    fill(web)
    client = logged_in(web, "pia")
    for chart in ("vehicle_class", "zero_emission", "hour_weekday"):
        response = client.get(f"/flows/chart/{chart}.svg?zone=utrecht&period=month")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.text.lstrip().startswith("<?xml")
        assert "<script" not in response.text
        assert "script-src" not in response.headers["content-security-policy"]
    assert client.get("/flows/chart/nothing.svg").status_code == 404


def test_the_table_csv_has_the_exact_numbers_for_staff(web: Web) -> None:
    fill(web)
    client = logged_in(web, "pia")
    response = client.get(
        "/flows/vehicle_class.csv?zone=utrecht&period=custom&from=2026-03-02&to=2026-03-03"
        "&granularity=day"
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_day = {r["row"]: r for r in rows}
    assert by_day["2026-03-02"]["van"] == str(2 * 3 * 5)
    assert by_day["2026-03-02"]["tractor"] == "2"  # exact, inside the back office


def test_open_data_suppresses_small_cells_and_needs_no_login(web: Web) -> None:
    fill(web)
    client = web.client()
    response = client.get(
        "/api/v1/flows?zone=utrecht&from=2026-03-02&to=2026-03-03&granularity=day&format=csv"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == COLUMNS
    cell = {(r["table"], r["row"], r["column"]): r for r in rows}
    assert cell["vehicle_class", "2026-03-02", "tractor"]["count"] == "<5"
    total = cell["vehicle_class", "2026-03-02", "total"]
    assert total["rounded"] == "true"
    assert int(total["count"]) % 5 == 0
    assert cell["vehicle_class", "2026-03-03", "total"] == {
        **cell["vehicle_class", "2026-03-03", "total"],
        "count": "30",
        "rounded": "false",
    }
    as_json = client.get("/api/v1/flows?zone=utrecht&from=2026-03-02&to=2026-03-03").json()
    assert as_json["min_cell"] == 5
    assert all(set(r) == {*COLUMNS, "suppressed"} for r in as_json["rows"])
    # Numbers as numbers: a count is an integer, or null with `suppressed` for `<k`.
    by_day = client.get(
        "/api/v1/flows?zone=utrecht&from=2026-03-02&to=2026-03-03&granularity=day"
    ).json()
    in_json = {(r["table"], r["row"], r["column"]): r for r in by_day["rows"]}
    assert in_json["vehicle_class", "2026-03-03", "total"]["count"] == 30
    assert in_json["vehicle_class", "2026-03-02", "tractor"]["count"] is None
    assert in_json["vehicle_class", "2026-03-02", "tractor"]["suppressed"] is True
    assert all(
        (isinstance(r["count"], int) and not r["suppressed"]) or r["count"] is None
        for r in as_json["rows"]
    )
    assert (
        client.get("/api/v1/flows?zone=atlantis&from=2026-03-02&to=2026-03-03").status_code == 400
    )
    bad = client.get("/api/v1/flows?zone=utrecht&from=2026-03-05&to=2026-03-01")
    assert bad.status_code == 400


def test_open_data_is_in_the_same_openapi_document_as_the_plate_check(web: Web) -> None:
    paths = web.client().get("/api/v1/openapi.json").json()["paths"]
    assert {"/platecheck", "/flows"} <= set(paths)
    assert "small cells suppressed" in paths["/flows"]["get"]["summary"]


def _selected_zone(html: str) -> str:
    found = re.search(r'<option value="([^"]+)" selected>', html.split('name="zone"', 1)[1])
    assert found, "no zone selected"
    return found.group(1)


def test_the_page_opens_on_the_busiest_zone_then_on_the_last_one_chosen(web: Web) -> None:
    fill(web)  # every flow is in Utrecht; Amersfoort (first by name) has none
    client = logged_in(web, "pia")
    first = client.get("/flows")
    assert first.status_code == 200
    assert _selected_zone(first.text) == "utrecht"
    assert client.get("/flows?zone=haarlem").status_code == 200
    assert _selected_zone(client.get("/flows").text) == "haarlem"  # the last one chosen


def test_no_bars_for_days_to_come_and_every_label_translated(web: Web) -> None:
    fill(web)
    with web.db.sessions.begin() as session:  # Dutch vans whose emission class is unknown
        unknown = [key(hour=HOURS[1], emission="unknown")] * 6
        store.apply(session, [batch(range(2, 3), unknown)], NOW)
    client = logged_in(web, "pia")
    page = client.get("/flows?zone=utrecht&period=month").text  # NOW is 3 March 2026
    table = page.split('id="chart-vehicle_class"', 1)[1].split("</table>", 1)[0]
    days = re.findall(r'<th scope="row" class="row">(2026-03-\d\d)</th>', table)
    assert days == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert 'value="2026-03-03"' in page  # the period's last day shown is today
    # The foreign plates' unknown class and emission class in words, in either language.
    emission = page.split('id="chart-emission_fuel"', 1)[1].split("</section>", 1)[0]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", emission)
    assert "onbekend" in cells and "unknown" not in cells
    svg = client.get("/flows/chart/emission_fuel.svg?zone=utrecht&period=month").text
    assert "onbekend" in svg and ">unknown<" not in svg
