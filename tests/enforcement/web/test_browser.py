"""The review app in a real browser (Playwright driving Debian's Chromium): four-eyes review
from login to export, refusals, and hostile input."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from enforcement.casework.export import export
from enforcement.casework.models import Case, EvidenceItem
from tests.enforcement.web.browser import sign_in
from tests.enforcement.web.conftest import NOW, PASSWORD, Web

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def _image_loaded(page: Page, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"))


def _status(web: Web, case_id: int) -> str:
    with web.db.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def test_four_eyes_review_from_login_to_export(live_web: Web, new_context: Any) -> None:
    web = live_web
    web.add_case()
    with web.db.sessions() as session:
        [case_id] = session.scalars(select(Case.id)).all()
        item = session.scalars(select(EvidenceItem.id)).first()

    # Nobody gets in without logging in: pages go to the login form, images answer 401.
    anonymous = new_context().new_page()
    anonymous.goto(f"/cases/{case_id}")
    expect(anonymous).to_have_url(re.compile(rf"/login\?next=%2Fcases%2F{case_id}$"))
    assert anonymous.request.get(f"/cases/{case_id}/evidence/{item}").status == 401

    # Reviewer A claims the case with "next case", sees both images and the rules, confirms.
    a_context = new_context()
    a = a_context.new_page()
    sign_in(a, "anna")
    [cookie] = [c for c in a_context.cookies() if c["name"] == "zes_session"]
    # Chromium keeps and sends a Secure cookie to http://127.0.0.1 (a secure context).
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    a.click("#next-case button")
    expect(a).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(a.locator("#img-overview")).to_be_visible()
    expect(a.locator("#img-plate_crop")).to_be_visible()
    a.wait_for_function(
        "() => [...document.querySelectorAll('#evidence img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    assert _image_loaded(a, "#img-overview") and _image_loaded(a, "#img-plate_crop")
    overview = a.locator("#img-overview").bounding_box()
    crop = a.locator("#img-plate_crop").bounding_box()
    assert overview and crop and abs(overview["y"] - crop["y"]) < 40  # side by side
    expect(a.locator("#rules")).to_contain_text("Bestelauto klasse 5: geen toegang.")
    expect(a.locator("#char-confidences")).to_contain_text("95%")
    expect(a.locator("#form-approve")).to_have_count(0)
    # The vehicle the register described, beside the photo (issue 21).
    expect(a.locator("#registered")).to_have_text(
        "Geregistreerd: wit MERCEDES-BENZ SPRINTER, gesloten opbouw, N1"
    )
    a.click("#form-confirm button")  # without the tick the browser does not send it
    expect(a).to_have_url(re.compile(rf"/cases/{case_id}$"))
    assert _status(web, case_id) == "open"
    a.check("#attest")
    a.click("#form-confirm button")
    expect(a).to_have_url(re.compile(r"/queue$"))
    expect(a.locator(".flash")).to_have_text(f"Zaak {case_id} bevestigd.")
    assert _status(web, case_id) == "confirmed"

    # A cannot approve her own confirmation: no button, and a forced POST is refused.
    a.goto(f"/cases/{case_id}")
    expect(a.locator("#notice-own-confirmation")).to_be_visible()
    expect(a.locator("#form-approve")).to_have_count(0)
    token = a.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    forced = a.request.post(f"/cases/{case_id}/approve", form={"csrf_token": token})
    assert forced.status == 409
    no_token = a.request.post(f"/cases/{case_id}/approve", form={})
    assert no_token.status == 403
    assert _status(web, case_id) == "confirmed"

    # Reviewer B (in English) approves.
    b = new_context().new_page()
    sign_in(b, "bram")
    b.click("#lang-en")
    expect(b.locator("#next-case button")).to_have_text("Next case")
    b.click("#next-case button")
    expect(b).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(b.locator("#rules")).to_contain_text("Van class 5: no access.")
    expect(b.locator("#registered")).to_have_text(
        "Registered: white MERCEDES-BENZ SPRINTER, closed body, N1"
    )
    b.click("#form-approve button")
    expect(b).to_have_url(re.compile(r"/queue$"))
    expect(b.locator(".flash")).to_have_text(f"Case {case_id} approved.")
    assert _status(web, case_id) == "approved"

    # The export holds the case exactly once; a second export is empty.
    out = web.work_dir / "exports"
    first = export(web.db.sessions, out, web.rechecker, actor="export", clock=lambda: NOW)
    second = export(web.db.sessions, out, web.rechecker, actor="export", clock=lambda: NOW)
    [batch] = first.batches
    assert (batch.kind, batch.cases) == ("fine", 1)
    path = batch.path
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    with web.db.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
    assert [(r["case_key"], r["plate"], r["amount_eur"]) for r in rows] == [
        (case.case_key, "VNB12X", "120")
    ]
    assert (second.batches, second.closed, second.held) == ([], 0, 0)
    assert sorted(p.name for p in out.glob("*.csv")) == [path.name]
    assert case.status == "exported"


def test_hostile_filter_input_stays_text_in_the_browser(live_web: Web, page: Page) -> None:
    live_web.add_case()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:  # an alert() would mean injected script ran
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, "anna")
    hostile = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>' OR 1=1"
    assert len(hostile) <= 64  # the longest filter value
    # The zone is chosen from a list; hostile text can only come in the address.
    page.goto(f"/queue?{urlencode({'zone': hostile})}")
    expect(page.locator("#queue-total")).to_have_text("0 zaken")
    expect(page.locator("p.error")).to_contain_text("Onbekende zone")
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert dialogs == []
    page.goto("/queue")
    expect(page.locator("#queue-total")).to_have_text("1 zaken")


def test_totp_enrolment_and_login_in_the_browser(live_web: Web, new_context: Any) -> None:
    """A supervisor's first login enrols the second factor from the QR code's page (no
    script: the CSP allows none), the next login asks for a code."""
    assert live_web.users["sara"]  # a supervisor: the second factor is required
    errors: list[str] = []
    first = new_context()
    page = first.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/login")
    page.fill("#username", "sara")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login/enrol$"))
    qr = page.locator("#qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box and box["width"] >= 150 and abs(box["width"] - box["height"]) < 2
    assert page.locator("script").count() == 0
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.goto("/queue")  # the password alone opens nothing
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fqueue$"))
    page.goto("/login/enrol")  # a new key on every showing: the old one is gone
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).at(NOW))
    page.click("#enrol-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/queue$"))
    page.goto("/supervisor")
    expect(page).to_have_url(re.compile(r"/supervisor$"))
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))

    second = new_context().new_page()
    second.goto("/login")
    second.fill("#username", "sara")
    second.fill("#password", PASSWORD)
    second.click("#login button[type=submit]")
    expect(second).to_have_url(re.compile(r"/login/code$"))
    second.fill("#code", pyotp.TOTP(secret).at(NOW))  # already used: refused
    second.click("#code-form button[type=submit]")
    expect(second.locator("p.error")).to_contain_text("al gebruikt")
    second.fill("#code", pyotp.TOTP(secret).at(NOW + timedelta(seconds=30)))
    second.click("#code-form button[type=submit]")
    expect(second).to_have_url(re.compile(r"/queue$"))
    expect(second.locator(".who")).to_contain_text("sara")
    assert not [e for e in errors if "Content Security Policy" in e], errors
