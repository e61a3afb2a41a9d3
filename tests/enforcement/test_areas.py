"""Access-window areas from the law file: parsing, camera mapping and clear errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from enforcement.settings import ConfigError, load_areas, load_settings
from enforcement.windows import HOLIDAY, VehicleFilter

EXAMPLE = """
[[areas]]
id = "utrecht-centrum"
name = "Utrecht centrum"
municipality = "Utrecht"
cameras = ["site-1/cam-1", "site-1/cam-2"]
holidays = [2026-04-27]

[[areas.windows]]
days = ["mon", "tue", "wed", "thu", "fri", "sat"]
start = "07:00"
end = "12:00"
label = "ochtend"

[[areas.windows]]
days = [1, 2, 3, 4, 5]
start = 18:00:00
end = "21:00"
vehicles = "zero_emission"
max_length_cm = 1000

[[areas.windows]]
days = ["holiday"]
start = "09:00"
end = "10:00"
"""


def _areas(tmp_path: Path, text: str) -> object:
    law = tmp_path / "law.toml"
    law.write_text(text, encoding="utf-8")
    return load_areas(load_settings(law_file=law))


def test_the_documented_format(tmp_path: Path) -> None:
    catalog = _areas(tmp_path, EXAMPLE)
    area = catalog.for_camera("site-1", "cam-2")  # type: ignore[attr-defined]
    assert area is not None and area.id == "utrecht-centrum"
    assert catalog.for_camera("site-1", "cam-9") is None  # type: ignore[attr-defined]
    morning, evening, holiday = area.windows
    assert morning.days == frozenset({1, 2, 3, 4, 5, 6}) and morning.label == "ochtend"
    assert evening.start == time(18) and evening.vehicles is VehicleFilter.ZERO_EMISSION
    assert evening.max_length_cm == 1000
    assert holiday.days == frozenset({HOLIDAY})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("days = [1, 2, 3, 4, 5]", 'days = ["moon"]'), "unknown day"),
        (('"site-1/cam-2"', '"cam-2"'), "site_id/camera_id"),
        (('start = "07:00"', 'start = "25:00"'), "start"),
        (('id = "utrecht-centrum"', 'id = "Utrecht Centrum"'), "areas.0.id"),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _areas(tmp_path, EXAMPLE.replace(*change, 1))


def test_a_camera_in_two_areas_is_refused(tmp_path: Path) -> None:
    second = EXAMPLE.split("[[areas.windows]]")[0].replace("utrecht-centrum", "other")
    with pytest.raises(ConfigError, match="in two areas"):
        _areas(
            tmp_path,
            EXAMPLE + second + '[[areas.windows]]\ndays = [1]\nstart = "07:00"\nend = "08:00"\n',
        )
