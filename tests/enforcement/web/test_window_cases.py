"""Cases from an access-window area show which window was missed, the nearest allowed one and
whether the vehicle is zero-emission (so privilege windows apply to it)."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select

from enforcement.casework.models import Case
from enforcement.model import LOCAL_TZ
from enforcement.records import WindowFacts
from tests.enforcement.casework.conftest import SEEN, violation
from tests.enforcement.casework.test_case_key import AREAS
from tests.enforcement.web.conftest import Web, logged_in

pytestmark = pytest.mark.redis


def test_the_case_page_shows_the_missed_and_nearest_window(web: Web) -> None:
    start = SEEN.astimezone(LOCAL_TZ).replace(hour=7, minute=0) + timedelta(days=1)
    facts = WindowFacts(
        area_id="utrecht-centrum", area="Utrecht centrum", outcome="violation",
        case_key="VNB12X:utrecht-centrum:2026-03-02", nearest_window="07:00-12:00",
        nearest_start=start, nearest_end=start + timedelta(hours=5), zero_emission=False,
    )  # fmt: skip
    record = msgspec.structs.replace(violation("VNB12X"), window=facts)
    web.db.intake(now=SEEN, areas=AREAS).apply([record])
    with web.db.sessions() as session:
        case_id = session.scalars(select(Case.id)).one()
    anna = logged_in(web, "anna")
    page = anna.get(f"/cases/{case_id}").text
    assert "Venstertijden Utrecht centrum" in page
    assert "buiten de vensters" in page
    assert 'id="window-nearest">07:00-12:00 · 3 maart 2026 07:00 – 3 maart 2026 12:00<' in page
    assert '<dd id="window-ze">nee</dd>' in page
