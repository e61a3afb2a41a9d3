"""Signing in through the review app's real login form, for the Chromium tests."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect

from tests.enforcement.web.conftest import NOW, PASSWORD


def sign_in(page: Page, username: str, landing: str | None = r"/queue$") -> None:
    """Log `username` in with the test password; a role that needs a second factor enrols
    it on the way (a code at the app's clock, `NOW`). With `landing`, wait until the page
    after login is that one (a regular expression over the URL)."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    if re.search(r"/login/enrol$", page.url):
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.fill("#code", pyotp.TOTP(secret).at(NOW))
        page.click("#enrol-form button[type=submit]")
    if landing is not None:
        expect(page).to_have_url(re.compile(landing))
