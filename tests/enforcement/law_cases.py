"""What the law tests that decide one passage at a time share: the shipped zones, one plate,
local times and `decide` with Utrecht by default (test_law, test_law_amendments,
test_law_spec_edges)."""

from __future__ import annotations

from datetime import datetime

from enforcement.law import decide
from enforcement.model import LOCAL_TZ, Decision, Exemption, Vehicle, Zone
from enforcement.zones import default_catalog

ZONES = default_catalog()
PLATE = "VBB12B"


def zone(name: str) -> Zone:
    found = ZONES.get(name)
    assert found is not None
    return found


UTRECHT = zone("Utrecht")


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LOCAL_TZ)


def run(
    when: datetime,
    vehicle: Vehicle | None,
    *exemptions: Exemption,
    where: Zone = UTRECHT,
    **kw: object,
) -> Decision:
    return decide(when, where, vehicle, exemptions, **kw)  # type: ignore[arg-type]


def keys(decision: Decision) -> set[str]:
    return {hit.key for hit in decision.rules}
