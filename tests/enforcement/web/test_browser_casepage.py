"""The officer's case page in the real browser (Playwright driving Debian's Chromium, issue
26): the crop, the register's description and the confirm button on one screen without
scrolling at 1920x1080 and 1366x768, and the keyboard shortcuts (Alt+key: the CSP allows
no script, so they are the controls' own access keys), which never fire while typing."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FloatRect, Page, expect
from sqlalchemy import select

from enforcement.casework.models import Case
from enforcement.records import EvidenceRef
from tests.enforcement.casework.conftest import SEEN, evidence_for, violation
from tests.enforcement.web.browser import sign_in
from tests.enforcement.web.conftest import NOW, Web, jpeg

pytestmark = [pytest.mark.browser, pytest.mark.redis]

SIZES = ((1920, 1080), (1366, 768))
#: Set to a folder to keep the screenshots of the layout test (to look at them).
SCREENSHOTS = os.environ.get("ZES_SCREENSHOT_DIR")


def _add_camera_case(
    web: Web, plate: str = "VNB12X", minutes: int = 0, decision: str = "violation"
) -> None:
    """A case with images the size the cameras send (a 640x360 overview, a plate crop)."""
    passage = uuid.uuid4()
    overview = evidence_for(passage, "overview", jpeg(640, 360, 180))
    crop = evidence_for(passage, "plate_crop", jpeg(180, 48, 230))
    refs = tuple(
        EvidenceRef(kind=e.kind, sha256=e.sha256, size=len(e.data)) for e in (overview, crop)
    )
    seen = SEEN.replace(minute=minutes)
    sanction = "fine" if decision == "violation" else "none"
    record = violation(
        plate, seen_at=seen, passage_id=passage, evidence=refs, decision=decision,
        sanction=sanction,
    )  # fmt: skip
    web.db.intake(now=seen).apply([record], [overview, crop])


def _images_loaded(page: Page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('#evidence img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def _inside(page: Page, selector: str, width: int, height: int) -> FloatRect:
    box = page.locator(selector).bounding_box()
    assert box, selector
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= width, (selector, box, width)
    assert box["y"] + box["height"] <= height, (selector, box, height)
    return box


def _alt(page: Page, key: str) -> None:
    """Alt+`key` as a keyboard sends it: Chromium finds an access key by the event's
    unmodified text, which Playwright's `keyboard.press("Alt+z")` leaves out (it matches
    nothing), so the event goes through the DevTools protocol with the text a real key
    press carries."""
    session = page.context.new_cdp_session(page)
    code = f"Digit{key}" if key.isdigit() else f"Key{key.upper()}"
    event = {"modifiers": 1, "key": key, "code": code, "windowsVirtualKeyCode": ord(key.upper())}
    session.send("Input.dispatchKeyEvent", {"type": "keyDown", "unmodifiedText": key, **event})
    session.send("Input.dispatchKeyEvent", {"type": "keyUp", **event})
    session.detach()


def _case_ids(web: Web) -> list[int]:
    with web.db.sessions() as session:
        return list(session.scalars(select(Case.id).order_by(Case.id)))


def _case(web: Web, case_id: int) -> Case:
    with web.db.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_evidence_description_and_decision_fit_one_screen(
    live_web: Web, new_context: Any, width: int, height: int
) -> None:
    web = live_web
    _add_camera_case(web)
    [case_id] = _case_ids(web)
    page = new_context(viewport={"width": width, "height": height}).new_page()
    sign_in(page, "anna")
    page.click("#next-case button")  # claims it: the flash line is on the page too
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    _images_loaded(page)
    assert page.evaluate("() => [window.scrollX, window.scrollY]") == [0, 0]
    crop = _inside(page, "#img-plate_crop", width, height)
    overview = _inside(page, "#img-overview", width, height)
    _inside(page, "#registered", width, height)
    _inside(page, "#form-confirm button", width, height)
    _inside(page, "#attest", width, height)
    _inside(page, "#form-reject button", width, height)
    _inside(page, "#shortcuts", width, height)  # the legend is in view too
    _inside(page, "#case-next button", width, height)
    assert crop["width"] >= 120 and overview["width"] >= 320  # shown, not shrunk away
    expect(page.locator("#registered")).to_contain_text("wit MERCEDES-BENZ SPRINTER")
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"case-{width}x{height}.png"))


def test_a_foreign_read_says_what_to_check_on_the_same_screen(
    live_web: Web, new_context: Any
) -> None:
    _add_camera_case(live_web, "BAB1234", decision="undetermined")  # a German shape
    width, height = 1366, 768
    page = new_context(viewport={"width": width, "height": height}).new_page()
    sign_in(page, "anna")
    page.click("#next-case button")
    _images_loaded(page)
    banner = page.locator("#notice-identify")
    expect(banner).to_contain_text("Duitsland")
    expect(banner).to_contain_text("R34")
    expect(banner).not_to_contain_text("stel eerst het voertuig vast")
    for selector in ("#notice-identify", "#img-plate_crop", "#form-reject button"):
        _inside(page, selector, width, height)
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"case-foreign-{width}x{height}.png"))


def test_shortcuts_decide_and_never_fire_while_typing(live_web: Web, new_context: Any) -> None:
    web = live_web
    for minutes, plate in ((0, "VNB12X"), (10, "VNF34X"), (20, "VNG56X")):
        _add_camera_case(web, plate, minutes)
    first, second, third = _case_ids(web)
    web.clock.now = NOW
    page = new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(page, "anna")
    page.click("#next-case button")
    expect(page).to_have_url(re.compile(rf"/cases/{first}$"))
    _images_loaded(page)

    # Typing the shortcut letters and digits into a form field does nothing but type.
    page.click("#reject-text")
    page.keyboard.type("n a c r z x 1 2")
    expect(page.locator("#reject-text")).to_have_value("n a c r z x 1 2")
    expect(page).to_have_url(re.compile(rf"/cases/{first}$"))
    assert page.locator("input[name=reason]:checked").count() == 0
    assert not page.locator("#attest").is_checked()
    assert _case(web, first).status == "open"
    page.fill("#reject-text", "")

    # Alt+Z enlarges the crop, Alt+X closes it again.
    small = page.locator("#img-plate_crop").bounding_box()
    _alt(page, "z")
    expect(page).to_have_url(re.compile(rf"/cases/{first}#crop$"))
    big = page.locator("#img-plate_crop").bounding_box()
    assert small and big and big["width"] >= 3 * small["width"]
    _alt(page, "x")
    expect(page).to_have_url(re.compile(rf"/cases/{first}#evidence$"))
    closed = page.locator("#img-plate_crop").bounding_box()
    assert closed and closed["width"] == small["width"]

    # Alt+C without the tick confirms nothing; Alt+A ticks, Alt+C confirms.
    _alt(page, "c")
    page.wait_for_timeout(500)  # time for a submission that must not happen
    expect(page).to_have_url(re.compile(rf"/cases/{first}#evidence$"))
    assert _case(web, first).status == "open"
    _alt(page, "a")
    assert page.locator("#attest").is_checked()
    _alt(page, "c")
    expect(page).to_have_url(re.compile(r"/queue$"))
    assert _case(web, first).status == "confirmed"

    # Alt+N on a case page takes the next case; on a case one holds, skips it for a colleague.
    page.goto(f"/cases/{first}")
    _alt(page, "n")
    expect(page).to_have_url(re.compile(rf"/cases/{second}$"))
    _alt(page, "n")
    expect(page).to_have_url(re.compile(rf"/cases/{third}$"))
    assert _case(web, second).claimed_by is None

    # Alt+2 chooses the second reason, Alt+R rejects with it.
    _alt(page, "2")
    assert page.locator("#reason-2").is_checked()
    _alt(page, "r")
    expect(page).to_have_url(re.compile(r"/queue$"))
    case = _case(web, third)
    assert (case.status, case.reject_reason) == ("rejected", "exemption_found")
    assert _case(web, second).status == "open"
