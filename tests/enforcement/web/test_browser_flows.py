"""Stromen in the real browser: the charts render for every role that may see them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from tests.enforcement.web.browser import sign_in
from tests.enforcement.web.conftest import Web
from tests.enforcement.web.test_flows import fill

pytestmark = [pytest.mark.browser, pytest.mark.redis]

CHARTS = ("vehicle_class", "emission_fuel", "zero_emission", "hour_weekday", "origin")


@pytest.mark.parametrize(("user", "landing"), [("pia", r"/flows$"), ("sara", r"/queue$")])
def test_the_flow_charts_render_in_the_browser(
    live_web: Web, new_context: Any, tmp_path: Path, user: str, landing: str
) -> None:
    fill(live_web)
    page = new_context().new_page()
    sign_in(page, user, landing=None)
    expect(page).to_have_url(re.compile(landing))
    page.goto("/flows?zone=utrecht&period=month")
    expect(page.locator("h1")).to_have_text(re.compile("Logistieke stromen"))
    for chart in CHARTS:
        image = page.locator(f"#chart-{chart} img")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), chart
        # The screenshot of each chart shows drawn bars or lines, not an empty white box.
        shot = cv2.imdecode(np.frombuffer(image.screenshot(), np.uint8), cv2.IMREAD_COLOR)
        assert shot is not None
        coloured = np.count_nonzero(np.ptp(shot.astype(np.int16), axis=2) > 60)
        assert coloured > 100, f"{chart}: {coloured} coloured pixels"
        expect(page.locator(f"#chart-{chart} table")).to_be_visible()
    page.screenshot(path=str(tmp_path / f"flows-{user}.png"), full_page=True)
    page.screenshot(path=f"/tmp/flows-{user}.png", full_page=True)
    page.click("#lang-en")
    expect(page.locator("h1")).to_have_text("Logistics flows")


def test_a_reviewer_gets_no_flows_page(live_web: Web, new_context: Any) -> None:
    page = new_context().new_page()
    sign_in(page, "anna", landing=None)
    response = page.goto("/flows")
    assert response is not None and response.status == 403
