"""Re-deciding a case against today's register: the same `enforcement.law.decide` the stream
uses, never a second copy of a rule.

Used when a case is opened, just before export (late exemptions: a day permit or another
exemption granted after the passage closes the case), and when a reviewer corrects a plate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from enforcement.law import PassageFacts, decide
from enforcement.model import Decision, Exemption, Outcome, Vehicle, Zone
from enforcement.plates import lookalike_candidates
from enforcement.records import RuleFacts, rule_facts
from enforcement.register.protocol import Register, RegisterUnavailable
from enforcement.register.redis import register_from
from enforcement.settings import Settings, load_law
from enforcement.zones import ZoneCatalog


@dataclass(frozen=True, slots=True)
class Recheck:
    """The law's answer for one plate at one passage instant, or why there is none."""

    decision: Decision | None
    vehicle: Vehicle | None
    unavailable: str | None = None
    """Set when the register could not be asked: nothing may change on doubt."""

    @property
    def covered(self) -> bool:
        """True when the passage is now allowed (or out of scope): the case must close."""
        return self.decision is not None and self.decision.outcome in (
            Outcome.ALLOWED,
            Outcome.OUT_OF_SCOPE,
        )

    @property
    def rules(self) -> tuple[RuleFacts, ...]:
        """The decision's rules in the violation record's shape (`records.RuleFacts`)."""
        return rule_facts(self.decision.rules) if self.decision is not None else ()

    def summary(self) -> dict[str, Any]:
        """What a case keeps of a re-check (its correction): the outcome and the rules as a
        violation record holds them, read back by `stored_rules`."""
        if self.decision is None:
            return {"outcome": None, "unavailable": self.unavailable}
        return {
            "outcome": self.decision.outcome.value,
            "rule_ids": list(self.decision.rule_ids),
            "rules": msgspec.to_builtins(self.rules),
        }


def stored_rules(summary: dict[str, Any]) -> tuple[RuleFacts, ...]:
    """The rules of a stored `Recheck.summary` (raises `msgspec.ValidationError` when they
    are not in the record's shape)."""
    return msgspec.convert(summary.get("rules") or [], tuple[RuleFacts, ...])


class Rechecker:
    def __init__(self, register: Register, zones: ZoneCatalog) -> None:
        self.register = register
        self.zones = zones

    def check(
        self,
        plate: str,
        zone_id: str,
        at: datetime,
        *,
        confidence: float | None = None,
        country: str | None = None,
    ) -> Recheck:
        zone = self.zones.resolve(zone_id)
        try:
            view = self.register.lookup([plate], at=at)
            used = self.register.day_permits_used(plate, zone.municipality, at.year)
        except RegisterUnavailable as exc:
            return Recheck(None, None, str(exc))
        vehicle = view.vehicles.get(plate)
        facts = PassageFacts(plate=plate, country=country, read_confidence=confidence)
        return _decided(at, zone, vehicle, view.exemptions.get(plate, ()), facts, used)

    def lookalikes(self, read: str, zone_id: str, at: datetime) -> list[tuple[str, Recheck]]:
        """The register's plates one look-alike substitution from `read` (O/0/D/Q, 8/B, …:
        `plates.lookalike_candidates`), each with the law's answer for this zone at `at`, as
        `check` gives it: "a compliant van one look-alike away" is a misread to suspect.
        Raises `RegisterUnavailable` when the register cannot be asked."""
        candidates = lookalike_candidates(read, max_changes=1)
        if not candidates:
            return []
        zone = self.zones.resolve(zone_id)
        view = self.register.lookup(candidates, at=at)
        found: list[tuple[str, Recheck]] = []
        for plate in candidates:
            vehicle = view.vehicles.get(plate)
            if vehicle is None:
                continue
            used = self.register.day_permits_used(plate, zone.municipality, at.year)
            facts = PassageFacts(plate=plate, country=None, read_confidence=None)
            found.append(
                (plate, _decided(at, zone, vehicle, view.exemptions.get(plate, ()), facts, used))
            )
        return found


def _decided(
    at: datetime,
    zone: Zone,
    vehicle: Vehicle | None,
    exemptions: tuple[Exemption, ...],
    facts: PassageFacts,
    used: int,
) -> Recheck:
    decision = decide(at, zone, vehicle, exemptions, facts=facts, day_permits_used=used)
    return Recheck(decision, vehicle)


def rechecker_from(settings: Settings) -> Rechecker:
    """The rechecker on the configured Redis register and law (the stream's), with short
    socket timeouts: an outage must show as a warning or a held export, never hang."""
    _, zones = load_law(settings)
    return Rechecker(register_from(settings, socket_timeout_s=2), zones)
