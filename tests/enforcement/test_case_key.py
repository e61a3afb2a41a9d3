"""`model.case_key`: one spelling of a sanction case's key for the register, the stream and
the case database (issue 24 item 2)."""

from __future__ import annotations

from datetime import date

from enforcement.model import case_key
from enforcement.register.protocol import CaseClaim


def test_the_key_names_plate_scope_and_the_interval_s_first_day() -> None:
    assert case_key("VBB12B", "utrecht", date(2026, 6, 3)) == "VBB12B:utrecht:2026-06-03"


def test_a_window_case_is_scoped_by_its_area() -> None:
    zone = case_key("VBB12B", "utrecht", date(2026, 6, 3))
    area = case_key("VBB12B", "utrecht-centrum-venster", date(2026, 6, 3))
    assert zone != area and area == "VBB12B:utrecht-centrum-venster:2026-06-03"


def test_a_claim_s_key_is_the_core_s_key() -> None:
    claim = CaseClaim("VBB12B", "den-haag", date(2026, 1, 31), first=True)
    assert claim.case_key == case_key("VBB12B", "den-haag", date(2026, 1, 31))
