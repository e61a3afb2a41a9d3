"""One formatter for a decision's explanation: `zes decide`, the review app and the public
plate check all print a decision through this module, so their wording cannot drift apart.

`explain` prints a decision the law just made; `explain_violation` prints one frozen on a
violation record (the review app's case page: its rule sentences are those of the decision
time, the law may have changed since), and `describe_vehicle` the vehicle the register
described then ("white MERCEDES-BENZ SPRINTER, closed body, N1")."""

from __future__ import annotations

from dataclasses import dataclass

from enforcement.messages import render
from enforcement.model import Decision, Outcome, SanctionKind, Zone
from enforcement.records import RuleFacts, VehicleFacts, Violation


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


# -- a decision frozen on a violation record -------------------------------------------------
def record_headline_key(decision: str, sanction: str) -> str:
    """As `headline_key`, for a record's decision (`violation`/`undetermined`) and sanction."""
    if decision != Outcome.VIOLATION.value:
        return f"outcome_{decision}"
    return {
        SanctionKind.WARNING.value: "outcome_violation_warning",
        SanctionKind.FINE.value: "outcome_violation_fine",
    }.get(sanction, "outcome_violation")


def rule_reasons(rules: tuple[RuleFacts, ...], lang: str) -> tuple[tuple[str, str], ...]:
    """(rule id, sentence) as frozen at decision time, in `lang` (Dutch unless `en`)."""
    return tuple((r.rule_id, r.en if lang == "en" else r.nl) for r in rules)


def explain_violation(violation: Violation, zone_name: str, lang: str = "nl") -> Explanation:
    """The explanation of a stored violation record, in the words of its decision time."""
    key = record_headline_key(violation.decision, violation.sanction.kind)
    return Explanation(
        headline=render(key, {"zone": zone_name, "until": ""}, lang),
        reasons=rule_reasons(violation.rules, lang),
    )


#: The RDW's colour words (`eerste_kleur`, Dutch upper case) in (nl, en).
COLOURS: dict[str, tuple[str, str]] = {
    "WIT": ("wit", "white"),
    "ZWART": ("zwart", "black"),
    "GRIJS": ("grijs", "grey"),
    "BLAUW": ("blauw", "blue"),
    "ROOD": ("rood", "red"),
    "GROEN": ("groen", "green"),
    "GEEL": ("geel", "yellow"),
    "ORANJE": ("oranje", "orange"),
    "BRUIN": ("bruin", "brown"),
    "BEIGE": ("beige", "beige"),
    "CREME": ("crème", "cream"),
    "PAARS": ("paars", "purple"),
    "ROSE": ("roze", "pink"),
    "DIVERSEN": ("diverse kleuren", "multicoloured"),
}
#: The RDW's body words (`inrichting`, stored lower case) in English; Dutch as written.
BODIES_EN: dict[str, str] = {
    "gesloten opbouw": "closed body",
    "open laadvloer": "open load floor",
    "huifopbouw": "curtain-sider",
    "geconditioneerde opbouw": "refrigerated body",
    "koelwagen": "refrigerated body",
    "kipper": "tipper",
    "bakwagen": "box body",
    "trekker": "tractor unit",
    "kampeerwagen": "motorhome",
    "stationwagen": "estate car",
    "hatchback": "hatchback",
    "sedan": "saloon",
    "mpv": "MPV",
    "dubbele cabine": "double cab",
    "opleggertrekker": "tractor unit",
}
_NOT_REGISTERED = frozenset({"N.V.T.", "NIET GEREGISTREERD", "ONBEKEND", ""})


def colour_word(rdw: str, lang: str) -> str | None:
    """An RDW colour in `lang`; an unknown word as the RDW writes it, lower case."""
    word = rdw.strip().upper()
    if word in _NOT_REGISTERED:
        return None
    known = COLOURS.get(word)
    if known is None:
        return word.lower()
    return known[1] if lang == "en" else known[0]


def body_words(rdw: str, lang: str) -> str:
    body = rdw.strip().lower()
    return BODIES_EN.get(body, body) if lang == "en" else body


def describe_vehicle(facts: VehicleFacts | None, lang: str = "nl") -> str | None:
    """The vehicle as the register described it at decision time, for the officer to hold
    beside the photo: colour(s), make and commercial name, body, EU category. None when the
    register described none of these."""
    if facts is None:
        return None
    colours = [
        c
        for c in (
            colour_word(facts.colour or "", lang),
            colour_word(facts.second_colour or "", lang),
        )
        if c
    ]
    name = " ".join(p for p in (facts.make, facts.commercial_name) if p)
    head = " ".join(p for p in ("/".join(colours), name) if p)
    body = body_words(facts.body, lang) if facts.body else ""
    parts = [p for p in (head, body, facts.eu_category or "") if p]
    return ", ".join(parts) or None
