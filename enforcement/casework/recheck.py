"""Re-deciding a case against today's register: the same `enforcement.law.decide` the stream
uses, never a second copy of a rule.

Used when a case is opened, just before export (late exemptions: a day permit or another
exemption granted after the passage closes the case), and when a reviewer corrects a plate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from enforcement.law import PassageFacts, decide
from enforcement.model import Decision, Outcome, Vehicle
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

    def summary(self) -> dict[str, object]:
        if self.decision is None:
            return {"outcome": None, "unavailable": self.unavailable}
        return {
            "outcome": self.decision.outcome.value,
            "rule_ids": list(self.decision.rule_ids),
            "nl": [h.sentence_in("nl") for h in self.decision.rules],
            "en": [h.sentence_in("en") for h in self.decision.rules],
        }


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
        decision = decide(
            at,
            zone,
            vehicle,
            view.exemptions.get(plate, ()),
            facts=facts,
            day_permits_used=used,
        )
        return Recheck(decision, vehicle)


def rechecker_from(settings: Settings) -> Rechecker:
    """The rechecker on the configured Redis register and law (the stream's), with short
    socket timeouts: an outage must show as a warning or a held export, never hang."""
    _, zones = load_law(settings)
    return Rechecker(register_from(settings, socket_timeout_s=2), zones)
