"""The officer's queue: the zone chosen from the officer's own zones (any case or
spelling in the address), outcome and sanction columns, and sortable columns."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.enforcement.casework.conftest import SEEN
from tests.enforcement.web.conftest import Web, add_officer, logged_in

pytestmark = pytest.mark.redis

CELLS = re.compile(
    r'<tr><td class="num"><a href="/cases/(\d+)">\d+</a></td><td class="plate">([^<]*)</td>'
    r'<td class="text">([^<]*)</td><td class="text outcome">([^<]*)</td>'
    r'<td class="text sanction">([^<]*)</td>'
)


def _rows(html: str) -> list[tuple[str, str, str, str]]:
    return [
        (plate, zone, outcome, sanction)
        for _, plate, zone, outcome, sanction in CELLS.findall(html)
    ]


def test_the_zone_is_one_of_the_officers_zones_in_any_spelling(web: Web) -> None:
    web.add_case("VNB12X", zone="haarlem")
    web.add_case("VNB13X", zone="den-haag")
    add_officer(web, "henk", "reviewer", "Haarlem", "Den Haag")
    henk = logged_in(web, "henk")
    page = henk.get("/queue").text
    choices = re.findall(
        r'<option value="([a-z-]+)"', page.split('id="filter-zone"', 1)[1].split("</select>", 1)[0]
    )
    assert choices == ["den-haag", "haarlem"]  # his zones only, by name; no free text
    for asked in ("haarlem", "Haarlem", "HAARLEM"):
        shown = henk.get("/queue", params={"zone": asked}).text
        assert "1 zaken" in shown, asked
        assert '<option value="haarlem" selected>' in shown
    for asked in ("Den Haag", "den-haag", "den haag"):
        assert _rows(henk.get("/queue", params={"zone": asked}).text) == [
            ("VNB-13-X", "den-haag", "overtreding", "boete EUR 120")
        ], asked
    not_his = henk.get("/queue", params={"zone": "utrecht"}).text
    assert "Onbekende zone of niet een van uw zones" in not_his and "0 zaken" in not_his


def test_outcome_and_sanction_columns_sort(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(hours=3))
    web.add_case("VNB13X", seen_at=SEEN - timedelta(hours=2), decision="undetermined",
                 sanction="none")  # fmt: skip
    web.add_case("VNB14X", seen_at=SEEN - timedelta(hours=1), sanction="warning")
    anna = logged_in(web, "anna")
    oldest_first = _rows(anna.get("/queue").text)
    assert oldest_first == [
        ("VNB-12-X", "utrecht", "overtreding", "boete EUR 120"),
        ("VNB-13-X", "utrecht", "niet te bepalen", "nog geen"),
        ("VNB-14-X", "utrecht", "overtreding", "waarschuwing"),
    ]
    page = anna.get("/queue").text
    link = re.search(r'<th scope="col" class="text outcome sortable"><a href="([^"]+)">', page)
    assert link, "the outcome header is a sort link"
    by_outcome = anna.get(link.group(1).replace("&amp;", "&")).text
    assert [r[2] for r in _rows(by_outcome)] == ["niet te bepalen", "overtreding", "overtreding"]
    assert 'aria-sort="ascending"' in by_outcome
    reverse = re.search(r'<th scope="col" class="text outcome sortable" aria-sort="ascending">'
                        r'<a href="([^"]+)">', by_outcome)  # fmt: skip
    assert reverse and "sort=-outcome" in reverse.group(1)
    descending = _rows(anna.get("/queue", params={"sort": "-outcome"}).text)
    assert [r[2] for r in descending] == ["overtreding", "overtreding", "niet te bepalen"]
    by_sanction = _rows(anna.get("/queue", params={"sort": "sanction"}).text)
    assert [r[3] for r in by_sanction] == ["boete EUR 120", "nog geen", "waarschuwing"]
    nonsense = _rows(anna.get("/queue", params={"sort": "plate; DROP TABLE cases"}).text)
    assert nonsense == oldest_first  # an unknown order is the default one
