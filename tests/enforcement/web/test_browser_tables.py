"""The shared table in the real browser: on the supervisor, audit and Stromen pages every
numeric column's header ends where its numbers end (right-aligned over right-aligned)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from enforcement.casework import audit
from enforcement.casework.models import Case
from tests.enforcement.web.browser import sign_in
from tests.enforcement.web.conftest import NOW, Web
from tests.enforcement.web.test_flows import fill

pytestmark = [pytest.mark.browser, pytest.mark.redis]

SHOTS = Path("/tmp/zes-shots")

#: Per table on the page, per numeric column (every body cell a number, told by the text,
#: not by a class): the right edge of the header's text and of every cell's text (a Range
#: around the text, so padding and alignment both count).
_EDGES = """
() => [...document.querySelectorAll('main table')].map(table => {
  const right = el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const box = range.getBoundingClientRect();
    return box.width ? box.right : null;
  };
  const heads = [...table.tHead.rows[0].cells];
  const rows = [...table.tBodies[0].rows];
  const numeric = i => rows.length > 0 && heads[i].textContent.trim() !== '' &&
    rows.every(r => /^\\d+$/.test(r.cells[i].textContent.trim()));
  return heads.map((th, i) => numeric(i) ? {
    head: right(th),
    cells: rows.map(r => right(r.cells[i])).filter(x => x !== null),
  } : null).filter(x => x !== null);
})
"""


def _misaligned(page: Page) -> list[tuple[int, int, float]]:
    """(table, column, worst distance in px) for every numeric column off by over 1 px."""
    found = []
    tables = page.evaluate(_EDGES)
    assert tables, "no table on the page"
    for t, columns in enumerate(tables):
        assert columns, f"table {t} has no numeric column"
        for c, column in enumerate(columns):
            worst = max(abs(column["head"] - x) for x in column["cells"])
            if worst > 1:
                found.append((t, c, worst))
    return found


def _decisions(web: Web) -> None:
    """Enough decisions that the counts have four digits and the headers are wider."""
    web.add_case("VNB12X")
    with web.db.sessions.begin() as session:
        case_id = session.scalars(select(Case.id)).one()
        for _ in range(1745):
            audit.append(session, "anna", "confirm", case_id=case_id, at=NOW)
        for _ in range(12):
            audit.append(session, "bram", "reject", case_id=case_id, at=NOW)


def test_numbers_line_up_under_their_headers(live_web: Web, new_context: Any) -> None:
    _decisions(live_web)
    fill(live_web)
    SHOTS.mkdir(exist_ok=True)
    page = new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(page, "sara", landing=None)
    for name, path in (
        ("supervisor", "/supervisor?days=30"),
        ("audit", "/audit"),
        ("flows", "/flows?zone=utrecht&period=week&on=2026-03-02"),
    ):
        page.goto(path)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        assert _misaligned(page) == [], name


def test_plate_check_and_queue_as_people_see_them(live_web: Web, new_context: Any) -> None:
    SHOTS.mkdir(exist_ok=True)
    live_web.add_case("VNB12X")
    page = new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto("/platecheck?plate=VNB12X&date=2026-06-01&lang=en")
    summary = page.locator("#pc-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("tbody tr")).to_have_count(page.locator("article.zone-answer").count())
    first_article = page.locator("article.zone-answer").first.bounding_box()
    box = summary.bounding_box()
    assert box and first_article and box["y"] + box["height"] <= first_article["y"]
    expect(page.locator("#zone-almere .sentence")).to_contain_text("starts on 1 January 2028")
    page.screenshot(path=str(SHOTS / "platecheck-all.png"), full_page=True)
    page.goto("/platecheck?plate=VNB12X&date=31-02-2026")
    expect(page.locator("p.error")).to_contain_text("not a date")
    expect(page.locator("#platecheck")).to_be_visible()  # the form, to correct and send again
    page.screenshot(path=str(SHOTS / "platecheck-bad-date.png"), full_page=True)
    sign_in(page, "anna", landing=None)
    page.goto("/queue?sort=outcome")
    expect(page.locator("#filter-zone")).to_have_js_property("tagName", "SELECT")
    expect(page.locator("#queue-table td.outcome").first).to_be_visible()
    expect(page.locator("#queue-table th[aria-sort=ascending]")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)
