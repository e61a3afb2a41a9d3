"""Synthetic RDW files: real column names, a plausible fleet, valid plates, zero load errors."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from enforcement.demo import fleet as synth
from enforcement.demo.fleet import (
    KIND_SHARES,
    SYNTH_TODAY,
    VEHICLE_COLUMNS,
    SynthFiles,
    synthetic_plates,
    write_synthetic_rdw,
)
from enforcement.model import Vehicle
from enforcement.plates import check, sidecode
from enforcement.register.rdw import read_vehicles
from enforcement.register.report import LoadReport

COUNT = 4000


def load(files: SynthFiles) -> tuple[list[Vehicle], LoadReport]:
    report = LoadReport()
    vehicles = list(read_vehicles(**files.loader_kwargs(), report=report))  # type: ignore[arg-type]
    return vehicles, report


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthFiles, list[Vehicle]]:
    files = write_synthetic_rdw(tmp_path_factory.mktemp("synth"), COUNT, seed=11)
    vehicles, report = load(files)
    assert report.skipped == 0, report.problems[:5]
    assert not report.notes, report.notes
    assert report.loaded == COUNT
    return files, vehicles


def test_loads_without_a_single_skip(fleet: tuple[SynthFiles, list[Vehicle]]) -> None:
    files, vehicles = fleet
    assert len(vehicles) == files.count == COUNT
    assert len({v.plate for v in vehicles}) == COUNT


def test_real_column_names(fleet: tuple[SynthFiles, list[Vehicle]], tmp_path: Path) -> None:
    files, _ = fleet
    with files.vehicles.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:5] == ["Kenteken", "Voertuigsoort", "Merk", "Handelsbenaming", "Vervaldatum APK"]
    assert "Datum eerste toelating" in header and "Europese voertuigcategorie" in header
    with files.fuels.open(encoding="utf-8") as fh:
        assert fh.readline().startswith("Kenteken,Brandstof volgnummer,Brandstof omschrijving")
    assert files.vehicles.name == "Open_Data_RDW__Gekentekende_voertuigen.csv"
    text = files.vehicles.read_text(encoding="utf-8")
    assert '"1,' in text or '"2,' in text  # masses with the bulk export's thousands separator

    json_files = write_synthetic_rdw(tmp_path, 50, seed=11, fmt="json")
    rows = json.loads(json_files.vehicles.read_text(encoding="utf-8"))
    api_names = {api for api, _ in VEHICLE_COLUMNS}
    assert all(isinstance(value, str) for row in rows for value in row.values())
    assert set().union(*rows) <= api_names | {f"{name}_dt" for name in api_names}
    assert rows[0]["datum_eerste_toelating_dt"].endswith("T00:00:00.000")


def test_json_and_csv_hold_the_same_fleet(tmp_path: Path) -> None:
    from_csv, _ = load(write_synthetic_rdw(tmp_path / "csv", 300, seed=4))
    from_json, report = load(write_synthetic_rdw(tmp_path / "json", 300, seed=4, fmt="json"))
    assert report.skipped == 0
    assert from_csv == from_json


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = write_synthetic_rdw(tmp_path / "a", 200, seed=1)
    b = write_synthetic_rdw(tmp_path / "b", 200, seed=1)
    c = write_synthetic_rdw(tmp_path / "c", 200, seed=2)
    for one, two in zip(a.loader_kwargs().values(), b.loader_kwargs().values(), strict=True):
        assert one is not None and two is not None
        assert one.read_bytes() == two.read_bytes()
    assert a.vehicles.read_bytes() != c.vehicles.read_bytes()


def test_the_documented_mix(fleet: tuple[SynthFiles, list[Vehicle]]) -> None:
    _, vehicles = fleet
    kinds = Counter(v.kind for v in vehicles)
    for kind, share in KIND_SHARES.items():
        assert abs(kinds[kind] / COUNT - share) < 0.03, (kind, kinds[kind])
    trucks = [v for v in vehicles if v.kind == "Bedrijfsauto" and (v.max_mass_kg or 0) > 3500]
    vans = [v for v in vehicles if v.kind == "Bedrijfsauto" and (v.max_mass_kg or 0) <= 3500]
    assert 0.6 < len(vans) / (len(vans) + len(trucks)) < 0.85
    tractors = [v for v in trucks if v.body == "opleggertrekker"]
    assert tractors and all(v.body_type_codes == ("BC",) for v in tractors)
    assert all(2 <= (v.axles or 0) <= 4 for v in trucks)
    fuels = Counter(f.name for v in vehicles for f in v.fuels)
    assert set(fuels) >= {"Diesel", "Benzine", "Elektriciteit", "LPG"}
    hybrids = [v for v in vehicles if len(v.fuels) == 2 and v.hybrid]
    assert hybrids and all(
        f.hybrid_class in ("OVC-HEV", "NOVC-HEV") for v in hybrids for f in v.fuels
    )
    assert any(v.plugin_hybrid for v in hybrids)
    assert any(v.zero_emission for v in vans) and any(not v.zero_emission for v in vans)
    trailers = [v for v in vehicles if v.kind in ("Aanhangwagen", "Oplegger")]
    assert trailers and all(v.fuels == () for v in trailers)
    codes = Counter(code for v in vehicles for code in v.body_codes)
    assert {"15", "27", "31"} & set(codes)
    wheelchair = [v for v in vehicles if "SH" in v.body_type_codes]
    assert wheelchair and all(
        v.particularity_codes and set(v.particularity_codes) <= {145, 146, 147, 149}
        for v in wheelchair
    )
    imports = [v for v in vehicles if v.first_nl_registration != v.first_admission]
    assert 0.02 < len(imports) / COUNT < 0.09
    assert all(
        v.first_admission
        and v.first_nl_registration
        and v.first_nl_registration > v.first_admission
        for v in imports
    )
    exported = sum(v.exported for v in vehicles)
    assert 0.003 < exported / COUNT < 0.04


def _norm(day: date, heavy: bool) -> int:
    norms = synth._HEAVY_NORMS if heavy else synth._LIGHT_NORMS
    return sum(day >= start for start in norms)


def test_emission_classes_fit_the_admission_date(fleet: tuple[SynthFiles, list[Vehicle]]) -> None:
    _, vehicles = fleet
    dets = [v.first_admission for v in vehicles if v.first_admission]
    assert min(dets) >= date(1980, 1, 1) and max(dets) <= SYNTH_TODAY
    assert min(dets).year < 1990 and max(dets).year == 2026
    classes = Counter(v.emission_class for v in vehicles)
    assert set(classes) >= {"0", "3", "4", "5", "6", "Z"}
    for v in vehicles:
        if not v.fuels or v.zero_emission:
            continue
        assert v.first_admission is not None
        heavy = (v.max_mass_kg or 0) > 5000 or (
            v.kind == "Bedrijfsauto" and (v.max_mass_kg or 0) > 3500
        )
        klass = int(v.emission_class or "0")
        lowest = _norm(v.first_admission, heavy)
        assert lowest <= klass <= lowest + 1, (v.plate, v.first_admission, klass)
    electric = [v for v in vehicles if v.zero_emission]
    assert all(v.first_admission and v.first_admission.year >= 2011 for v in electric)


def test_plates_are_valid_for_their_era(fleet: tuple[SynthFiles, list[Vehicle]]) -> None:
    _, vehicles = fleet
    for v in vehicles:
        result = check(v.plate)
        assert result.valid and result.special is None, (v.plate, result.problems)
        assert v.first_nl_registration is not None
        assert sidecode(v.plate) == synth._sidecode_for(v.first_nl_registration)
    eras = Counter(sidecode(v.plate) for v in vehicles)
    assert set(eras) >= {4, 5, 6, 7, 8, 9, 10, 11}


def test_synthetic_plates() -> None:
    plates = synthetic_plates(2000, seed=3)
    assert len(set(plates)) == 2000
    assert all(check(p).valid and check(p).special is None for p in plates)
    assert plates == synthetic_plates(2000, seed=3)
    assert plates != synthetic_plates(2000, seed=4)


def test_plate_pool_runs_out_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = synth._PlatePool(0)
    shape, _, _, *permutations = pool._spaces[9]
    monkeypatch.setitem(pool._spaces, 9, (shape, 1, 3, *permutations))  # one series, 3 numbers

    def take_ten() -> None:
        for _ in range(10):
            pool.take(9)

    with pytest.raises(ValueError, match="sidecode 9"):
        take_ten()
