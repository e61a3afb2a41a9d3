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
        + "X-5,Utrecht,2026-06-01T10:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,"
        "2009-01-01,,allowed,R20,Ambulance van; incident log attached,\n"
        + "X-6,Utrecht,2026-06-01T10:00:00+02:00,Bedrijfsauto,N1,3000,Diesel,4,2009-01-01,"
        "2009-01-01,,violation,R7,Claims priority but no incident log was supplied,\n",
        encoding="utf-8",
    )
    results = run_scenarios(cases)
    assert [r.line() for r in results if not r.passed] == []
    assert len(results) == 6


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
