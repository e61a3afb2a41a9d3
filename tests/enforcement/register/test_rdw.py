"""The RDW loader on real files: both CSV spellings, SODA JSON, bad rows and unsorted joins.

The column names are the real ones (display names for the bulk CSV, API names for SODA) as
listed by the public schema repository j3lte/rdw-data.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Generator, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

import pytest

from enforcement.law import decide
from enforcement.model import LOCAL_TZ, Fuel, Vehicle, parse_emission_class
from enforcement.platecheck import vehicle_summary
from enforcement.register.rdw import canonical_field, read_vehicles, sources
from enforcement.register.report import LoadReport
from enforcement.zones import default_catalog
from stream.metrics import emission_label, fuel_group

# (API name, bulk CSV display name): a realistic subset of m9d7-ebf2 in the bulk file's order.
VEHICLE_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("voertuigsoort", "Voertuigsoort"),
    ("merk", "Merk"),
    ("handelsbenaming", "Handelsbenaming"),
    ("inrichting", "Inrichting"),
    ("eerste_kleur", "Eerste kleur"),
    ("tweede_kleur", "Tweede kleur"),
    ("toegestane_maximum_massa_voertuig", "Toegestane maximum massa voertuig"),
    ("datum_eerste_toelating", "Datum eerste toelating"),
    ("datum_eerste_tenaamstelling_in_nederland", "Datum eerste tenaamstelling in Nederland"),
    ("export_indicator", "Export indicator"),
    ("europese_voertuigcategorie", "Europese voertuigcategorie"),
    ("lengte", "Lengte"),
]
FUEL_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("brandstof_volgnummer", "Brandstof volgnummer"),
    ("brandstof_omschrijving", "Brandstof omschrijving"),
    ("emissiecode_omschrijving", "Emissieklasse"),
    ("uitlaatemissieniveau", "Uitlaatemissieniveau"),
    ("klasse_hybride_elektrisch_voertuig", "Klasse hybride elektrisch voertuig"),
]
BODY_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("carrosserie_volgnummer", "Carrosserie volgnummer"),
    ("carrosserietype", "Carrosserietype"),
    ("type_carrosserie_europese_omschrijving", "Type Carrosserie Europese omschrijving"),
]
BODY_CODE_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("carrosserie_volgnummer", "Carrosserie volgnummer"),
    ("carrosserie_voertuig_nummer_code_volgnummer", "Carrosserie voertuig nummer code volgnummer"),
    ("carrosseriecode", "Carrosseriecode"),
]
PARTICULARITY_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("bijzonderheid_volgnummer", "Bijzonderheid volgnummer"),
    ("bijzonderheid_code", "Bijzonderheid code"),
    ("bijzonderheid_code_1", "Bijzonderheid code omschrijving"),
]
AXLE_COLUMNS = [
    ("kenteken", "Kenteken"),
    ("as_nummer", "As nummer"),
    ("aantal_assen", "Aantal assen"),
]

# Public example rows (rules spec §6) plus a plug-in hybrid van, a used import and a
# wheelchair taxi. Values as the API gives them (all text).
VEHICLES = [
    {
        "kenteken": "XF100F",
        "voertuigsoort": "Personenauto",
        "merk": "VOLKSWAGEN",
        "handelsbenaming": "GOLF",
        "inrichting": "hatchback",
        "eerste_kleur": "GRIJS",
        "tweede_kleur": "Niet geregistreerd",
        "toegestane_maximum_massa_voertuig": "1796",
        "datum_eerste_toelating": "20140602",
        "datum_eerste_tenaamstelling_in_nederland": "20140602",
        "export_indicator": "Nee",
        "europese_voertuigcategorie": "M1",
        "lengte": "426",
    },
    {
        "kenteken": "BB100B",
        "voertuigsoort": "Bedrijfsauto",
        "merk": "VOLVO",
        "handelsbenaming": "FM",
        "inrichting": "betonmixer",
        "eerste_kleur": "WIT",
        "tweede_kleur": "ORANJE",
        "toegestane_maximum_massa_voertuig": "32000",
        "datum_eerste_toelating": "20190301",
        "datum_eerste_tenaamstelling_in_nederland": "20220615",
        "export_indicator": "Nee",
        "europese_voertuigcategorie": "N3",
    },
    {
        "kenteken": "VNF12K",
        "voertuigsoort": "Bedrijfsauto",
        "merk": "FORD",
        "handelsbenaming": "TRANSIT CUSTOM",
        "inrichting": "gesloten opbouw",
        "eerste_kleur": "WIT",
        "toegestane_maximum_massa_voertuig": "3400",
        "datum_eerste_toelating": "20230110",
        "datum_eerste_tenaamstelling_in_nederland": "20230110",
        "export_indicator": "Ja",
        "europese_voertuigcategorie": "N1",
    },
    {
        "kenteken": "L369JR",
        "voertuigsoort": "Personenauto",
        "merk": "MERCEDES-BENZ",
        "handelsbenaming": "VITO",
        "inrichting": "voor rolstoelen toegankelijk voertuig",
        "toegestane_maximum_massa_voertuig": "3050",
        "datum_eerste_toelating": "20110915",
        "datum_eerste_tenaamstelling_in_nederland": "20110915",
        "export_indicator": "Nee",
        "europese_voertuigcategorie": "M1",
    },
]
# Deliberately unsorted, and the hybrid's rows in reverse order.
FUELS = [
    {"kenteken": "VNF12K", "brandstof_volgnummer": "2", "brandstof_omschrijving": "Elektriciteit",
     "emissiecode_omschrijving": "6", "klasse_hybride_elektrisch_voertuig": "OVC-HEV"},
    {"kenteken": "XF100F", "brandstof_volgnummer": "1", "brandstof_omschrijving": "Benzine",
     "emissiecode_omschrijving": "6", "uitlaatemissieniveau": "EURO 6 W"},
    {"kenteken": "L369JR", "brandstof_volgnummer": "1", "brandstof_omschrijving": "Benzine",
     "emissiecode_omschrijving": "5", "uitlaatemissieniveau": "EURO 5 A"},
    {"kenteken": "BB100B", "brandstof_volgnummer": "1", "brandstof_omschrijving": "Diesel",
     "emissiecode_omschrijving": "VI", "uitlaatemissieniveau": "EURO VI C"},
    {"kenteken": "VNF12K", "brandstof_volgnummer": "1", "brandstof_omschrijving": "Diesel",
     "emissiecode_omschrijving": "6", "klasse_hybride_elektrisch_voertuig": "OVC-HEV"},
]  # fmt: skip
BODIES = [
    {"kenteken": "BB100B", "carrosserie_volgnummer": "1", "carrosserietype": "BA",
     "type_carrosserie_europese_omschrijving": "Vrachtwagen"},
    {"kenteken": "L369JR", "carrosserie_volgnummer": "1", "carrosserietype": "SH",
     "type_carrosserie_europese_omschrijving": "Rolstoeltoegankelijk voertuig"},
    {"kenteken": "XF100F", "carrosserie_volgnummer": "1", "carrosserietype": "AB",
     "type_carrosserie_europese_omschrijving": "Hatchback"},
]  # fmt: skip
BODY_CODES = [
    {"kenteken": "BB100B", "carrosserie_volgnummer": "1",
     "carrosserie_voertuig_nummer_code_volgnummer": "1", "carrosseriecode": "15"},
]  # fmt: skip
PARTICULARITIES = [
    {"kenteken": "L369JR", "bijzonderheid_volgnummer": "2", "bijzonderheid_code": "149",
     "bijzonderheid_code_1": "Rolstoelvergrendeling"},
    {"kenteken": "L369JR", "bijzonderheid_volgnummer": "1", "bijzonderheid_code": "145",
     "bijzonderheid_code_1": "Rolstoelplaats"},
]  # fmt: skip
AXLES = [
    {"kenteken": "BB100B", "as_nummer": "2", "aantal_assen": "4"},
    {"kenteken": "BB100B", "as_nummer": "1", "aantal_assen": "4"},
    {"kenteken": "BB100B", "as_nummer": "3", "aantal_assen": "4"},
    {"kenteken": "BB100B", "as_nummer": "4", "aantal_assen": "4"},
]

EXPECTED = {
    "XF100F": Vehicle(
        plate="XF100F",
        kind="Personenauto",
        max_mass_kg=1796,
        eu_category="M1",
        body="hatchback",
        body_type_codes=("AB",),
        first_admission=date(2014, 6, 2),
        first_nl_registration=date(2014, 6, 2),
        fuels=(Fuel("Benzine", "6"),),
        length_cm=426,
        make="VOLKSWAGEN",
        commercial_name="GOLF",
        colour="GRIJS",
    ),
    "BB100B": Vehicle(
        plate="BB100B",
        kind="Bedrijfsauto",
        max_mass_kg=32000,
        eu_category="N3",
        body="betonmixer",
        body_type_codes=("BA",),
        body_codes=("15",),
        axles=4,
        first_admission=date(2019, 3, 1),
        first_nl_registration=date(2022, 6, 15),
        fuels=(Fuel("Diesel", "6"),),
        make="VOLVO",
        commercial_name="FM",
        colour="WIT",
        second_colour="ORANJE",
    ),
    "VNF12K": Vehicle(
        plate="VNF12K",
        kind="Bedrijfsauto",
        max_mass_kg=3400,
        eu_category="N1",
        body="gesloten opbouw",
        first_admission=date(2023, 1, 10),
        first_nl_registration=date(2023, 1, 10),
        fuels=(Fuel("Diesel", "6", "OVC-HEV"), Fuel("Elektriciteit", "6", "OVC-HEV")),
        exported=True,
        make="FORD",
        commercial_name="TRANSIT CUSTOM",
        colour="WIT",
    ),
    "L369JR": Vehicle(
        plate="L369JR",
        kind="Personenauto",
        max_mass_kg=3050,
        eu_category="M1",
        body="voor rolstoelen toegankelijk voertuig",
        body_type_codes=("SH",),
        particularity_codes=(145, 149),
        first_admission=date(2011, 9, 15),
        first_nl_registration=date(2011, 9, 15),
        fuels=(Fuel("Benzine", "5"),),
        make="MERCEDES-BENZ",
        commercial_name="VITO",
    ),
}

NUMERIC = {"toegestane_maximum_massa_voertuig"}


def write_csv(
    path: Path,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, str]],
    *,
    display: bool = True,
) -> Path:
    """A CSV as RDW writes it: display names (bulk) or API names (SODA), thousands commas."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(shown if display else api for api, shown in columns)
        for row in rows:
            values = []
            for api, _ in columns:
                value = row.get(api, "")
                if display and api in NUMERIC and len(value) > 3:
                    value = f"{int(value):,}"  # the bulk export's "1,796"
                values.append(value)
            writer.writerow(values)
    return path


def write_soda_json(path: Path, rows: Iterable[dict[str, str]], *, dt: bool = True) -> Path:
    """A SODA JSON array: one object per line, `[{...}` then `,{...}`, `_dt` twins."""
    parts = []
    for row in rows:
        obj = {k: v for k, v in row.items() if v}
        if dt:
            for key in ("datum_eerste_toelating", "datum_eerste_tenaamstelling_in_nederland"):
                if key in obj:
                    v = obj[key]
                    obj[f"{key}_dt"] = f"{v[:4]}-{v[4:6]}-{v[6:]}T00:00:00.000"
        parts.append(json.dumps(obj, separators=(",", ":")))
    path.write_text("[" + "\n,".join(parts) + "\n]\n", encoding="utf-8")
    return path


def dataset(tmp_path: Path, fmt: str) -> dict[str, Path]:
    """The example register in one of the three formats."""
    tables = {
        "vehicles": (VEHICLE_COLUMNS, VEHICLES),
        "fuels": (FUEL_COLUMNS, FUELS),
        "bodies": (BODY_COLUMNS, BODIES),
        "body_codes": (BODY_CODE_COLUMNS, BODY_CODES),
        "particularities": (PARTICULARITY_COLUMNS, PARTICULARITIES),
        "axles": (AXLE_COLUMNS, AXLES),
    }
    out = {}
    for name, (columns, rows) in tables.items():
        if fmt == "json":
            out[name] = write_soda_json(tmp_path / f"{name}.json", rows)
        else:
            out[name] = write_csv(
                tmp_path / f"{name}.csv", columns, rows, display=(fmt == "bulk-csv")
            )
    return out


def load(files: dict[str, Path], **kwargs: object) -> tuple[dict[str, Vehicle], LoadReport]:
    report = LoadReport()
    vehicles = list(read_vehicles(**files, report=report, **kwargs))  # type: ignore[arg-type]
    by_plate = {v.plate: v for v in vehicles}
    assert len(by_plate) == len(vehicles)
    return by_plate, report


# --- formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["bulk-csv", "soda-csv", "json"])
def test_every_format_gives_the_same_vehicles(tmp_path: Path, fmt: str) -> None:
    got, report = load(dataset(tmp_path, fmt))
    assert got == EXPECTED
    assert report.skipped == 0
    assert report.loaded == 4
    assert report.rows_read == 4 + len(FUELS) + 3 + 1 + 2 + 4
    assert not report.problems


def test_vehicle_properties_follow_the_register(tmp_path: Path) -> None:
    got, _ = load(dataset(tmp_path, "bulk-csv"))
    assert got["VNF12K"].plugin_hybrid and got["VNF12K"].hybrid
    assert got["BB100B"].emission_class == "6"  # roman VI mapped to arabic
    assert not got["XF100F"].zero_emission


def test_bulk_csv_header_is_the_real_one(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    header = files["vehicles"].read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("Kenteken,Voertuigsoort,Merk,Handelsbenaming,Inrichting")
    assert '"1,796"' in files["vehicles"].read_text(encoding="utf-8")


def test_vehicles_only_and_partial_datasets(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    got, _ = load({"vehicles": files["vehicles"]})
    assert got["XF100F"].fuels == () and got["XF100F"].body_type_codes == ()
    assert got["XF100F"].first_admission == date(2014, 6, 2)
    got, _ = load({"vehicles": files["vehicles"], "fuels": files["fuels"]})
    assert got["VNF12K"].fuels == EXPECTED["VNF12K"].fuels
    assert got["BB100B"].axles is None


def test_soda_json_with_only_dt_dates_and_ndjson(tmp_path: Path) -> None:
    rows = []
    for row in VEHICLES:
        copy = dict(row)
        det = copy.pop("datum_eerste_toelating")
        copy["datum_eerste_toelating_dt"] = f"{det[:4]}-{det[4:6]}-{det[6:]}T00:00:00.000"
        rows.append(copy)
    path = tmp_path / "vehicles.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    got, report = load({"vehicles": path})
    assert got["XF100F"].first_admission == date(2014, 6, 2)
    assert report.skipped == 0


def test_soda_csv_export_dates_month_first(tmp_path: Path) -> None:
    path = tmp_path / "soda.csv"
    path.write_text(
        "kenteken,voertuigsoort,datum_eerste_toelating_dt\nXF100F,Personenauto,"
        "06/02/2014 12:00:00 AM\n",
        encoding="utf-8",
    )
    got, _ = load({"vehicles": path})
    assert got["XF100F"].first_admission == date(2014, 6, 2)


def test_format_detected_from_content_bom_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text(
        "\ufeffKenteken;Voertuigsoort;Toegestane maximum massa voertuig\n"
        "xf-100-f;Personenauto;1796\n",
        encoding="utf-8",
    )
    got, _ = load({"vehicles": path})
    assert got["XF100F"].max_mass_kg == 1796  # plate normalised too
    json_path = tmp_path / "export.dat"
    json_path.write_text('  [{"kenteken": "XF100F", "voertuigsoort": "Personenauto"}]')
    got, _ = load({"vehicles": json_path})
    assert got["XF100F"].kind == "Personenauto"


def test_json_numbers_and_display_name_keys(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(
        json.dumps(
            [
                {"kenteken": "XF100F", "toegestane_maximum_massa_voertuig": 1796},
                {"Kenteken": "BB100B", "Voertuigsoort": "Bedrijfsauto"},
            ]
        )
    )
    got, report = load({"vehicles": path})
    assert got["XF100F"].max_mass_kg == 1796
    assert got["BB100B"].kind == "Bedrijfsauto"
    assert report.skipped == 0


def test_header_without_kenteken_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("Voertuigsoort\nPersonenauto\n")
    with pytest.raises(ValueError, match="Kenteken"):
        list(read_vehicles(path, report=LoadReport()))


def test_empty_files(tmp_path: Path) -> None:
    empty_csv = tmp_path / "v.csv"
    empty_csv.write_text("")
    report = LoadReport()
    assert list(read_vehicles(empty_csv, report=report)) == []
    assert "v.csv: empty file" in report.notes
    empty_json = tmp_path / "v.json"
    empty_json.write_text("[]\n")
    assert list(read_vehicles(empty_json, report=LoadReport())) == []


def test_absent_column_is_noted_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("Kenteken,Datum eerste toelating\nXF100F,20140602\n")
    got, report = load({"vehicles": path})
    assert got["XF100F"].kind is None and got["XF100F"].first_admission == date(2014, 6, 2)
    assert report.notes["v.csv: column voertuigsoort absent"] == 1


# --- values -------------------------------------------------------------------------------
def test_canonical_field_names() -> None:
    assert canonical_field("Datum eerste toelating") == "datum_eerste_toelating"
    assert canonical_field("Datum eerste toelating DT") == "datum_eerste_toelating_dt"
    assert canonical_field("\ufeffKenteken") == "kenteken"
    assert canonical_field("Emissieklasse") == "emissiecode_omschrijving"
    assert canonical_field("Emissiecode omschrijving") == "emissiecode_omschrijving"
    assert canonical_field("Milieuklasse EG Goedkeuring (licht)") == (
        "milieuklasse_eg_goedkeuring_licht"
    )
    assert canonical_field("Technische max. massa voertuig") == "technische_max_massa_voertuig"
    assert canonical_field("Bijzonderheid code omschrijving") == "bijzonderheid_code_1"
    assert canonical_field("toegestane_maximum_massa_voertuig") == (
        "toegestane_maximum_massa_voertuig"
    )


#: Every `emissiecode_omschrijving` spelling the RDW files carry (spec §6: "0".."6" and "Z",
#: roman V/VI on heavy-duty rows, EEV between Euro V and VI), with "EURO" prefixes, case and
#: padding as exports write them; and the canonical class each one is.
RDW_EMISSION_VALUES = [
    *((str(n), str(n)) for n in range(7)),
    ("Z", "Z"), (" Z ", "Z"), ("z", "Z"),
    ("I", "1"), ("II", "2"), ("III", "3"), ("IV", "4"), ("V", "5"), ("VI", "6"), ("VII", "7"),
    ("vi", "6"), ("EEV", "5"), ("eev", "5"),
    ("EURO VI", "6"), ("Euro 6", "6"), ("EURO 5", "5"), ("EURO  V", "5"), ("EURO EEV", "5"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), RDW_EMISSION_VALUES)
def test_every_emission_value_reads_the_same_in_loader_law_metrics_and_plate_check(
    tmp_path: Path, raw: str, expected: str
) -> None:
    """One reading of the emission class: the loader stores it, the law decides on it, the
    flow labels and the plate check show it, all through `enforcement.model.vehicle_facts`.
    (Before, the loader mapped EEV to 5, the law read EEV as no class, and the flow labels
    knew only V and VI.)"""
    assert parse_emission_class(raw) == expected
    files = dataset(tmp_path, "bulk-csv")
    fuels = [{"kenteken": "GH34JK", "brandstof_volgnummer": "1",
              "brandstof_omschrijving": "Diesel", "emissiecode_omschrijving": raw}]  # fmt: skip
    van = {
        "kenteken": "GH34JK", "voertuigsoort": "Bedrijfsauto", "toegestane_maximum_massa_voertuig":
        "3000", "datum_eerste_toelating": "20150301", "europese_voertuigcategorie": "N1",
    }  # fmt: skip
    write_csv(files["vehicles"], VEHICLE_COLUMNS, [van])
    write_csv(files["fuels"], FUEL_COLUMNS, fuels)
    got, report = load({"vehicles": files["vehicles"], "fuels": files["fuels"]})
    vehicle = got["GH34JK"]
    assert not report.notes, report.notes
    assert vehicle.emission_class == expected  # the loader
    assert vehicle.fuels[0].emission_class == expected  # stored canonical in the register
    assert emission_label(vehicle) == expected  # the stream's flow label
    assert fuel_group(vehicle) == ("zero_emission" if expected == "Z" else "diesel")
    summary = vehicle_summary(vehicle, None, "en")  # the plate check
    assert expected == "Z" or f"emission class {expected}," in summary, summary
    # The law: a 2015 van on 2026-06-01 is R5 (Z), R7 (<= 4), R8 (5) or R9 (6, 7).
    utrecht = default_catalog().get("Utrecht")
    assert utrecht is not None
    decision = decide(datetime(2026, 6, 1, 10, tzinfo=LOCAL_TZ), utrecht, vehicle)
    rule = {"Z": "R5", "5": "R8", "6": "R9", "7": "R9"}.get(expected, "R7")
    assert rule in decision.rule_ids, decision.rule_ids
    assert vehicle.facts.euro == (None if expected == "Z" else int(expected))


@pytest.mark.parametrize("raw", ["", "  ", None])
def test_an_empty_emission_value_is_not_registered(raw: str | None) -> None:
    assert parse_emission_class(raw) is None
    vehicle = Vehicle("GH34JK", "Bedrijfsauto", 3000, fuels=(Fuel("Diesel", raw),))
    assert vehicle.emission_class is None and emission_label(vehicle) == "unknown"


@pytest.mark.parametrize("raw", ["X", "8", "EURO", "6A", "VIII"])
def test_other_emission_text_is_an_error_not_a_guess(raw: str) -> None:
    with pytest.raises(ValueError, match="emission class"):
        parse_emission_class(raw)
    vehicle = Vehicle("GH34JK", "Bedrijfsauto", 3000, fuels=(Fuel("Diesel", raw),))
    assert vehicle.emission_class is None and vehicle.facts.euro is None
    assert emission_label(vehicle) == "other"


def test_unknown_emission_class_is_counted_not_guessed(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    fuels = [dict(row) for row in FUELS]
    fuels[1]["emissiecode_omschrijving"] = "X"
    write_csv(files["fuels"], FUEL_COLUMNS, fuels)
    got, report = load({"vehicles": files["vehicles"], "fuels": files["fuels"]})
    assert got["XF100F"].fuels == (Fuel("Benzine", None),)
    assert report.skipped == 0
    note = "unrecognised emissiecode_omschrijving (read as not registered)"
    assert report.notes[note] == 1
    assert report.examples[note].line == 3


# --- bad rows -----------------------------------------------------------------------------
def test_malformed_csv_rows_are_skipped_with_line_and_reason(tmp_path: Path) -> None:
    # An extract without the colour columns (older layouts): read, the colours None.
    header = ",".join(display for api, display in VEHICLE_COLUMNS if "kleur" not in api)
    lines = [
        header,
        'XF100F,Personenauto,VW,GOLF,hatchback,"1,796",20140602,20140602,Nee,M1,426',
        "AB12CD,Personenauto,VW,GOLF,hatchback,1200,20191345,20191345,Nee,M1,400",  # bad date
        ",Personenauto,VW,GOLF,hatchback,1200,20140602,20140602,Nee,M1,400",  # no kenteken
        "GH34JK,Bedrijfsauto,VW,CADDY,,veel,20140602,20140602,Nee,N1,400",  # garbage number
        "KL56MN,Personenauto,VW",  # short row
        'PQ78RS,Personenauto,"VW\nAG",GOLF,,1200,20140602,20140602,Nee,M1,400',  # 2 lines, fine
        "TV90XZ,Personenauto,VW,GOLF,,1200,2014-06-02,20140602,Nee,M1,400",  # wrong date form
        "",
        'BB100B,Bedrijfsauto,VOLVO,FM,betonmixer,"32,000",20190301,20220615,Nee,N3,',
        "XY-99-ZZZ,Personenauto,VW,GOLF,,1200,20140602,20140602,Nee,M1,400",  # 7 characters
        "GH34JK,Bedrijfsauto,VW,CADDY,,-5,20140602,20140602,Nee,N1,400",  # negative mass
    ]
    path = tmp_path / "Open_Data_RDW__Gekentekende_voertuigen.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got, report = load({"vehicles": path}, batch_size=4)
    assert set(got) == {"XF100F", "PQ78RS", "BB100B"}
    assert got["XF100F"].max_mass_kg == 1796 and got["BB100B"].max_mass_kg == 32000
    assert got["BB100B"].length_cm is None
    problems = {(p.line, p.reason) for p in report.problems}
    assert problems == {
        (3, "datum_eerste_toelating '20191345' is not a date YYYYMMDD"),
        (4, "kenteken is missing"),
        (5, "toegestane_maximum_massa_voertuig 'veel' is not a whole number"),
        (6, "expected 11 columns, found 3"),
        (9, "datum_eerste_toelating '2014-06-02' is not a date YYYYMMDD"),
        (12, "kenteken 'XY-99-ZZZ' is not 6 letters and digits"),
        (13, "toegestane_maximum_massa_voertuig '-5' is negative"),
    }
    assert all(p.source == path.name for p in report.problems)
    assert report.skipped == 7 and report.loaded == 3
    assert report.rows_read == 10  # the blank line is not a row
    assert "7 skipped" in report.summary()


def test_unreadable_csv_row_does_not_stop_the_load(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "Kenteken,Voertuigsoort\nXF100F,Personenauto\nAB12CD," + "x" * 300 + "\nBB100B,Bus\n"
    )
    limit = csv.field_size_limit(100)
    try:
        got, report = load({"vehicles": path})
    finally:
        csv.field_size_limit(limit)
    assert set(got) == {"XF100F", "BB100B"}
    assert report.skipped == 1
    assert report.problems[0].line == 3
    assert "unreadable CSV row" in report.problems[0].reason


def test_broken_json_objects_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(
        '[{"kenteken":"XF100F","voertuigsoort":"Personenauto"}\n'
        ',{"kenteken":"AB12CD","voertuigsoort": Personenauto}\n'  # not JSON
        ',{"kenteken":"BB100B","datum_eerste_toelating":"2019-03-01"}\n'  # bad date
        ',{"kenteken":"GH34JK","voertuigsoort":{"a":1}}\n'  # not text
        ',"just a string"\n'
        ',{"kenteken":"VNF12K","voertuigsoort":"Bedrijfsauto"}\n'
        ',{"kenteken":"L369JR","voertuigsoort":"Perso'  # cut off
    )
    got, report = load({"vehicles": path})
    assert set(got) == {"XF100F", "VNF12K"}
    reasons = {p.line: p.reason for p in report.problems}
    assert reasons[2].startswith("invalid JSON object")
    assert reasons[3] == "datum_eerste_toelating '2019-03-01' is not a date YYYYMMDD"
    assert reasons[4] == "a field holds a JSON object or list, not text"
    assert reasons[5].startswith("invalid JSON object: expected an object")
    assert reasons[7].startswith("invalid JSON object")
    assert report.skipped == 5 and report.rows_read == 7


def test_json_objects_cut_by_the_read_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = dataset(tmp_path, "json")
    monkeypatch.setattr(sources, "_READ_SIZE", 7)  # every object straddles many reads
    got, report = load(files)
    assert got == EXPECTED and report.skipped == 0
    minified = tmp_path / "min.json"
    minified.write_text(
        '[{"kenteken":"XF100F"},{"kenteken":"AB12CD",x},{"kenteken":"BB100B"}]', encoding="utf-8"
    )
    got, report = load({"vehicles": minified})
    assert set(got) == {"XF100F", "BB100B"} and report.skipped == 1


def test_bad_fuel_row_makes_its_vehicle_incomplete(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    fuels = [dict(row) for row in FUELS]
    fuels[0]["brandstof_volgnummer"] = "twee"  # VNF12K's electric row, line 2
    fuels.append({"kenteken": "", "brandstof_omschrijving": "Diesel"})  # line 7: no plate
    write_csv(files["fuels"], FUEL_COLUMNS, fuels)
    got, report = load(files)
    assert "VNF12K" not in got  # better "not in the register" (a human looks) than a guess
    assert set(got) == {"XF100F", "BB100B", "L369JR"}
    problems = {(p.source, p.line): p.reason for p in report.problems}
    assert problems[("fuels.csv", 2)] == "brandstof_volgnummer 'twee' is not a whole number"
    assert problems[("fuels.csv", 7)] == "kenteken is missing"
    assert problems[("vehicles.csv", 4)] == (
        "vehicle VNF12K is incomplete: its row on fuels.csv:2 was skipped "
        "(brandstof_volgnummer 'twee' is not a whole number)"
    )
    assert report.skipped == 3


def test_bad_secondary_codes(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    parts = [dict(row) for row in PARTICULARITIES]
    parts[0]["bijzonderheid_code"] = "14x"
    write_csv(files["particularities"], PARTICULARITY_COLUMNS, parts)
    bodies = [dict(row) for row in BODIES]
    bodies[2]["carrosserietype"] = "A;B"
    write_csv(files["bodies"], BODY_COLUMNS, bodies)
    axles = [dict(row) for row in AXLES]
    axles[0]["as_nummer"] = "300"
    write_csv(files["axles"], AXLE_COLUMNS, axles)
    got, report = load(files)
    assert set(got) == {"VNF12K"}
    reasons = {p.reason for p in report.problems}
    assert "bijzonderheid_code '14x' is not a whole number" in reasons
    assert "carrosserietype 'A;B' is not a code" in reasons
    assert "sequence number 300 is too large" in reasons


# --- joins --------------------------------------------------------------------------------
def test_duplicates_and_unused_secondary_rows(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    vehicles = [*VEHICLES, {**VEHICLES[0], "voertuigsoort": "Bedrijfsauto"}]
    write_csv(files["vehicles"], VEHICLE_COLUMNS, vehicles)
    fuels = [*FUELS, {"kenteken": "ZZ999Z", "brandstof_volgnummer": "1",
                      "brandstof_omschrijving": "Diesel"}]  # fmt: skip
    write_csv(files["fuels"], FUEL_COLUMNS, fuels)
    report = LoadReport()
    out = list(read_vehicles(**files, report=report))  # type: ignore[arg-type]
    assert [v.plate for v in out] == ["XF100F", "BB100B", "VNF12K", "L369JR", "XF100F"]
    assert out[-1].kind == "Bedrijfsauto"  # a consumer storing by plate keeps the last
    assert report.notes["duplicate kenteken (later row wins)"] == 1
    assert report.examples["duplicate kenteken (later row wins)"].line == 6
    assert report.notes["fuels.csv: rows for a kenteken not in the vehicle file"] == 1
    assert report.skipped == 0


def test_unsorted_files_join_correctly(tmp_path: Path) -> None:
    """Thousands of vehicles, every file shuffled differently, small batches."""
    rng = random.Random(3)
    letters = "BDFGHJKLMNPRSTVXZ"
    plates = sorted(
        {"".join(rng.choice(letters) for _ in range(3)) + f"{rng.randrange(1000):03d}"
         for _ in range(3000)}
    )  # fmt: skip
    kinds = ["Diesel", "Benzine", "Elektriciteit", "LPG"]
    vehicles, fuels, axles, expected = [], [], [], {}
    for i, plate in enumerate(plates):
        det = date(1990 + i % 35, 1 + i % 12, 1 + i % 28)
        vehicles.append({"kenteken": plate, "voertuigsoort": "Bedrijfsauto",
                         "toegestane_maximum_massa_voertuig": str(1000 + i),
                         "datum_eerste_toelating": det.strftime("%Y%m%d")})  # fmt: skip
        count = i % 3  # 0, 1 or 2 fuel rows
        names = [kinds[(i + n) % 4] for n in range(count)]
        for n, name in enumerate(names, 1):
            fuels.append({"kenteken": plate, "brandstof_volgnummer": str(n),
                          "brandstof_omschrijving": name,
                          "emissiecode_omschrijving": str(i % 7)})  # fmt: skip
        for n in range(1, 1 + i % 4):
            axles.append({"kenteken": plate, "as_nummer": str(n), "aantal_assen": ""})
        expected[plate] = (1000 + i, det, tuple(Fuel(n, str(i % 7)) for n in names), i % 4 or None)
    for rows in (vehicles, fuels, axles):
        rng.shuffle(rows)
    files = {
        "vehicles": write_csv(tmp_path / "v.csv", VEHICLE_COLUMNS, vehicles),
        "fuels": write_csv(tmp_path / "f.csv", FUEL_COLUMNS, fuels, display=False),
        "axles": write_soda_json(tmp_path / "a.json", axles),
    }
    got, report = load(files, batch_size=97)
    assert report.skipped == 0 and len(got) == len(plates)
    for plate, (mass, det, fuel_rows, axle_count) in expected.items():
        vehicle = got[plate]
        assert (vehicle.max_mass_kg, vehicle.first_admission) == (mass, det)
        assert vehicle.fuels == fuel_rows, plate
        assert vehicle.axles == axle_count  # counted rows when aantal_assen is empty


def test_progress_is_reported(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    seen: list[int] = []
    report = LoadReport(progress=seen.append, progress_every=3)
    list(read_vehicles(**files, report=report))  # type: ignore[arg-type]
    assert seen and seen == sorted(seen) and seen[-1] <= report.rows_read


def test_abandoned_load_cleans_up(tmp_path: Path) -> None:
    files = dataset(tmp_path, "bulk-csv")
    work = tmp_path / "work"
    work.mkdir()
    stream = read_vehicles(**files, report=LoadReport(), work_dir=work)  # type: ignore[arg-type]
    assert isinstance(stream, Generator)
    next(stream)
    assert any(work.iterdir())
    stream.close()
    assert not any(work.iterdir())


def test_empty_codes_and_padded_text_read_the_same_on_every_path(tmp_path: Path) -> None:
    """A chunk parsed column by column and one parsed row by row give the same vehicles."""
    rows = [
        {"kenteken": "XF100F", "voertuigsoort": " Personenauto ", "inrichting": " Hatchback ",
         "europese_voertuigcategorie": "M1 ", "datum_eerste_toelating": "20140602"},
        {"kenteken": "xf-200-f", "voertuigsoort": " Personenauto ", "inrichting": " Hatchback ",
         "europese_voertuigcategorie": "M1 ", "datum_eerste_toelating": "20140602"},
    ]  # fmt: skip
    files = {
        "vehicles": write_csv(tmp_path / "v.csv", VEHICLE_COLUMNS, rows),
        "particularities": write_csv(
            tmp_path / "p.csv",
            PARTICULARITY_COLUMNS,
            [{"kenteken": "XF100F", "bijzonderheid_volgnummer": "1", "bijzonderheid_code": ""}],
        ),
        "bodies": write_csv(
            tmp_path / "b.csv",
            BODY_COLUMNS,
            [{"kenteken": "XF200F", "carrosserie_volgnummer": "1", "carrosserietype": ""}],
        ),
    }
    got, report = load(files, batch_size=1)  # XF100F: plain chunk; xf-200-f: row by row
    assert report.skipped == 0
    first, second = got["XF100F"], got["XF200F"]
    assert (first.kind, first.body, first.eu_category) == ("Personenauto", "hatchback", "M1")
    assert (second.kind, second.body, second.eu_category) == ("Personenauto", "hatchback", "M1")
    assert first.particularity_codes == () and second.body_type_codes == ()


def test_damaged_bytes_and_plates(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(
        b"Kenteken,Voertuigsoort\nXF100F,Personenauto\nAB\xff12CD,Personenauto\n"
        b"GH#34JK,Personenauto\nBB100B,Bedrijfs\xe9auto\n"
    )
    got, report = load({"vehicles": path})
    assert set(got) == {"XF100F", "BB100B"}  # never AB12CD or GH34JK: another vehicle's plate
    assert got["BB100B"].kind == "Bedrijfs\ufffdauto"
    assert [p.line for p in report.problems] == [3, 4]
    assert all("characters other than" in p.reason for p in report.problems)


def test_load_report_keeps_the_first_problems_only() -> None:
    report = LoadReport(max_problems=2)
    for i in range(5):
        report.skip("f.csv", i + 1, f"bad {i}")
    report.note("duplicate kenteken (later row wins)", "f.csv", 9, "kenteken AB12CD again")
    report.add_notes("duplicate kenteken (later row wins)", 2)
    assert report.skipped == 5 and len(report.problems) == 2
    assert report.summary() == (
        "0 rows read, 0 loaded, 5 skipped; duplicate kenteken (later row wins): 3 "
        "(first problem: f.csv:1: bad 0)"
    )
    assert str(report.examples["duplicate kenteken (later row wins)"]) == (
        "f.csv:9: kenteken AB12CD again"
    )
