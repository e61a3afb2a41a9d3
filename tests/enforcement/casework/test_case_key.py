"""The intake recomputes every record's case key (issue 23): a violation for an Amsterdam
plate carrying a Utrecht case key joined the Utrecht case, and its image became visible to
Utrecht officers. Pure checks first, then the intake on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select

from enforcement.areas import AreaCatalog, AreaSpec
from enforcement.casework.intake import CaseIntake, CaseKeyError, case_key_problem
from enforcement.casework.models import Case, Sighting
from enforcement.records import Violation, WindowFacts
from enforcement.zones import DEFAULT_ZONES, ZoneCatalog, default_catalog
from tests.enforcement.casework.conftest import SEEN, CaseDB, violation

AREA = AreaSpec.model_validate(
    {
        "id": "utrecht-centrum",
        "name": "Utrecht centrum",
        "municipality": "Utrecht",
        "cameras": ["site-1/cam-1"],
        "windows": [{"days": ["mon"], "start": "07:00", "end": "12:00"}],
    }
)
AREAS = AreaCatalog([AREA])


def _forged(record: Violation, key: str) -> Violation:
    return msgspec.structs.replace(record, case_key=key)


def _windowed(record: Violation, key: str, window_key: str | None = None) -> Violation:
    window = WindowFacts(
        area_id="utrecht-centrum", area="Utrecht centrum", outcome="violation",
        case_key=window_key,
    )  # fmt: skip
    return msgspec.structs.replace(record, case_key=key, window=window)


def test_a_key_naming_another_zone_or_day_is_refused() -> None:
    zones = default_catalog()
    amsterdam = violation("VNB12X", "amsterdam")
    assert case_key_problem(amsterdam, zones, None) is None
    for key in ("VNB12X:utrecht:2026-03-02", "VNB12X:amsterdam:2026-03-01",
                "VNB99Z:amsterdam:2026-03-02", "VNB12X:amsterdam:2026-03-02:x"):  # fmt: skip
        problem = case_key_problem(_forged(amsterdam, key), zones, None)
        assert problem is not None and "VNB" not in problem  # no plate in a dead letter
    unknown = msgspec.structs.replace(amsterdam, zone_id="atlantis", case_key="VNB12X:atlantis:x")
    assert case_key_problem(unknown, zones, None) == "unknown zone 'atlantis'"


def test_the_24_hour_key_is_the_local_day() -> None:
    late = SEEN.replace(hour=23, minute=30)  # 00:30 the next day in Amsterdam (UTC+1)
    record = _forged(violation(seen_at=late), "VNB12X:utrecht:2026-03-03")
    assert case_key_problem(record, default_catalog(), None) is None
    utc_day = _forged(record, "VNB12X:utrecht:2026-03-02")
    assert case_key_problem(utc_day, default_catalog(), None) is not None


def test_a_48_hour_interval_accepts_the_day_that_opened_it_only() -> None:
    zones = ZoneCatalog(
        dataclasses.replace(z, sanction_interval_hours=48) if z.id == "utrecht" else z
        for z in DEFAULT_ZONES
    )
    record = violation()  # 2026-03-02 09:30 local
    for day, ok in (("2026-02-28", True), ("2026-03-01", True), ("2026-03-04", True),
                    ("2026-02-27", False), ("2026-03-05", False)):  # fmt: skip
        problem = case_key_problem(_forged(record, f"VNB12X:utrecht:{day}"), zones, None)
        assert (problem is None) == ok, day


def test_a_window_key_must_be_the_area_of_the_records_camera() -> None:
    zones = default_catalog()
    key = "VNB12X:utrecht-centrum:2026-03-02"
    record = _windowed(violation(), key, key)
    assert case_key_problem(record, zones, AREAS) is None
    assert case_key_problem(record, zones, None) is not None  # the intake knows no area
    other_camera = msgspec.structs.replace(record, camera_id="cam-9")
    assert "area" in (case_key_problem(other_camera, zones, AREAS) or "")
    wrong_window_key = _windowed(violation(), key, "VNB12X:utrecht-centrum:2026-03-09")
    assert case_key_problem(wrong_window_key, zones, AREAS) is not None


def test_a_forged_key_never_joins_another_towns_case(case_db: CaseDB) -> None:
    utrecht = violation("VNB12X", "utrecht")
    case_db.intake().apply([utrecht])
    forged = _forged(violation("VNB12X", "amsterdam"), utrecht.case_key)
    with pytest.raises(CaseKeyError):
        case_db.intake().apply([forged, violation("VNB99Z")])
    with case_db.sessions() as session:
        case = session.scalars(select(Case)).one()  # the good record waits for the batch
        assert case.zone_id == "utrecht" and case.sightings_count == 1
        assert session.scalars(select(Sighting.passage_id)).all() == [str(utrecht.passage_id)]


def test_an_area_key_never_joins_a_case_of_another_zone(case_db: CaseDB) -> None:
    """The area of a camera is shared by the zones around it; a record of another zone with
    a right area key still may not join the case that zone's officers cannot see."""
    key = "VNB12X:utrecht-centrum:2026-03-02"
    intake = CaseIntake(case_db.sessions, case_db.vault, grace=timedelta(0), areas=AREAS)
    intake.apply([_windowed(violation("VNB12X", "utrecht"), key, key)])
    other_zone = _windowed(violation("VNB12X", "amsterdam"), key, key)
    assert intake.key_problem(other_zone) is None  # its own fields agree with the key
    with pytest.raises(CaseKeyError, match="another zone"):
        intake.apply([other_zone])
    with case_db.sessions() as session:
        assert session.scalars(select(Case.sightings_count)).one() == 1
