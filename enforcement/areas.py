"""Access-window areas as configured: which cameras watch which area.

The law file (`ZES_LAW_FILE`, see `enforcement.settings`) declares areas next to zones:

    [[areas]]
    id = "utrecht-binnenstad"            # slug: case keys, metric labels, exemption scope
    name = "Utrecht binnenstad"
    municipality = "Utrecht"
    cameras = ["oudegracht/cam-1"]       # site_id/camera_id of the cameras at its entrances
    start = 2026-01-01                   # optional: first day enforced
    holidays = [2026-12-25, 2026-12-26]  # on these days only windows with "holiday" apply
    kinds = ["Bedrijfsauto"]             # RDW voertuigsoort the windows apply to (default)

    [[areas.windows]]
    days = ["mon", "tue", "wed", "thu", "fri", "sat"]
    start = "07:00"
    end = "12:00"                        # exclusive; end <= start runs past midnight
    vehicles = "all_goods"               # or "zero_emission" (a ZE privilege window)
    max_length_cm = 1000                 # optional limits
    label = "ochtend"

Area exemptions (market traders, residents' permits) are ordinary exemption rows whose
scope is the area's id or name; they load with `zes register load-exemptions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field, field_validator

from enforcement.model import fold_name
from enforcement.windows import HOLIDAY, AccessArea, AccessWindow, VehicleFilter

DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


class WindowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[str | int, ...] = Field(
        description='Weekdays ("mon".."sun" or ISO 1..7) and/or "holiday".'
    )
    start: time = Field(description="Local start time, HH:MM.")
    end: time = Field(description="Local end time (exclusive); <= start spans midnight.")
    vehicles: VehicleFilter = Field(
        VehicleFilter.ALL_GOODS, description="all_goods, or zero_emission for a ZE privilege."
    )
    max_length_cm: int | None = Field(None, gt=0, description="Longest vehicle admitted.")
    max_mass_kg: int | None = Field(None, gt=0, description="Heaviest vehicle admitted.")
    label: str = Field("", description="Name shown to reviewers, e.g. 'ochtend'.")

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[str | int, ...]) -> tuple[str | int, ...]:
        for day in value:
            if day not in DAY_NAMES and day != "holiday" and day not in range(1, 8):
                raise ValueError(f"unknown day {day!r}: use mon..sun, 1..7 or holiday")
        if not value:
            raise ValueError("a window needs at least one day")
        return value

    def window(self) -> AccessWindow:
        days = frozenset(
            HOLIDAY if d == "holiday" else DAY_NAMES[d] if isinstance(d, str) else d
            for d in self.days
        )
        return AccessWindow(
            days, self.start, self.end, self.vehicles, self.max_length_cm, self.max_mass_kg,
            self.label,
        )  # fmt: skip


class AreaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Slug.")
    name: str = Field(description="Display name.")
    municipality: str = Field(description="Municipality that set the windows.")
    cameras: tuple[str, ...] = Field(description="site_id/camera_id of its entrance cameras.")
    windows: tuple[WindowSpec, ...] = Field(description="Loading windows.")
    start: date | None = Field(None, description="First day enforced; none = always.")
    holidays: tuple[date, ...] = Field((), description="Days on which holiday windows apply.")
    kinds: tuple[str, ...] = Field(("Bedrijfsauto",), description="voertuigsoort in scope.")

    @field_validator("cameras")
    @classmethod
    def _cameras(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for camera in value:
            if camera.count("/") != 1 or not all(camera.split("/")):
                raise ValueError(f"camera {camera!r}: write site_id/camera_id")
        return value

    def area(self) -> AccessArea:
        return AccessArea(
            id=self.id,
            name=self.name,
            municipality=self.municipality,
            windows=tuple(w.window() for w in self.windows),
            holidays=frozenset(self.holidays),
            start=self.start,
            kinds=frozenset(self.kinds),
        )


class AreaCatalog:
    """Areas by id and by the cameras that watch them."""

    def __init__(self, specs: Iterable[AreaSpec] = ()) -> None:
        self._areas: dict[str, AccessArea] = {}
        self._by_camera: dict[tuple[str, str], AccessArea] = {}
        for spec in specs:
            area = spec.area()
            self._areas[area.id] = area
            for camera in spec.cameras:
                site, cam = camera.split("/")
                if (site, cam) in self._by_camera:
                    other = self._by_camera[site, cam].id
                    raise ValueError(f"camera {camera} is in two areas ({other}, {area.id})")
                self._by_camera[site, cam] = area

    def __iter__(self) -> Iterator[AccessArea]:
        return iter(self._areas.values())

    def __len__(self) -> int:
        return len(self._areas)

    def get(self, area_id: str) -> AccessArea | None:
        return self._areas.get(area_id) or next(
            (a for a in self._areas.values() if fold_name(a.name) == fold_name(area_id)), None
        )

    def for_camera(self, site_id: str, camera_id: str) -> AccessArea | None:
        return self._by_camera.get((site_id, camera_id))
