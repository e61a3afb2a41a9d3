"""The exemption desk in the real browser: an applicant fills the public form and reads the
status page; two permits officers grant from the queue (four-eyes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.enforcement.web.browser import sign_in
from tests.enforcement.web.conftest import Web, add_officer
from tests.enforcement.web.test_desk import DAY, with_desk

pytestmark = [pytest.mark.browser, pytest.mark.redis]

SHOTS = Path("/tmp/zes-desk-shots")


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_applicant_gets_a_day_permit_at_once(
    live_web: Web, new_context: Any, tmp_path: Path
) -> None:
    with_desk(live_web, tmp_path)
    page = new_context().new_page()
    page.goto("/desk")
    page.click("text=Haarlem")
    expect(page.locator("h1")).to_have_text("Ontheffing aanvragen: Haarlem")
    page.fill("#plate", "vnb-12-x")
    page.select_option("#type", "dagontheffing")
    page.fill("#first-day", DAY)
    page.fill("#last-day", DAY)
    page.fill("#reason", "Levering van een keuken")
    _shot(page, tmp_path, "desk-form")
    page.click("#apply")
    expect(page).to_have_url(re.compile(r"/desk/status/HAA-[A-Z0-9-]+$"))
    expect(page.locator("#status-word")).to_have_text("verleend")
    expect(page.locator("#fee")).to_have_text("Verschuldigde leges: € 30,00")
    expect(page.locator("#registered")).to_be_visible()
    _shot(page, tmp_path, "desk-status-granted")
    page.click("#lang-en")
    expect(page.locator("#status-word")).to_have_text("granted")
    assert live_web.register.exemptions(["VNB12X"])["VNB12X"][0].scope == "Haarlem"


def test_two_officers_grant_from_the_queue(live_web: Web, new_context: Any, tmp_path: Path) -> None:
    with_desk(live_web, tmp_path)
    add_officer(live_web, "amy", "permits", "Amsterdam")
    add_officer(live_web, "ben", "permits", "Amsterdam")
    applicant = new_context().new_page()
    applicant.goto("/desk/amsterdam")
    applicant.fill("#plate", "VNB12X")
    applicant.select_option("#type", "markthandel")
    applicant.fill("#first-day", DAY)
    applicant.fill("#last-day", "2026-09-30")
    applicant.fill("#trips", "48")
    applicant.fill("#reason", "Wekelijkse markt op het Dappermarktplein")
    applicant.click("#apply")
    expect(applicant.locator("#status-word")).to_have_text("in behandeling")
    expect(applicant.locator("#evidence")).to_contain_text("marktvergunning")
    _shot(applicant, tmp_path, "desk-status-review")
    status_url = applicant.url

    amy = new_context().new_page()
    sign_in(amy, "amy", landing=None)
    expect(amy).to_have_url(re.compile(r"/permits$"))
    expect(amy.locator("#permits-table tbody tr")).to_have_count(1)
    _shot(amy, tmp_path, "permits-queue")
    amy.click("#permits-table tbody tr a")
    expect(amy.locator("#law")).to_contain_text("Amsterdam")
    expect(amy.locator("#policy-check")).to_have_text(
        "Een medewerker van de gemeente beoordeelt de aanvraag."
    )
    _shot(amy, tmp_path, "permits-application")
    amy.click("#grant")
    expect(amy.locator(".flash")).to_contain_text("eerste verlening vastgelegd")

    ben = new_context().new_page()
    sign_in(ben, "ben", landing=None)
    ben.click("#permits-table tbody tr a")
    expect(ben.locator("#first-grant")).to_be_visible()
    ben.click("#grant")
    expect(ben.locator(".flash")).to_contain_text("verleend en in het register gezet")
    expect(ben.locator("#permits-empty")).to_be_visible()

    applicant.goto(status_url)
    expect(applicant.locator("#status-word")).to_have_text("verleend")
    expect(applicant.locator("#fee")).to_have_text("Verschuldigde leges: € 75,00")
    _shot(applicant, tmp_path, "desk-status-granted-by-officers")

    # Policy staff see the counts on Stromen: one application, granted by officers.
    add_officer(live_web, "pia", "policy", "Amsterdam")
    pia = new_context().new_page()
    sign_in(pia, "pia", landing=None)
    pia.click("#exemption-counts")
    counts = pia.locator('section[data-municipality="Amsterdam"] tr.total td')
    expect(counts).to_have_text(["Totaal", "", "1", "1", "0", "0"])
    _shot(pia, tmp_path, "flows-exemptions")
