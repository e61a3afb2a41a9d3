"""The public plate check answers with the cameras' own law and register.

The equivalence test loads every dev decision case into the real Redis register under a
plate of its own and asks the plate check: its outcome must equal `decide` on the same
facts and the case's expected outcome. Cases whose facts a plate owner cannot give (an
incident log for a priority vehicle) are left out and counted."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest
import redis

from enforcement.law import decide
from enforcement.model import LOCAL_TZ, Exemption, Fuel, Vehicle
from enforcement.platecheck import (
    PlateInputError,
    check_plate,
    normalise_input,
    public_exemptions,
    vehicle_summary,
)
from enforcement.register.redis import RedisRegister
from enforcement.scenarios import Scenario, read_scenarios
from enforcement.zones import DEFAULT_ZONES, default_catalog


def _register(client: redis.Redis, prefix: str) -> RedisRegister:
    return RedisRegister(client, prefix, secret=b"platecheck-test-secret")


@pytest.mark.redis
@pytest.mark.shared
def test_same_answer_as_the_cameras_on_the_dev_cases(
    shared_dir: Path, redis_client: redis.Redis, redis_prefix: str
) -> None:
    catalog = default_catalog()
    cases: list[tuple[str, Scenario]] = []
    for i, item in enumerate(read_scenarios(shared_dir / "domain" / "ze-scenarios-dev.csv")):
        assert isinstance(item, Scenario), item
        if item.facts.priority_incident:
            continue  # an incident log is not something a plate owner can enter
        plate = f"PC{i:04d}"
        vehicle = msgspec.structs.replace(item.vehicle, plate=plate) if item.vehicle else None
        exemptions = tuple(dataclasses.replace(e, plate=plate) for e in item.exemptions)
        cases.append((plate, dataclasses.replace(item, vehicle=vehicle, exemptions=exemptions)))
    assert len(cases) >= 40
    register = _register(redis_client, redis_prefix)
    register.replace_vehicles([s.vehicle for _, s in cases if s.vehicle is not None])
    register.replace_exemptions([e for _, s in cases for e in s.exemptions])
    mismatches = []
    for plate, case in cases:
        zone = catalog.resolve(case.zone)
        facts = dataclasses.replace(case.facts, plate=plate)
        # The public answer leaves out health-related ontheffingen (R28): as if none.
        direct = decide(
            case.at, zone, case.vehicle, public_exemptions(case.exemptions), facts=facts
        )
        # Asked on the day itself: day permits count for today only (issue 23).
        answer = check_plate(
            plate.lower(), [zone], register, at=case.at, country=case.facts.country,
            today=case.at.astimezone(LOCAL_TZ).date(),
        )  # fmt: skip
        got = answer.zones[0].outcome if answer.zones else "unknown"
        if case.vehicle is None and case.facts.country is None:
            got = "undetermined" if answer.status == "unknown" else got
        if not (got == direct.outcome.value == case.expected):
            mismatches.append((case.case_id, case.expected, direct.outcome.value, got))
    assert mismatches == []


VAN = Vehicle(
    plate="VX123B",
    kind="Bedrijfsauto",
    max_mass_kg=3200,
    eu_category="N1",
    first_admission=date(2019, 3, 14),
    first_nl_registration=date(2019, 3, 14),
    fuels=(Fuel("Diesel", "6"),),
)


@pytest.mark.redis
def test_an_answer_in_plain_dutch_and_english(redis_client: redis.Redis, redis_prefix: str) -> None:
    register = _register(redis_client, redis_prefix)
    register.replace_vehicles([VAN])
    zones = [z for z in DEFAULT_ZONES if z.id in ("utrecht", "amsterdam")]
    at = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    answer = check_plate("vx-123-b", zones, register, at=at)
    assert answer.plate == "VX-123-B" and answer.status == "found"
    utrecht = next(z for z in answer.zones if z.zone_id == "utrecht")
    assert utrecht.outcome == "allowed"
    assert utrecht.sentence == (
        "Bestelauto, emissieklasse 6, eerste toelating 2019: toegang tot Utrecht tot en met "
        "31 december 2028."
    )
    assert any("R9" in rule or "R8" in rule for rule, _ in utrecht.reasons)
    english = check_plate("VX 123 B", zones, register, at=at, lang="en")
    assert english.zones[0].sentence.startswith("Van, emission class 6, first admitted 2019")


@pytest.mark.redis
def test_not_allowed_lists_ontheffingen_and_unknown_and_foreign_plates(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    register = _register(redis_client, redis_prefix)
    old = msgspec.structs.replace(
        VAN, plate="VX999B", first_admission=date(2008, 1, 1), fuels=(Fuel("Diesel", "4"),)
    )
    register.replace_vehicles([VAN, old])
    utrecht = [z for z in DEFAULT_ZONES if z.id == "utrecht"]
    at = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    answer = check_plate("VX999B", utrecht, register, at=at)
    zone = answer.zones[0]
    assert zone.outcome == "violation" and zone.sentence.endswith("geen toegang tot Utrecht.")
    assert any("Dagontheffing" in line for line in zone.could_apply)
    assert not any("vrachtauto" in line for line in zone.could_apply)
    unknown = check_plate("ZZ-999-Z", utrecht, register, at=at)
    assert unknown.status == "unknown" and "niet in het Nederlandse" in unknown.notice
    foreign = check_plate("B 123 ABC", utrecht, register, at=at, country="DE")
    assert foreign.status == "foreign" and foreign.zones[0].outcome == "out_of_scope"
    assert "buitenland" in foreign.notice


@pytest.mark.parametrize("text", ["", "--", "x" * 33, "<script>", "AB"])
def test_text_that_is_no_plate_is_refused(text: str) -> None:
    with pytest.raises(PlateInputError):
        normalise_input(text)


def test_any_common_spelling() -> None:
    assert normalise_input(" vx-123-b ") == normalise_input("VX 123 B") == "VX123B"


OLD_VAN = msgspec.structs.replace(
    VAN, plate="VX777B", first_admission=date(2008, 1, 1), fuels=(Fuel("Diesel", "4"),)
)
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def _public_text(answer: object) -> str:
    return json.dumps(asdict(answer), ensure_ascii=False).casefold()  # type: ignore[call-overload]


@pytest.mark.redis
def test_an_r28_exemption_is_answered_as_if_none_were_registered(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Hole 3: the public check named the keeper's health-related ontheffing (GDPR art. 9)."""
    register = _register(redis_client, redis_prefix)
    register.replace_vehicles([OLD_VAN])
    utrecht = [z for z in DEFAULT_ZONES if z.id == "utrecht"]
    bare = check_plate("VX777B", utrecht, register, at=AT)
    register.replace_exemptions(
        [
            Exemption.for_dates(
                "VX777B", "aangepast-voertuig-handicap", "Utrecht", date(2026, 1, 1),
                date(2027, 12, 31), reference="UTR-R28-0042",
            )
        ]
    )  # fmt: skip
    registered = register.lookup(["VX777B"], at=AT).exemptions["VX777B"]
    camera = decide(AT, utrecht[0], OLD_VAN, registered)
    assert camera.outcome.value == "allowed"  # the cameras do honour it
    for lang in ("nl", "en"):
        answer = check_plate("VX777B", utrecht, register, at=AT, lang=lang)
        assert answer == check_plate("VX777B", utrecht, register, at=AT, lang=lang)
        zone = answer.zones[0]
        assert zone.outcome == "violation"
        text = _public_text(answer)
        for word in ("handicap", "aangepast-voertuig", "utr-r28", "r28", "ontheffing "):
            assert word not in text.replace("(r28)", ""), (word, text)
    assert check_plate("VX777B", utrecht, register, at=AT).zones == bare.zones  # no trace


@pytest.mark.redis
def test_a_registered_exemption_says_until_when_and_nothing_else(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    register = _register(redis_client, redis_prefix)
    register.replace_vehicles([OLD_VAN])
    register.replace_exemptions(
        [
            Exemption.for_dates(
                "VX777B", "netcongestie", "NL", date(2026, 1, 1), date(2027, 3, 31),
                reference="RVO-NC-7781", note="grid operator letter",
            )
        ]
    )  # fmt: skip
    utrecht = [z for z in DEFAULT_ZONES if z.id == "utrecht"]
    answer = check_plate("VX777B", utrecht, register, at=AT)
    zone = answer.zones[0]
    assert zone.outcome == "allowed" and zone.allowed_until is not None
    assert zone.sentence == (
        "Bestelauto, emissieklasse 4, eerste toelating 2008: een voor dit voertuig "
        f"geregistreerde ontheffing geeft toegang tot Utrecht tot en met {zone.allowed_until}."
    )
    assert "2027" in zone.allowed_until
    text = _public_text(answer)
    for word in ("netcongestie", "rvo-nc", "grid operator", '"nl"', "r26", "r21"):
        assert word not in text, (word, text)
    assert {rule for rule, _ in zone.reasons} <= {f"R{i}" for i in range(1, 21)} | {"R39"}
    assert zone.could_apply == ()
    english = check_plate("VX777B", utrecht, register, at=AT, lang="en").zones[0]
    assert english.sentence.startswith("Van, emission class 4, first admitted 2008: an exemption")


@pytest.mark.redis
def test_the_public_answer_never_describes_the_vehicle(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """The register's description (make, model, colour) is for officers only (issue 21): with
    a plate, it would tell anyone what a stranger's car looks like."""
    register = _register(redis_client, redis_prefix)
    described = msgspec.structs.replace(
        VAN, make="MERCEDES-BENZ", commercial_name="SPRINTER", colour="ROOD", second_colour="GEEL"
    )
    register.replace_vehicles([described])
    assert register.lookup(["VX123B"], at=AT).vehicles["VX123B"].colour == "ROOD"
    utrecht = [z for z in DEFAULT_ZONES if z.id == "utrecht"]
    for lang in ("nl", "en"):
        text = _public_text(check_plate("VX123B", utrecht, register, at=AT, lang=lang))
        for word in ("mercedes", "sprinter", "rood", "rode", "red", "geel", "yellow"):
            assert not re.search(rf"\b{word}\b", text), (word, text)


def test_a_zone_that_has_not_started_says_when_it_starts_and_what_holds_then(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    register = _register(redis_client, redis_prefix)
    old = msgspec.structs.replace(
        VAN, plate="VX999B", first_admission=date(2008, 1, 1), fuels=(Fuel("Diesel", "4"),)
    )
    register.replace_vehicles([old])
    almere = [z for z in DEFAULT_ZONES if z.id == "almere"]  # starts 1 January 2028
    at = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    english = check_plate("VX999B", almere, register, at=at, lang="en").zones[0]
    assert english.outcome == "out_of_scope"  # as the cameras decide today
    assert english.starts_on == "1 January 2028"
    assert english.sentence == (
        "The Almere zone starts on 1 January 2028; until then you may enter. From then: Van, "
        "emission class 4, first admitted 2008: no access to Almere."
    )
    assert english.zone_dates.startswith("Zone Almere starts on 1 January 2028")
    assert any("Day permit" in line for line in english.could_apply)  # for then
    words = " ".join([english.sentence, english.headline, *(s for _, s in english.reasons)])
    assert "passage" not in words and "No-hit" not in words and "since" not in words
    dutch = check_plate("VX999B", almere, register, at=at).zones[0]
    assert dutch.sentence.startswith("De zone Almere gaat in op 1 januari 2028; tot dan mag u")


@pytest.mark.redis
def test_public_answers_have_no_camera_wording_and_kinds_in_english(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    register = _register(redis_client, redis_prefix)
    car = msgspec.structs.replace(VAN, plate="PC123X", kind="Personenauto", eu_category="M1")
    register.replace_vehicles([VAN, car])
    zones = [z for z in DEFAULT_ZONES if z.id == "utrecht"]
    at = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    allowed = check_plate("VX123B", zones, register, at=at, lang="en").zones[0]
    assert allowed.outcome == "allowed"
    assert not any(rule in ("R38", "R39") for rule, _ in allowed.reasons)  # "No-hit: ..."
    other = check_plate("PC123X", zones, register, at=at, lang="en").zones[0]
    assert other.outcome == "out_of_scope"
    assert other.sentence.startswith("Passenger car"), other.sentence
    assert "Personenauto" not in other.sentence
    assert vehicle_summary(VAN, None, "en").startswith("Commercial vehicle")
    assert vehicle_summary(VAN, None, "nl").startswith("Bedrijfsauto")
