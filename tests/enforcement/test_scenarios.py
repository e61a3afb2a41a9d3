"""The scenario runner: the dev cases pass, other files in the format work, and the engine
never sees the expected answers."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from enforcement.scenarios import ScenarioError, read_scenarios, run_scenarios

HEADER = (
    "case_id,zone,passage_datetime,voertuigsoort,europese_voertuigcategorie,max_mass_kg,fuel,"
    "euro_class,datum_eerste_toelating,datum_eerste_tenaamstelling_nl,exemption,expected,"
    "rule_ids,note,plate_country\n"
)
COLUMNS = [*HEADER.strip().split(","), "facts"]
#: A Euro 4 diesel van of 2009 in Utrecht on 2026-06-01: a violation (R7) unless a fact helps.
OLD_VAN = {
    "case_id": "C-1", "zone": "Utrecht", "passage_datetime": "2026-06-01T10:00:00+02:00",
    "voertuigsoort": "Bedrijfsauto", "europese_voertuigcategorie": "N1", "max_mass_kg": "3000",
    "fuel": "Diesel", "euro_class": "4", "datum_eerste_toelating": "2009-01-01",
    "datum_eerste_tenaamstelling_nl": "2009-01-01", "expected": "violation",
}  # fmt: skip


def case_file(tmp_path: Path, *rows: dict[str, str]) -> Path:
    """A case file in the §10 format (with the `facts` column), rows over `OLD_VAN`."""
    path = tmp_path / "cases.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for number, row in enumerate(rows, start=1):
            writer.writerow({**OLD_VAN, "case_id": f"C-{number}", **row})
    return path


def outcomes(path: Path) -> list[str]:
    return [
        r.decision.outcome.value if r.decision else f"error {r.error}" for r in run_scenarios(path)
    ]


def zes(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zes", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.shared
def test_dev_cases_all_pass(shared_dir: Path) -> None:
    results = run_scenarios(shared_dir / "domain" / "ze-scenarios-dev.csv")
    assert len(results) == 60
    assert [r.line() for r in results if not r.passed] == []


@pytest.mark.shared
def test_cli_prints_the_contract_line(shared_dir: Path) -> None:
    done = zes("rules", "check", str(shared_dir / "domain" / "ze-scenarios-dev.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "60 passed, 0 failed"


@pytest.mark.shared
def test_flipped_expectations_fail_so_the_engine_ignores_them(
    shared_dir: Path, tmp_path: Path
) -> None:
    """Rewrite every expected value: if the engine read them, cases would still pass."""
    source = shared_dir / "domain" / "ze-scenarios-dev.csv"
    with source.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    flip = {"allowed": "violation", "violation": "allowed"}
    flipped = 0
    for row in rows:
        if row["expected"] in flip:
            row["expected"] = flip[row["expected"]]
            row["rule_ids"] = ""
            flipped += 1
    target = tmp_path / "flipped.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = zes("rules", "check", str(target))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[-1] == f"{60 - flipped} passed, {flipped} failed"
    assert len(lines) == flipped + 1
    assert all(
        " expected=" in line and " got=" in line and " rules=" in line for line in lines[:-1]
    )


def test_another_case_file_in_the_same_format(tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(
        HEADER + "X-1,Groningen,2025-03-31T12:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,"
        "2009-01-01,,out_of_scope,R1,,\n"
        + "X-2,Groningen,2025-04-01T00:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,"
        "2009-01-01,,violation,R7,,\n"
        + "X-3,Breda,2029-06-01T12:00:00+02:00,Bedrijfsauto (kermis/circus),N3,20000,Diesel,V,"
        "2020-01-01,2020-01-01,,allowed,R23,,\n"
        + "X-4,Utrecht,2026-06-01T10:00:00+02:00,,,,,,,,,undetermined,R33,,\n"
        + "X-6,Utrecht,2026-06-01T10:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,"
        "2009-01-01,,violation,R7,Claims priority but no incident log was supplied,\n",
        encoding="utf-8",
    )
    results = run_scenarios(cases)
    assert [r.line() for r in results if not r.passed] == []
    assert len(results) == 5


def test_bad_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    cases = tmp_path / "bad.csv"
    cases.write_text(
        HEADER
        + "B-1,Utrecht,yesterday,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,,,violation,,,\n"
        + "B-2,Utrecht,2026-06-01T10:00:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,,,violation"
        ",,,\n"
        + "B-3,Utrecht,2026-06-01T10:00:00+02:00,Bedrijfsauto,N1,heavy,Diesel,4,2009-01-01,,,"
        "violation,,,\n"
        + "B-4,Utrecht,2026-06-01T10:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,,,"
        "violation,,,\n",
        encoding="utf-8",
    )
    results = run_scenarios(cases)
    assert [r.passed for r in results] == [False, False, False, True]
    assert "passage_datetime" in results[0].line()
    assert "UTC offset" in results[1].line()
    assert "max_mass_kg" in results[2].line()


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    cases = tmp_path / "short.csv"
    cases.write_text("case_id,zone\nA,Utrecht\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="missing columns"):
        list(read_scenarios(cases))
    done = zes("rules", "check", str(cases))
    assert done.returncode == 2
    assert done.stderr.startswith("zes: error:") and "Traceback" not in done.stderr
    gone = zes("rules", "check", str(tmp_path / "nope.csv"))
    assert gone.returncode == 2 and "does not exist" in gone.stderr


# --- facts come from the `facts` column only (spec §10) -----------------------------------
@pytest.mark.parametrize(
    "note",
    [
        "The incident log shows the signals were off.",
        "Driver will send an incident log later; none was supplied.",
        "Ambulance van; incident log attached.",
    ],
)
def test_the_note_is_never_read_as_a_fact(tmp_path: Path, note: str) -> None:
    """Before, any note mentioning an incident log switched R20 on (allowed, no-hit)."""
    assert outcomes(case_file(tmp_path, {"note": note})) == ["violation"]


def test_facts_column_gives_the_passage_facts(tmp_path: Path) -> None:
    path = case_file(
        tmp_path,
        {"facts": "priority_incident=yes", "expected": "allowed"},
        {"facts": "read_confidence=0.5", "expected": "undetermined"},
        {"facts": "read_confidence=0.99; direction=entering"},
        {"facts": "direction=unknown", "expected": "undetermined"},
        {"facts": "direction=leaving", "expected": "out_of_scope"},
        {"facts": "priority_incident=no"},
        {"facts": "read_confidence=; direction="},
    )
    results = run_scenarios(path)
    assert [r.line() for r in results if not r.passed] == []
    assert "R20" in results[0].decision.rule_ids  # type: ignore[union-attr]
    assert "R33" in results[1].decision.rule_ids  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("facts", "why"),
    [
        ("incident_log=yes", "unknown key 'incident_log'"),
        ("priority_incident=maybe", "priority_incident 'maybe' is not yes or no"),
        ("read_confidence=high", "read_confidence 'high' is not a number 0..1"),
        ("read_confidence=1.5", "read_confidence '1.5' is not a number 0..1"),
        ("direction=sideways", "direction 'sideways' is not one of"),
        ("priority_incident", "is not key=value"),
    ],
)
def test_a_bad_fact_is_an_error_of_the_case_file(tmp_path: Path, facts: str, why: str) -> None:
    (result,) = run_scenarios(case_file(tmp_path, {"facts": facts}))
    assert not result.passed and result.decision is None
    assert result.error is not None and result.error.startswith("facts: ") and why in result.error


# --- the runner's other faults ----------------------------------------------------------------
def test_an_empty_fuel_keeps_the_registered_emission_class(tmp_path: Path) -> None:
    """A class-6 van with no fuel row: R9 allowed (before: the class was dropped, R33)."""
    path = case_file(
        tmp_path,
        {"fuel": "", "euro_class": "6", "datum_eerste_toelating": "2019-01-01",
         "expected": "allowed"},
        {"fuel": "", "euro_class": "", "expected": "undetermined"},
    )  # fmt: skip
    results = run_scenarios(path)
    assert [r.line() for r in results if not r.passed] == []
    assert "R9" in results[0].decision.rule_ids  # type: ignore[union-attr]


@pytest.mark.parametrize("country", ["NL", "nl", ""])
def test_an_explicit_dutch_plate_keeps_the_vehicle(tmp_path: Path, country: str) -> None:
    """Before, `plate_country=NL` threw the vehicle away: undetermined (not in register)."""
    assert outcomes(case_file(tmp_path, {"plate_country": country})) == ["violation"]


def test_a_foreign_plate_is_r34(tmp_path: Path) -> None:
    path = case_file(tmp_path, {"plate_country": "BE", "expected": "out_of_scope"})
    assert outcomes(path) == ["out_of_scope"]
    assert outcomes(case_file(tmp_path, {"plate_country": "Belgium"}))[0].startswith(
        "error plate_country"
    )


@pytest.mark.parametrize(
    ("mass", "vehicle_class"),
    [
        ("3500", "van"), ("3500.0", "van"), ("3500,0", "van"), ("3.500", "van"),
        ("3,500", "van"), ("3 500", "van"), ("3.500,0", "van"), ("3,500.00", "van"),
        ("3550.0", "rigid"), ("3.550", "rigid"), ("32.000", "rigid"), ("32000,0", "rigid"),
    ],
)  # fmt: skip
def test_decimal_masses_written_either_way(tmp_path: Path, mass: str, vehicle_class: str) -> None:
    """Before, "3500.0" and "3500,0" became 35000 kg (the dot stripped as a separator)."""
    category = "N1" if vehicle_class == "van" else "N2"
    (result,) = run_scenarios(
        case_file(tmp_path, {"max_mass_kg": mass, "europese_voertuigcategorie": category})
    )
    assert result.decision is not None, result.error
    assert result.decision.vehicle_class is not None
    assert result.decision.vehicle_class.value == vehicle_class


@pytest.mark.parametrize("mass", ["3500.5", "3,5", "heavy", "-3500", "0", "3.500.0"])
def test_a_mass_that_is_no_whole_kg_is_an_error(tmp_path: Path, mass: str) -> None:
    (result,) = run_scenarios(case_file(tmp_path, {"max_mass_kg": mass}))
    assert result.error is not None and result.error.startswith("max_mass_kg: ")


def test_an_unknown_zone_is_an_error_not_r1(tmp_path: Path) -> None:
    """Before, a mistyped zone became a municipality without a zone: out_of_scope (R1), so
    the case passed for the wrong reason. Hilversum (no zone) is in the catalogue."""
    path = case_file(
        tmp_path,
        {"zone": "Utrech", "expected": "out_of_scope"},
        {"zone": "Hilversum", "expected": "out_of_scope"},
    )
    first, second = run_scenarios(path)
    assert not first.passed and first.error is not None and first.error.startswith("zone: ")
    assert "'Utrech'" in first.line()
    assert second.passed


def test_expected_is_validated_and_compared_case_insensitively(tmp_path: Path) -> None:
    path = case_file(
        tmp_path,
        {"expected": "Violation"},
        {"expected": "OUT_OF_SCOPE", "zone": "Hilversum"},
        {"expected": "fined"},
        {"expected": ""},
    )
    results = run_scenarios(path)
    assert [r.passed for r in results] == [True, True, False, False]
    for result in results[2:]:
        assert result.error is not None and result.error.startswith("expected: ")
        assert "allowed, violation, out_of_scope, undetermined" in result.error


def test_extreme_passage_times_are_a_row_error(tmp_path: Path) -> None:
    path = case_file(
        tmp_path,
        {"passage_datetime": "0001-01-01T00:00:00+01:00"},
        {"passage_datetime": "9999-12-31T23:59:59-05:00"},
    )
    for result in run_scenarios(path):
        assert result.error is not None and result.error.startswith("passage_datetime: ")
        assert "outside the calendar" in result.error


def test_cli_names_the_column_and_why_for_an_unreadable_row(tmp_path: Path) -> None:
    path = case_file(tmp_path, {"max_mass_kg": "heavy"}, {"facts": "colour=red"}, {})
    done = zes("rules", "check", str(path))
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "C-1 cannot be read: max_mass_kg: 'heavy' is not a mass in kg",
        "C-2 cannot be read: facts: unknown key 'colour' (known: read_confidence, "
        "priority_incident, direction)",
        "1 passed, 2 failed",
    ]


def test_cli_says_a_directory_is_not_a_case_file(tmp_path: Path) -> None:
    done = zes("rules", "check", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("zes: error: ") and "is a directory" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_day_permit_by_date_and_local_ontheffing_scope_in_a_case_file(tmp_path: Path) -> None:
    path = case_file(
        tmp_path,
        {"passage_datetime": "2026-03-11T05:00:00+01:00", "expected": "allowed",
         "exemption": "dagontheffing|Utrecht|2026-03-10|2026-03-10|n=1/12"},
        {"passage_datetime": "2026-03-11T06:00:00+01:00",
         "exemption": "dagontheffing|Utrecht|2026-03-10|2026-03-10|n=1/12"},
        {"exemption": "dierenambulance|NL|2025-09-01|2026-08-31", "expected": "undetermined"},
        {"exemption": "dierenambulance|Utrecht|2025-09-01|2026-08-31", "expected": "allowed"},
    )  # fmt: skip
    assert [r.line() for r in run_scenarios(path) if not r.passed] == []


def test_one_direction_for_passages_flows_and_case_files() -> None:
    """Issue 24: `Direction` was defined again in flows and in the scenario runner; the core
    now has one definition (`enforcement.records.Direction`) that the others use."""
    import re
    from typing import get_args

    from enforcement import scenarios
    from enforcement.records import Direction

    root = Path(scenarios.__file__).parent
    pattern = re.compile(r"""["']entering["'],\s*["']leaving["'],\s*["']unknown["']""")
    defined = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if pattern.search(path.read_text())
    )
    assert defined == ["records.py"]
    for direction in get_args(Direction):
        facts = scenarios.parse_facts(f"direction={direction}")
        assert (facts.leaving, facts.direction_unknown) == (
            direction == "leaving",
            direction == "unknown",
        )
    with pytest.raises(scenarios.ScenarioError, match="entering, leaving, unknown"):
        scenarios.parse_facts("direction=sideways")
