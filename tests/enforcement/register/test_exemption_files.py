"""The exemption register import (CSV, JSON, NDJSON) and the scenario files' compact form."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from enforcement.model import LOCAL_TZ, Exemption, ExemptionStatus
from enforcement.register.exemption_files import (
    COLUMNS,
    KNOWN_TYPES,
    parse_scenario_exemption,
    read_exemptions,
)
from enforcement.register.report import LoadReport


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL_TZ)


# --- the scenario form ----------------------------------------------------------------------
def test_every_scenario_exemption_parses(shared_dir: Path) -> None:
    path = shared_dir / "domain" / "ze-scenarios-dev.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if (row.get("exemption") or "").strip()]
    assert rows, "the scenario file has exemption cases"
    for row in rows:
        exemption = parse_scenario_exemption(f"CASE{row['case_id']}", row["exemption"])
        assert exemption.plate == f"CASE{row['case_id']}"
        assert exemption.type in KNOWN_TYPES | {"dierenambulance"}  # the one local key
        if exemption.status is ExemptionStatus.GRANTED:
            assert exemption.starts_at is not None and exemption.ends_before is not None
            assert exemption.starts_at < exemption.ends_before
        else:
            assert exemption.starts_at is None


def test_scenario_inclusive_dates() -> None:
    e = parse_scenario_exemption("CASE1", "levertijd|Amsterdam|2026-01-01|2026-06-30")
    assert (e.type, e.scope, e.status) == ("levertijd", "Amsterdam", ExemptionStatus.GRANTED)
    assert e.starts_at == local(date(2026, 1, 1))
    assert e.ends_before == local(date(2026, 7, 1))  # through 30 June inclusive
    assert e.valid_at(local(date(2026, 6, 30), 23, 59))
    assert not e.valid_at(local(date(2026, 7, 1)))
    assert e.last_day == date(2026, 6, 30)
    assert e == Exemption.for_dates(
        "CASE1", "levertijd", "Amsterdam", date(2026, 1, 1), date(2026, 6, 30), note=""
    )


def test_scenario_day_permit_with_sequence() -> None:
    e = parse_scenario_exemption(
        "CASE2",
        "dagontheffing|Den Haag|2026-06-03T00:00|2026-06-04T06:00|n=1/12; requested "
        "2026-06-03T23:30 (after the passage)",
    )
    assert e.sequence == 1
    assert e.starts_at == local(date(2026, 6, 3))
    assert e.ends_before == local(date(2026, 6, 4), 6)  # a date-time end is exclusive
    assert e == Exemption.day_permit("CASE2", "Den Haag", date(2026, 6, 3), sequence=1, note=e.note)
    assert e.note.startswith("n=1/12; requested")


def test_scenario_refused_and_free_text() -> None:
    e = parse_scenario_exemption(
        "CASE3", "dagontheffing|Rotterdam|REFUSED|13th request in 2026 (limit 12 per year)"
    )
    assert e.status is ExemptionStatus.REFUSED
    assert e.starts_at is None and e.ends_before is None
    assert e.note == "13th request in 2026 (limit 12 per year)"
    assert not e.valid_at(local(date(2026, 3, 1)))
    e = parse_scenario_exemption("CASE4", "geen-ZE-alternatief|Utrecht|2026-02-01|2036-01-31|10 yr")
    assert e.note == "10 yr" and e.sequence is None
    e = parse_scenario_exemption("CASE5", " netcongestie | NL(RVO) | 2026-01-15 | 2028-01-14 ")
    assert e.scope == "NL(RVO)"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("levertijd|Amsterdam", "expected type|scope"),
        ("levertijd|Amsterdam|2026-01-01", "valid_until is missing"),
        ("levertijd||2026-01-01|2026-02-01", "scope is missing"),
        ("|Amsterdam|2026-01-01|2026-02-01", "type is missing"),
        ("lever tijd|Amsterdam|2026-01-01|2026-02-01", "not a permit type key"),
        ("levertijd|Amsterdam|2026-13-01|2026-02-01", "valid_from '2026-13-01' is not a date"),
        ("levertijd|Amsterdam|2026-03-01|2026-02-01", "is not after valid_from"),
        ("levertijd|Amsterdam|2026-01-01|1 feb", "valid_until '1 feb' is not a date"),
    ],
)
def test_scenario_malformed(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("|", r"\|").replace("(", r"\(")):
        parse_scenario_exemption("CASE", text)


# --- the register file --------------------------------------------------------------------
ROWS = [
    {"kenteken": "vb-123-x", "type": "bedrijfseconomisch", "scope": "Den Haag",
     "valid_from": "2025-05-01", "valid_until": "2026-04-30", "reference": "DH-2025-0042"},
    {"kenteken": "BX-12-NP", "type": "dagontheffing", "scope": "Utrecht",
     "valid_from": "2026-03-10T00:00", "valid_until": "2026-03-11T06:00", "sequence": "3/12"},
    {"kenteken": "BX12NP", "type": "dagontheffing", "scope": "Rotterdam", "status": "refused"},
    {"kenteken": "V-221-FX", "type": "netcongestie", "scope": "NL(RVO)",
     "valid_from": "20260115", "valid_until": "20280114", "status": "verleend"},
    {"kenteken": "DHN-19-D", "type": "dierenambulance", "scope": "Utrecht",
     "valid_from": "2025-09-01", "valid_until": "2026-08-31", "status": "revoked",
     "note": "vehicle sold"},
    {"kenteken": "46-GZB-8", "type": "dagontheffing", "scope": "Amsterdam",
     "valid_from": "2026-03-29T00:00+01:00", "valid_until": "2026-03-30T06:00+02:00",
     "sequence": "1"},
]  # fmt: skip


def expected() -> list[Exemption]:
    return [
        Exemption.for_dates(
            "VB123X",
            "bedrijfseconomisch",
            "Den Haag",
            date(2025, 5, 1),
            date(2026, 4, 30),
            reference="DH-2025-0042",
        ),
        Exemption.day_permit("BX12NP", "Utrecht", date(2026, 3, 10), sequence=3),
        Exemption("BX12NP", "dagontheffing", "Rotterdam", None, None, ExemptionStatus.REFUSED),
        Exemption.for_dates(
            "V221FX", "netcongestie", "NL(RVO)", date(2026, 1, 15), date(2028, 1, 14)
        ),
        Exemption.for_dates(
            "DHN19D",
            "dierenambulance",
            "Utrecht",
            date(2025, 9, 1),
            date(2026, 8, 31),
            status=ExemptionStatus.REVOKED,
            note="vehicle sold",
        ),
        Exemption.day_permit("46GZB8", "Amsterdam", date(2026, 3, 29), sequence=1),
    ]


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_register(tmp_path: Path) -> None:
    report = LoadReport()
    got = list(read_exemptions(write_csv(tmp_path / "ontheffingen.csv", ROWS), report=report))
    assert got == expected()
    assert (report.rows_read, report.loaded, report.skipped) == (6, 6, 0)
    # The day permit over the DST change: 00:00 CET until 06:00 CEST next day.
    assert got[5].ends_before is not None and got[5].starts_at is not None
    elapsed = got[5].ends_before.astimezone(UTC) - got[5].starts_at.astimezone(UTC)
    assert elapsed.total_seconds() == 29 * 3600


def test_semicolon_csv_with_upper_case_header(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(
        "\ufeffKENTEKEN;Type;Scope;Valid_From;Valid_Until;Extra\n"
        "VB123X;levertijd;Amsterdam;2026-01-01;2026-06-30;ignored\n",
        encoding="utf-8",
    )
    (got,) = read_exemptions(path, report=LoadReport())
    assert got == Exemption.for_dates(
        "VB123X", "levertijd", "Amsterdam", date(2026, 1, 1), date(2026, 6, 30)
    )


@pytest.mark.parametrize("layout", ["array", "ndjson"])
def test_json_register(tmp_path: Path, layout: str) -> None:
    rows: list[dict[str, object]] = [dict(row) for row in ROWS]
    rows[1]["sequence"] = 3  # a JSON number is fine
    if layout == "array":
        path = tmp_path / "ontheffingen.json"
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    else:
        path = tmp_path / "ontheffingen.ndjson"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = LoadReport()
    assert list(read_exemptions(path, report=report)) == expected()
    assert report.skipped == 0


def test_malformed_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    bad = [
        ROWS[0],
        {**ROWS[0], "kenteken": ""},
        {**ROWS[0], "type": ""},
        {**ROWS[0], "scope": ""},
        {**ROWS[0], "valid_from": "01-05-2025"},
        {**ROWS[0], "valid_until": ""},
        {**ROWS[0], "valid_until": "2025-04-30"},
        {**ROWS[0], "status": "pending"},
        {**ROWS[0], "sequence": "third"},
        {**ROWS[0], "kenteken": "--"},
        {**ROWS[0], "kenteken": "VB#123X"},
        ROWS[1],
    ]
    path = write_csv(tmp_path / "bad.csv", bad)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("VB123X,levertijd\n")  # line 14: short row
    report = LoadReport()
    got = list(read_exemptions(path, report=report))
    assert got == expected()[:2]
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, "kenteken is missing"),
        (4, "type is missing"),
        (5, "scope is missing"),
        (6, "valid_from '01-05-2025' is not a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM"),
        (7, "valid_until is missing"),
        (8, "valid_until '2025-04-30' is not after valid_from"),
        (9, "status 'pending' is not granted, refused or revoked"),
        (10, "sequence 'third' is not a number (or K/12)"),
        (11, "kenteken '--' has no letters or digits"),
        (12, "kenteken 'VB#123X' has characters other than letters and digits"),
        (14, "expected 9 columns, found 2"),
    ]
    assert (report.rows_read, report.loaded, report.skipped) == (13, 2, 11)


def test_broken_json_object(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(
        "["
        + json.dumps(ROWS[0])
        + '\n,{"kenteken": "AB12CD", "type": }\n,'
        + json.dumps(ROWS[1])
        + '\n,{"kenteken": ["AB12CD"], "type": "levertijd"}\n]'
    )
    report = LoadReport()
    assert list(read_exemptions(path, report=report)) == expected()[:2]
    assert [p.line for p in report.problems] == [2, 4]
    assert report.problems[0].reason.startswith("invalid JSON object")
    assert report.problems[1].reason == "kenteken is not text"


def test_header_must_name_kenteken_and_type(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("plate,kind\nAB12CD,levertijd\n")
    with pytest.raises(ValueError, match="kenteken and type"):
        list(read_exemptions(path, report=LoadReport()))
