"""The known ZE-zones and their start dates (rules spec §4), as data.

Where sources disagree on a start date we take the later one: before a zone is certainly in
force, nobody is fined (never fine on doubt). A deployment overrides or extends this catalogue
from its settings file; the law itself never looks anything up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date

from enforcement.model import Zone, fold_name

_FIRST_WAVE = (
    "Amersfoort",
    "Amsterdam",
    "Assen",
    "Delft",
    "Den Haag",
    "Eindhoven",
    "Gouda",
    "Leiden",
    "Maastricht",
    "Nijmegen",
    "Rotterdam",
    "Tilburg",
    "Utrecht",
    "Zwolle",
)


def zone_id(name: str) -> str:
    """A stable slug: `'s-Hertogenbosch` -> `s-hertogenbosch`, `Den Haag` -> `den-haag`."""
    out: list[str] = []
    for ch in name.casefold():
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def _zone(name: str, start: date | None, **kwargs: object) -> Zone:
    municipality = kwargs.pop("municipality", name)
    assert isinstance(municipality, str)
    return Zone(id=zone_id(name), name=name, municipality=municipality, start=start, **kwargs)  # type: ignore[arg-type]


DEFAULT_ZONES: tuple[Zone, ...] = (
    *(_zone(n, date(2025, 1, 1)) for n in _FIRST_WAVE if n != "Den Haag"),
    _zone("Den Haag", date(2025, 1, 1), aliases=("'s-Gravenhage", "The Hague")),
    # 's-Hertogenbosch started fining in September 2025: the minimum 6 months after 1 March.
    _zone("'s-Hertogenbosch", date(2025, 3, 1), aliases=("Den Bosch",)),
    _zone("Groningen", date(2025, 4, 1)),
    _zone("Haarlem", date(2025, 6, 1)),
    _zone("Enschede", date(2025, 7, 1)),
    _zone("Schiphol", date(2026, 1, 1), municipality="Haarlemmermeer"),
    # Disputed: 2026-01-01 (rompslomp) or July 2026 (markt-visie) -> the later.
    _zone("Dordrecht", date(2026, 7, 1)),
    # Disputed: 2026-06-01 (rompslomp) or July 2026 (markt-visie) -> the later.
    _zone("Arnhem", date(2026, 7, 1)),
    # The council postponed the 2026 start to 2030 (confirmed in the spec's amendments, §11).
    _zone("Zaanstad", date(2030, 1, 1)),
    _zone("Alphen aan den Rijn", date(2027, 1, 1)),
    _zone("Venlo", date(2027, 1, 1)),
    _zone("Almere", date(2028, 1, 1)),
    _zone("Deventer", date(2028, 1, 1)),
    _zone("Breda", date(2029, 1, 1)),
    _zone("Apeldoorn", date(2030, 1, 1)),
    _zone("Ede", date(2030, 1, 1)),
    # Hilversum decided on 2025-04-02 not to introduce a zone; Hoorn has no formal decision
    # (not before 2027), so no start date until it has one (spec §4, §11).
    _zone("Hilversum", None),
    _zone("Hoorn", None),
)


class ZoneCatalog:
    """Zones by id, name, municipality or alias (matched loosely, see `fold_name`)."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self._zones: dict[str, Zone] = {}
        self._by_key: dict[str, Zone] = {}
        for zone in zones:
            if zone.id in self._zones:
                raise ValueError(f"zone id {zone.id!r} is defined twice")
            self._zones[zone.id] = zone
            for key in (zone.id, zone.name, *zone.aliases):
                self._by_key.setdefault(fold_name(key), zone)
            self._by_key.setdefault(fold_name(zone.municipality), zone)

    def get(self, name_or_id: str) -> Zone | None:
        return self._by_key.get(fold_name(name_or_id))

    def resolve(self, name_or_id: str) -> Zone:
        """The zone, or a zone-less municipality (R1: out of scope) for an unknown name."""
        zone = self.get(name_or_id)
        if zone is not None:
            return zone
        return Zone(id=zone_id(name_or_id), name=name_or_id, municipality=name_or_id, start=None)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self._zones.values())

    def __len__(self) -> int:
        return len(self._zones)

    @property
    def by_id(self) -> Mapping[str, Zone]:
        return dict(self._zones)


def default_catalog() -> ZoneCatalog:
    return ZoneCatalog(DEFAULT_ZONES)
