"""One formatter for a decision's explanation: `zes decide`, the review app and the public
plate check all print a decision through `explain`, so their wording cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass

from enforcement.messages import render
from enforcement.model import Decision, Outcome, SanctionKind, Zone


@dataclass(frozen=True, slots=True)
class Explanation:
    headline: str
    """One plain sentence: the outcome for this zone (and until when, if allowed)."""
    reasons: tuple[tuple[str, str], ...]
    """(rule id, sentence) per rule that shaped the decision, in evaluation order."""

    def lines(self) -> list[str]:
        return [self.headline, *(f"  {rule}: {sentence}" for rule, sentence in self.reasons)]


def headline_key(decision: Decision) -> str:
    if decision.outcome is Outcome.ALLOWED:
        return "outcome_allowed_until" if decision.allowed_until else "outcome_allowed"
    if decision.outcome is Outcome.VIOLATION:
        return {
            SanctionKind.WARNING: "outcome_violation_warning",
            SanctionKind.FINE: "outcome_violation_fine",
        }.get(decision.sanction.kind, "outcome_violation")
    return f"outcome_{decision.outcome.value}"


def explain(decision: Decision, zone: Zone, lang: str = "nl") -> Explanation:
    args: dict[str, object] = {"zone": zone.name, "until": decision.allowed_until or ""}
    return Explanation(
        headline=render(headline_key(decision), args, lang),
        reasons=tuple((hit.rule_id, hit.sentence_in(lang)) for hit in decision.rules),
    )
