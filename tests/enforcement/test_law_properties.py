"""Properties of `decide` over random vehicles, times and permits: it never raises on
well-typed input, never allows on doubt, and every sentence renders in both languages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from enforcement.law import COMBUSTION_FUELS, ONTHEFFING_RULES, PassageFacts, decide
from enforcement.model import Exemption, ExemptionStatus, Fuel, Outcome, SanctionKind, Vehicle
from enforcement.zones import DEFAULT_ZONES

fuels = st.sampled_from(
    ["Diesel", "Benzine", "LPG", "CNG", "LNG", "Elektriciteit", "Waterstof", "Alcohol"]
)
classes = st.one_of(st.none(), st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "Z", "VI"]))
days = st.dates(min_value=date(1975, 1, 1), max_value=date(2032, 12, 31))
kinds = st.one_of(
    st.none(), st.sampled_from(["Bedrijfsauto"] * 6 + ["Personenauto", "Bus", "Aanhangwagen"])
)

vehicles = st.builds(
    Vehicle,
    plate=st.just("VBB12B"),
    kind=kinds,
    max_mass_kg=st.one_of(st.none(), st.integers(min_value=500, max_value=50_000)),
    body=st.sampled_from([None, "opleggertrekker", "gesloten opbouw"]),
    body_type_codes=st.lists(st.sampled_from(["BC", "SH", "SB", "SF"]), max_size=2).map(tuple),
    body_codes=st.lists(st.sampled_from(["15", "27", "31", "02"]), max_size=2).map(tuple),
    particularity_codes=st.lists(st.sampled_from([70, 145, 12]), max_size=2).map(tuple),
    axles=st.one_of(st.none(), st.integers(min_value=2, max_value=6)),
    first_admission=st.one_of(st.none(), days),
    first_nl_registration=st.one_of(st.none(), days),
    fuels=st.lists(
        st.builds(
            Fuel,
            name=fuels,
            emission_class=classes,
            hybrid_class=st.sampled_from([None, "OVC-HEV", "NOVC-HEV"]),
        ),
        max_size=3,
    ).map(tuple),
    fairground=st.booleans(),
    exported=st.booleans(),
)
exemptions = st.builds(
    lambda kind, scope, first, length, status: Exemption.for_dates(
        "VBB12B", kind, scope, first, first + timedelta(days=length), status=status
    ),
    st.sampled_from([*ONTHEFFING_RULES, "dierenambulance"]),
    st.sampled_from(["NL", "NL(RVO)", "Utrecht", "Rotterdam", "Den Haag"]),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 1, 1)),
    st.integers(min_value=0, max_value=3000),
    st.sampled_from(list(ExemptionStatus)),
)
instants = st.datetimes(
    min_value=datetime(2024, 6, 1), max_value=datetime(2032, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=600, deadline=None)
@given(
    when=instants,
    zone=st.sampled_from(DEFAULT_ZONES),
    vehicle=st.one_of(st.none(), vehicles),
    permits=st.lists(exemptions, max_size=3),
    confidence=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    country=st.sampled_from([None, "NL", "DE"]),
    used=st.integers(min_value=0, max_value=14),
)
def test_decide_invariants(
    when: datetime,
    zone: object,
    vehicle: Vehicle | None,
    permits: list[Exemption],
    confidence: float | None,
    country: str | None,
    used: int,
) -> None:
    facts = PassageFacts(country=country, read_confidence=confidence)
    decision = decide(when, zone, vehicle, permits, facts=facts, day_permits_used=used)  # type: ignore[arg-type]
    ids = decision.rule_ids
    assert ids, "every decision names at least one rule"
    if country == "DE":
        # R1 comes before R34 (spec §11, "—" row): a foreign plate before the zone is R1's.
        assert decision.outcome is Outcome.OUT_OF_SCOPE and ids[0] in ("R1", "R34")
    if vehicle is None and decision.outcome is not Outcome.OUT_OF_SCOPE:
        assert decision.outcome is Outcome.UNDETERMINED
    if decision.outcome is Outcome.ALLOWED:
        assert vehicle is not None
        # A5: a zero-emission vehicle is allowed whatever its register lacks, its kind too.
        assert vehicle.kind == "Bedrijfsauto" or (vehicle.kind is None and "R5" in ids)
        assert confidence is None or confidence >= 0.9
        if decision.allowed_until is not None:
            assert decision.allowed_until >= decision.local_time.date()
        if decision.exemption is not None:
            assert decision.exemption.status is ExemptionStatus.GRANTED
    if decision.outcome is Outcome.VIOLATION:
        assert decision.sanction.kind in (SanctionKind.WARNING, SanctionKind.FINE)
        assert "R36" in ids
    else:
        assert decision.sanction.kind is SanctionKind.NONE
    if decision.outcome is Outcome.UNDETERMINED:
        assert "R33" in ids
    if vehicle is not None and decision.outcome is Outcome.ALLOWED and "R5" in ids:
        # A4: class Z beside a combustion fuel row never lets a vehicle through as ZE.
        names = {f.name for f in vehicle.fuels}
        classes = {f.emission_class for f in vehicle.fuels}
        assert not ("Z" in classes and names & COMBUSTION_FUELS)
    for hit in decision.rules:
        for lang in ("nl", "en"):
            assert "{" not in hit.sentence_in(lang)
    # Without the explanation (the stream's compliant path) everything else is the same.
    quiet = decide(
        when,
        zone,  # type: ignore[arg-type]
        vehicle,
        permits,
        facts=facts,
        day_permits_used=used,
        explain=False,
    )
    assert quiet.rules == ()
    assert dataclasses.replace(quiet, rules=decision.rules) == decision
