"""The policy files: the shipped example loads, and a file with typos fails with every
problem listed at once (pure, no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enforcement.exemptions.files import EXAMPLE_DIR, load_policies
from enforcement.exemptions.policy import Fee, PolicyError, slug_of
from enforcement.settings import Settings, load_law


def municipalities() -> frozenset[str]:
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    return frozenset(z.municipality for z in zones)


def write(folder: Path, framework: object, **municipality_files: object) -> Path:
    (folder / "municipalities").mkdir(parents=True, exist_ok=True)
    (folder / "framework.yaml").write_text(yaml.safe_dump(framework), encoding="utf-8")
    for name, body in municipality_files.items():
        (folder / "municipalities" / f"{name}.yaml").write_text(
            yaml.safe_dump(body), encoding="utf-8"
        )
    return folder


def example_framework() -> dict[str, object]:
    loaded = yaml.safe_load((EXAMPLE_DIR / "framework.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_shipped_framework_and_example_municipality_load() -> None:
    policies = load_policies(EXAMPLE_DIR, municipalities=municipalities())
    amsterdam = policies["amsterdam"]
    assert set(amsterdam.types) == {"dagontheffing", "dierenambulance", "markthandel"}
    day = amsterdam.types["dagontheffing"]
    # The framework's R22 (12 a year, EUR 30, granted at once) with Amsterdam's minimum class.
    assert (day.rule, day.max_per_year, day.min_emission_class) == ("R22", 12, 5)
    assert day.fee.cents_for(False) == 3000 and day.automatic_grant
    assert amsterdam.types["markthandel"].four_eyes


def test_typos_fail_with_every_problem_listed(tmp_path: Path) -> None:
    framework = example_framework()
    types = framework["types"]
    assert isinstance(types, dict)
    types["dagontheffing"]["max_dayz"] = 1  # a typo of a field name
    types["dierenambulance"]["fee"]["amount_eur"] = "-5"
    types["dierenambulance"]["vehicle_classes"] = ["van", "bus"]
    folder = write(
        tmp_path,
        framework,
        haarlem={"municipality": "Haarlem", "restrictions": {"dagontheffing": {"fee_eur": 10}}},
    )
    with pytest.raises(PolicyError) as caught:
        load_policies(folder, municipalities=municipalities())
    text = "\n".join(caught.value.problems)
    assert "framework.yaml: types.dagontheffing.max_dayz: Extra inputs are not permitted" in text
    assert "framework.yaml: types.dierenambulance.fee.amount_eur:" in text
    assert "framework.yaml: types.dierenambulance.vehicle_classes.1:" in text
    assert (
        "municipalities/haarlem.yaml: restrictions.dagontheffing.fee_eur: Extra inputs are "
        "not permitted" in text
    )
    assert len(caught.value.problems) == 4, text


def test_a_restriction_may_not_loosen_the_framework(tmp_path: Path) -> None:
    framework = example_framework()
    folder = write(
        tmp_path,
        framework,
        haarlem={
            "municipality": "Haarlem",
            "adopts": ["dagontheffing", "parkeren"],
            "restrictions": {
                "dagontheffing": {"max_per_year": 20, "max_days": 2},
                "dierenambulance": {"four_eyes": True},
            },
            "local_types": {
                "dagontheffing": {
                    "rule": "R31",
                    "name": {"nl": "x", "en": "x"},
                    "max_days": 1,
                    "fee": {"amount_eur": "1.00"},
                },
                "netcongestie": {
                    "rule": "R31",
                    "name": {"nl": "x", "en": "x"},
                    "max_days": 1,
                    "fee": {"amount_eur": "1.00"},
                },
            },
        },
        nowhere={"municipality": "Atlantis"},
    )
    with pytest.raises(PolicyError) as caught:
        load_policies(folder, municipalities=municipalities())
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "adopts: 'parkeren' is not a type of the framework" in text
    assert "restrictions.dagontheffing.max_per_year: 20 is more than the framework's 12" in text
    assert "restrictions.dagontheffing.max_days: 2 is longer than the framework's 1" in text
    assert "restrictions.dierenambulance: the municipality does not adopt it" in text
    assert "local_types.netcongestie" in text  # R26 is national: not a local type
    assert "nowhere.yaml: municipality: 'Atlantis' has no zone in the zone file" in text


def test_a_day_permit_type_is_one_day() -> None:
    framework = example_framework()
    types = framework["types"]
    assert isinstance(types, dict)
    types["dagontheffing"]["max_days"] = 3
    from enforcement.exemptions.policy import parse_framework

    with pytest.raises(PolicyError, match="max_days must be 1"):
        parse_framework(framework)


def test_a_key_must_match_its_rule() -> None:
    framework = example_framework()
    types = framework["types"]
    assert isinstance(types, dict)
    types["dagontheffing"]["rule"] = "R31"
    from enforcement.exemptions.policy import parse_framework

    with pytest.raises(PolicyError, match="the key is R22's, not R31's"):
        parse_framework(framework)


def test_the_ze_reduction_rounds_in_the_holders_favour() -> None:
    fee = Fee(amount_eur="75.05", ze_reduction_percent=50)
    assert fee.cents_for(False) == 7505
    assert fee.cents_for(True) == 3752


def test_slugs() -> None:
    assert slug_of("Den Haag") == "den-haag"
    assert slug_of("'s-Hertogenbosch") == "s-hertogenbosch"
    assert slug_of("Alphen aan den Rijn") == "alphen-aan-den-rijn"
