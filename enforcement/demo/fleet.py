"""Realistic synthetic RDW open-data files, for load tests, benchmarks and demos.

The real files are several GB, change every day and cannot be fetched from a test machine, so
this writes files of the same shape instead: the real column names (bulk CSV display names for
`fmt="csv"`, SODA API names for `fmt="json"`, as listed by `j3lte/rdw-data`), the real value
formats (dates `YYYYMMDD`, JSON `*_dt` timestamps, numbers >= 1000 with a thousands separator
in CSV, every JSON value a string, empty JSON fields omitted), and a plausible fleet:

=====================  =======  ==================================================================
voertuigsoort          share    detail
=====================  =======  ==================================================================
Personenauto           70 %     M1; ~0.8 % kampeerwagen (SA), ~0.2 % wheelchair (SH + 145-149)
Bedrijfsauto           20 %     3/4 vans N1 <= 3500 kg (0.5 % wheelchair), 1/4 trucks: tractors
                                (`opleggertrekker`, BC), rigid N2/N3, ~10 % special bodies
                                (carrosseriecode 15, 19, 26, 27, 31)
Bus                    1 %      M3 (some M2)
Motorfiets             4 %      L3e
Aanhangwagen           3.5 %    O1/O2, no fuel rows
Oplegger               1 %      O4, no fuel rows
Bromfiets              0.5 %    L1e
=====================  =======  ==================================================================

Fuels: Benzine, Diesel, LPG (also as a second row after Benzine), CNG, LNG, Elektriciteit,
Waterstof; hybrids have two rows (combustion first) with `klasse_hybride_elektrisch_voertuig`
OVC-HEV or NOVC-HEV. The electric share grows with the year. Emission classes follow the
Euro norm in force at DET (light and heavy duty dates differ; ~1 in 10 vehicles of the year
before a norm already meets it); an electric-only vehicle's rows carry `Z` (15 % leave the
class empty). DET spans 1980 to mid 2026 with a fleet-like age distribution; ~5 % are used
imports whose first Dutch registration is later than DET; ~1.5 % are exported. Every vehicle
but two-wheelers has a carrosserie row; goods vehicles, buses and trailers have one assen row
per axle; special trucks and trailers have a carrosserie_specificatie row.

Plates are unique, pass `enforcement.plates.check` (valid, not a special registration) and
have the sidecode that was being issued when the vehicle was first registered *in the
Netherlands* (a used import gets a plate of its import year, as in reality). Each sidecode's
plate space is walked in a seeded pseudo-random order (affine permutations, see `_PlatePool`),
so no set of issued plates is kept: writing is streaming, constant memory and deterministic per
seed (about 30 s per million vehicles on a small 2-core machine).

One module of some 880 lines on purpose: the fleet's shares, the plate pools and the file
writers are one model of the national fleet, tuned together against the loader.
"""

from __future__ import annotations

import csv
import json
import math
import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TextIO, TypeVar

from enforcement.model import Vehicle
from enforcement.plates import PLATE_LETTERS, SIDECODE_PATTERNS, check
from enforcement.register.rdw import read_vehicles
from enforcement.register.report import LoadReport

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_T = TypeVar("_T")

__all__ = [
    "AXLE_COLUMNS",
    "BODY_CODE_COLUMNS",
    "BODY_COLUMNS",
    "FUEL_COLUMNS",
    "KIND_SHARES",
    "PARTICULARITY_COLUMNS",
    "SYNTH_TODAY",
    "VEHICLE_COLUMNS",
    "SynthFiles",
    "synthetic_plates",
    "write_synthetic_rdw",
]

#: The synthetic register's "today": no date in the files is later.
SYNTH_TODAY: Final = date(2026, 6, 30)
_FIRST_DET: Final = date(1980, 1, 1)
_TODAY: Final = SYNTH_TODAY.toordinal()

# (API name, bulk CSV display name), in the order of the real files where known (spec §6).
VEHICLE_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("voertuigsoort", "Voertuigsoort"),
    ("merk", "Merk"),
    ("handelsbenaming", "Handelsbenaming"),
    ("vervaldatum_apk", "Vervaldatum APK"),
    ("datum_tenaamstelling", "Datum tenaamstelling"),
    ("bruto_bpm", "Bruto BPM"),
    ("inrichting", "Inrichting"),
    ("aantal_zitplaatsen", "Aantal zitplaatsen"),
    ("eerste_kleur", "Eerste kleur"),
    ("tweede_kleur", "Tweede kleur"),
    ("aantal_cilinders", "Aantal cilinders"),
    ("cilinderinhoud", "Cilinderinhoud"),
    ("massa_ledig_voertuig", "Massa ledig voertuig"),
    ("toegestane_maximum_massa_voertuig", "Toegestane maximum massa voertuig"),
    ("massa_rijklaar", "Massa rijklaar"),
    ("maximum_massa_trekken_ongeremd", "Maximum massa trekken ongeremd"),
    ("maximum_trekken_massa_geremd", "Maximum trekken massa geremd"),
    ("datum_eerste_toelating", "Datum eerste toelating"),
    ("datum_eerste_tenaamstelling_in_nederland", "Datum eerste tenaamstelling in Nederland"),
    ("wacht_op_keuren", "Wacht op keuren"),
    ("catalogusprijs", "Catalogusprijs"),
    ("wam_verzekerd", "WAM verzekerd"),
    ("aantal_deuren", "Aantal deuren"),
    ("aantal_wielen", "Aantal wielen"),
    ("lengte", "Lengte"),
    ("export_indicator", "Export indicator"),
    ("taxi_indicator", "Taxi indicator"),
    ("europese_voertuigcategorie", "Europese voertuigcategorie"),
    ("tenaamstellen_mogelijk", "Tenaamstellen mogelijk"),
)
#: JSON only: SODA adds a calendar-date twin to each YYYYMMDD field.
_VEHICLE_DT_FIELDS: Final = (
    "vervaldatum_apk",
    "datum_tenaamstelling",
    "datum_eerste_toelating",
    "datum_eerste_tenaamstelling_in_nederland",
)
FUEL_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("brandstof_volgnummer", "Brandstof volgnummer"),
    ("brandstof_omschrijving", "Brandstof omschrijving"),
    ("brandstofverbruik_gecombineerd", "Brandstofverbruik gecombineerd"),
    ("co2_uitstoot_gecombineerd", "CO2 uitstoot gecombineerd"),
    ("emissiecode_omschrijving", "Emissieklasse"),
    ("milieuklasse_eg_goedkeuring_licht", "Milieuklasse EG Goedkeuring (licht)"),
    ("milieuklasse_eg_goedkeuring_zwaar", "Milieuklasse EG Goedkeuring (zwaar)"),
    ("nettomaximumvermogen", "Nettomaximumvermogen"),
    ("uitlaatemissieniveau", "Uitlaatemissieniveau"),
    ("klasse_hybride_elektrisch_voertuig", "Klasse hybride elektrisch voertuig"),
)
BODY_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("carrosserie_volgnummer", "Carrosserie volgnummer"),
    ("carrosserietype", "Carrosserietype"),
    ("type_carrosserie_europese_omschrijving", "Type Carrosserie Europese omschrijving"),
)
BODY_CODE_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("carrosserie_volgnummer", "Carrosserie volgnummer"),
    ("carrosserie_voertuig_nummer_code_volgnummer", "Carrosserie voertuig nummer code volgnummer"),
    ("carrosseriecode", "Carrosseriecode"),
    (
        "carrosserie_voertuig_nummer_europese_omschrijving",
        "Carrosserie voertuig nummer Europese omschrijving",
    ),
)
PARTICULARITY_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("bijzonderheid_volgnummer", "Bijzonderheid volgnummer"),
    ("bijzonderheid_code", "Bijzonderheid code"),
    ("bijzonderheid_code_1", "Bijzonderheid code omschrijving"),
    ("bijzonderheid_variabele_tekst", "Bijzonderheid variabele tekst"),
)
AXLE_COLUMNS: Final = (
    ("kenteken", "Kenteken"),
    ("as_nummer", "As nummer"),
    ("aantal_assen", "Aantal assen"),
    ("aangedreven_as", "Aangedreven as"),
    ("wettelijk_toegestane_maximum_aslast", "Wettelijk toegestane maximum aslast"),
)

#: voertuigsoort -> share of the fleet (the table in the module docstring).
KIND_SHARES: Final = {
    "Personenauto": 0.70,
    "Bedrijfsauto": 0.20,
    "Bus": 0.01,
    "Motorfiets": 0.04,
    "Aanhangwagen": 0.035,
    "Oplegger": 0.01,
    "Bromfiets": 0.005,
}

# First day each sidecode was issued for new registrations (spec §7 eras; finer dates [GK]).
_SIDECODE_FROM: Final = (
    (date(2025, 1, 1), 12),
    (date(2019, 3, 1), 11),
    (date(2016, 6, 1), 10),
    (date(2015, 3, 1), 9),
    (date(2009, 6, 1), 8),
    (date(2005, 12, 1), 7),
    (date(1999, 6, 1), 6),
    (date(1991, 6, 1), 5),
    (date(1978, 1, 1), 4),
)

# Euro norm n applies to new registrations from this day (n = index + 1); before: class 0.
_LIGHT_NORMS: Final = (
    date(1993, 1, 1),
    date(1997, 1, 1),
    date(2001, 1, 1),
    date(2006, 1, 1),
    date(2011, 1, 1),
    date(2015, 9, 1),
)
_HEAVY_NORMS: Final = (
    date(1993, 10, 1),
    date(1996, 10, 1),
    date(2001, 10, 1),
    date(2006, 10, 1),
    date(2009, 10, 1),
    date(2014, 1, 1),
)
_ROMAN: Final = ("0", "I", "II", "III", "IV", "V", "VI")

#: Values every synthetic vehicle shares; the writers fill them in.
_CONSTANTS: Final = {
    "tweede_kleur": "Niet geregistreerd",
    "wacht_op_keuren": "Geen verstrekking in Open Data",
    "wam_verzekerd": "Ja",
    "taxi_indicator": "Nee",
    "tenaamstellen_mogelijk": "Ja",
}


@dataclass(frozen=True, slots=True)
class SynthFiles:
    """The files `write_synthetic_rdw` wrote; pass `loader_kwargs()` to `read_vehicles`."""

    vehicles: Path
    fuels: Path
    bodies: Path | None = None
    body_codes: Path | None = None
    particularities: Path | None = None
    axles: Path | None = None
    count: int = 0

    def read(self, report: LoadReport, work_dir: Path | None = None) -> Iterator[Vehicle]:
        """Stream the vehicles back through the real RDW loader (what a load does)."""
        return read_vehicles(
            self.vehicles,
            self.fuels,
            bodies=self.bodies,
            body_codes=self.body_codes,
            particularities=self.particularities,
            axles=self.axles,
            report=report,
            work_dir=work_dir,
        )

    def loader_kwargs(self) -> dict[str, Path | None]:
        return {
            "vehicles": self.vehicles,
            "fuels": self.fuels,
            "bodies": self.bodies,
            "body_codes": self.body_codes,
            "particularities": self.particularities,
            "axles": self.axles,
        }


# --- plates ----------------------------------------------------------------------------------
class _PlatePool:
    """Unique valid plates per sidecode, in a seeded pseudo-random order, without memory.

    A plate is a letter combination (a *series*) plus digits. Plate k of a sidecode takes
    series a*(k // D) + b mod L and digits c*(k % D) + d mod D (L, D the numbers of letter
    and digit combinations; a, c coprime to them): a permutation, so never a repeat, and,
    as when plates are really issued, consecutive plates share a series. Validity depends
    only on the letters for sidecodes 4 and up (banned combinations, series letters, special
    prefixes), so `enforcement.plates.check` runs once per series, not per plate."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"plates:{seed}")
        self._next: dict[int, int] = {}
        self._series: dict[int, tuple[int, str, bool]] = {}  # sidecode -> (block, letters, ok)
        self._spaces: dict[int, tuple[str, int, int, int, int, int, int]] = {}
        for sc, pattern in SIDECODE_PATTERNS.items():
            shape = pattern.replace("-", "")
            letters = len(PLATE_LETTERS) ** shape.count("X")
            digits = 10 ** shape.count("9")
            self._spaces[sc] = (
                shape,
                letters,
                digits,
                *_affine(rng, letters),
                *_affine(rng, digits),
            )

    def take(self, sidecode: int) -> str:
        shape, letters, digits, a, b, c, d = self._spaces[sidecode]
        k = self._next.get(sidecode, 0)
        while True:
            block, j = divmod(k, digits)
            if block >= letters:
                raise ValueError(f"sidecode {sidecode} has no unused valid plates left")
            current = self._series.get(sidecode)
            if current is None or current[0] != block:
                series = _digits_of((a * block + b) % letters, PLATE_LETTERS, shape.count("X"))
                sample = _fill(shape, series, "0" * shape.count("9"))
                result = check(sample)
                current = (block, series, result.valid and result.special is None)
                self._series[sidecode] = current
            if not current[2]:
                k = (block + 1) * digits  # the whole series is unusable
                continue
            self._next[sidecode] = k + 1
            number = _digits_of((c * j + d) % digits, "0123456789", shape.count("9"))
            return _fill(shape, current[1], number)


def _affine(rng: random.Random, size: int) -> tuple[int, int]:
    """(step, offset) of a permutation of range(size): step coprime to size."""
    step = rng.randrange(max(1, size // 3), max(2, size)) | 1
    while math.gcd(step, size) != 1:
        step += 2
    return step, rng.randrange(size)


def _digits_of(x: int, alphabet: str, width: int) -> str:
    out = []
    for _ in range(width):
        x, r = divmod(x, len(alphabet))
        out.append(alphabet[r])
    return "".join(reversed(out))


def _fill(shape: str, letters: str, digits: str) -> str:
    """Put the letters and digits into the sidecode's shape (`XX999X`)."""
    out = []
    li = di = 0
    for kind in shape:
        if kind == "X":
            out.append(letters[li])
            li += 1
        else:
            out.append(digits[di])
            di += 1
    return "".join(out)


def _sidecode_for(day: date) -> int:
    for start, sc in _SIDECODE_FROM:
        if day >= start:
            return sc
    return 4


def synthetic_plates(count: int, seed: int = 0) -> list[str]:
    """`count` unique valid plates of the sidecodes 4-12, mixed like a fleet (benchmarks)."""
    rng = random.Random(f"plate-list:{seed}")
    pool = _PlatePool(seed)
    return [pool.take(_sidecode_for(_det(rng, 9.0))) for _ in range(count)]


# --- vehicles --------------------------------------------------------------------------------
def _det(rng: random.Random, mean_age: float) -> date:
    """A first-admission date with a fleet-like age distribution (exponential, capped)."""
    days = int(rng.expovariate(1.0 / mean_age) * 365.25)
    day = SYNTH_TODAY - timedelta(days=days)
    if day < _FIRST_DET:
        day = _FIRST_DET + timedelta(days=rng.randrange((date(1996, 1, 1) - _FIRST_DET).days))
    return day


def _norm(day: date, norms: tuple[date, ...], rng: random.Random) -> int:
    """The Euro norm at `day`; ~10 % of vehicles in the year before a norm already meet it."""
    klass = 0
    for n, start in enumerate(norms, 1):
        if day >= start:
            klass = n
        elif (start - day).days < 365 and rng.random() < 0.1:
            return n
        else:
            break
    return klass


class _FastRandom(random.Random):
    """`randrange`/`choice` from one `random()` call: 3x faster than the exact (unbiased)
    versions, whose bias of < 2**-50 does not matter for synthetic data."""

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        return start + step * int(self.random() * ((stop - start + step - 1) // step))

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        return seq[int(self.random() * len(seq))]


@dataclass(slots=True)
class _Car:
    """One synthetic vehicle and its rows in the secondary datasets (API names)."""

    det: date
    row: dict[str, str]
    fuels: list[dict[str, str]]
    bodies: list[dict[str, str]]
    body_codes: list[dict[str, str]]
    particularities: list[dict[str, str]]
    axles: list[dict[str, str]]


_CAR_BODIES: Final = (
    ("hatchback", "AB", "Hatchback", 30),
    ("sedan", "AA", "Sedan", 20),
    ("stationwagen", "AC", "Stationwagen", 25),
    ("MPV", "AF", "MPV (Multi Purpose Vehicle)", 15),
    ("coupe", "AD", "Coupé", 4),
    ("cabriolet", "AE", "Cabriolet", 3),
    ("Niet nader aangeduid", "AF", "MPV (Multi Purpose Vehicle)", 3),
)
# inrichting, carrosserietype, omschrijving, carrosseriecode, code omschrijving
_SPECIAL_TRUCKS: Final = (
    ("betonmixer", "BA", "Vrachtwagen", "15", "Betonmixer"),
    ("hoogwerker", "BA", "Vrachtwagen", "27", "Hoogwerker"),
    ("brandweerwagen", "SG", "Speciale groep: overige", "31", "Brandweerwagen"),
    ("kraanwagen", "SF", "Mobiele kraan", "26", "Kraanwagen"),
    ("straatvgr,reiniger,rioolzgr", "BA", "Vrachtwagen", "19", "Straatveger/rioolzuiger"),
)
_RIGID_TRUCKS: Final = (
    ("gesloten opbouw", "03", "Gesloten opbouw"),
    ("open laadvloer", "01", "Vlakke laadvloer"),
    ("kipper", "05", "Kipper"),
    ("huifopbouw", "02", "Huifopbouw"),
    ("koelwagen", "04", "Geconditioneerde opbouw"),
)
_WHEELCHAIR: Final = (
    (145, "Rolstoelplaats"),
    (146, "Rolstoellift"),
    (147, "Rolstoeloprijplaat"),
    (149, "Rolstoelvergrendeling"),
)
_BRANDS: Final = {
    "Personenauto": (("VOLKSWAGEN", "GOLF"), ("KIA", "NIRO"), ("TOYOTA", "YARIS"),
                     ("PEUGEOT", "208"), ("TESLA", "MODEL Y"), ("OPEL", "CORSA"),
                     ("RENAULT", "CLIO"), ("BMW", "3ER REIHE")),
    "van": (("VOLKSWAGEN", "TRANSPORTER"), ("FORD", "TRANSIT CUSTOM"), ("RENAULT", "TRAFIC"),
            ("MERCEDES-BENZ", "SPRINTER"), ("PEUGEOT", "PARTNER")),
    "truck": (("DAF", "XF"), ("VOLVO", "FM"), ("SCANIA", "R 450"), ("MERCEDES-BENZ", "ACTROS"),
              ("MAN", "TGX"), ("IVECO", "S-WAY")),
    "Bus": (("VDL", "CITEA"), ("MERCEDES-BENZ", "CITARO"), ("EBUSCO", "3.0")),
    "Motorfiets": (("YAMAHA", "MT-07"), ("BMW", "R 1250 GS"), ("HONDA", "CB500F")),
    "Aanhangwagen": (("HAPERT", "AZURE"), ("ANSSEMS", "GT"), ("HULCO", "MEDAX")),
    "Oplegger": (("KRONE", "SD"), ("SCHMITZ", "S.KO"), ("VAN HOOL", "3B0070")),
    "Bromfiets": (("VESPA", "PRIMAVERA"), ("NIU", "NQI"), ("PIAGGIO", "ZIP")),
}  # fmt: skip
_COLOURS: Final = ("ZWART", "GRIJS", "WIT", "BLAUW", "ROOD", "GROEN", "BRUIN", "GEEL")
#: Goods vehicles are mostly white (RDW's own counts: about half of the vans); one draw.
_GOODS_COLOURS: Final = ("WIT",) * 5 + ("GRIJS", "ZWART", "BLAUW", "ROOD", "GEEL")


class _Maker:
    """Draws one vehicle at a time; all randomness from one seeded `random.Random`."""

    def __init__(self, seed: int) -> None:
        self.rng = _FastRandom(f"vehicles:{seed}")
        self.plates = _PlatePool(seed)
        kinds = list(KIND_SHARES)
        self.kinds = kinds
        self.kind_weights = list(accumulate(KIND_SHARES[k] for k in kinds))
        self.car_weights = list(accumulate(b[3] for b in _CAR_BODIES))

    def make(self) -> _Car:
        rng = self.rng
        kind = self.kinds[bisect(self.kind_weights, rng.random() * self.kind_weights[-1])]
        if kind == "Personenauto":
            return self._car()
        if kind == "Bedrijfsauto":
            return self._truck() if rng.random() < 0.25 else self._van()
        if kind == "Bus":
            return self._bus()
        if kind in ("Aanhangwagen", "Oplegger"):
            return self._trailer(kind)
        return self._two_wheeler(kind)

    # common parts --------------------------------------------------------------------------
    def _base(
        self,
        kind: str,
        category: str,
        mass: int | None,
        mean_age: float,
        length: tuple[int, int] = (380, 500),
    ) -> _Car:
        rng = self.rng
        det = _det(rng, mean_age)
        day = det.toordinal()  # ordinals: much cheaper than timedelta arithmetic
        first_nl = day
        if rng.random() < 0.05:  # a used import
            first_nl = min(day + rng.randrange(120, 12 * 365), _TODAY)
        registered = first_nl + rng.randrange(0, max(1, _TODAY - first_nl))
        plate = self.plates.take(_sidecode_for(date.fromordinal(first_nl)))
        brand, model = rng.choice(_BRANDS.get(kind, _BRANDS["Personenauto"]))
        row = {
            "kenteken": plate,
            "voertuigsoort": kind,
            "merk": brand,
            "handelsbenaming": model,
            "vervaldatum_apk": _ymd(_TODAY + rng.randrange(1, 730)),
            "datum_tenaamstelling": _ymd(registered),
            "eerste_kleur": rng.choice(_GOODS_COLOURS if kind == "Bedrijfsauto" else _COLOURS),
            "datum_eerste_toelating": _ymd(day),
            "datum_eerste_tenaamstelling_in_nederland": _ymd(first_nl),
            "export_indicator": "Ja" if rng.random() < 0.015 else "Nee",
            "europese_voertuigcategorie": category,
            "lengte": str(rng.randrange(*length)),
        }
        if mass is not None:
            row["toegestane_maximum_massa_voertuig"] = str(mass)
            row["massa_ledig_voertuig"] = str(int(mass * rng.uniform(0.45, 0.7)))
            row["massa_rijklaar"] = str(int(mass * rng.uniform(0.5, 0.75)))
        return _Car(det, row, [], [], [], [], [])

    def _fuel_rows(
        self, car: _Car, names: tuple[str, ...], heavy: bool, hybrid: str | None
    ) -> None:
        """Fuel rows: `names` in order; class from DET (Z for an electric-only vehicle)."""
        det = car.det
        norm = _norm(det, _HEAVY_NORMS if heavy else _LIGHT_NORMS, self.rng)
        zero = all(n in ("Elektriciteit", "Waterstof") for n in names)
        for seq, name in enumerate(names, 1):
            fuel = {"kenteken": car.row["kenteken"], "brandstof_volgnummer": str(seq),
                    "brandstof_omschrijving": name}  # fmt: skip
            if zero:
                if self.rng.random() < 0.85:
                    fuel["emissiecode_omschrijving"] = "Z"
            else:
                fuel["emissiecode_omschrijving"] = str(norm)
                if norm:
                    level = _ROMAN[norm] if heavy else str(norm)
                    fuel["uitlaatemissieniveau"] = f"EURO {level}"
                key = "milieuklasse_eg_goedkeuring_zwaar" if heavy else (
                    "milieuklasse_eg_goedkeuring_licht")  # fmt: skip
                if norm >= 5:
                    fuel[key] = "595/2009*2019/1242" if heavy else "715/2007*2018/1832"
                if not heavy and name != "Elektriciteit":
                    fuel["co2_uitstoot_gecombineerd"] = str(self.rng.randrange(20, 220))
            if hybrid:
                fuel["klasse_hybride_elektrisch_voertuig"] = hybrid
            fuel["nettomaximumvermogen"] = f"{self.rng.randrange(40, 400)}.00"
            car.fuels.append(fuel)

    def _body(self, car: _Car, code: str, text: str) -> None:
        car.bodies.append({"kenteken": car.row["kenteken"], "carrosserie_volgnummer": "1",
                           "carrosserietype": code,
                           "type_carrosserie_europese_omschrijving": text})  # fmt: skip

    def _body_code(self, car: _Car, code: str, text: str) -> None:
        car.body_codes.append({
            "kenteken": car.row["kenteken"], "carrosserie_volgnummer": "1",
            "carrosserie_voertuig_nummer_code_volgnummer": "1", "carrosseriecode": code,
            "carrosserie_voertuig_nummer_europese_omschrijving": text,
        })  # fmt: skip

    def _wheelchair(self, car: _Car) -> None:
        code, text = self.rng.choice(_WHEELCHAIR)
        car.row["inrichting"] = "voor rolstoelen toegankelijk voertuig"
        car.bodies.clear()
        self._body(car, "SH", "Rolstoeltoegankelijk voertuig")
        car.particularities.append({"kenteken": car.row["kenteken"],
                                    "bijzonderheid_volgnummer": "1",
                                    "bijzonderheid_code": str(code), "bijzonderheid_code_1": text,
                                    "bijzonderheid_variabele_tekst": "1"})  # fmt: skip

    def _axle_rows(self, car: _Car, count: int, load: int) -> None:
        for n in range(1, count + 1):
            car.axles.append({"kenteken": car.row["kenteken"], "as_nummer": str(n),
                              "aantal_assen": str(count),
                              "aangedreven_as": "J" if n == 2 else "N",
                              "wettelijk_toegestane_maximum_aslast": str(load)})  # fmt: skip

    def _year_share(self, det: date, table: tuple[tuple[int, float], ...]) -> bool:
        """True with the probability that `table` (from-year, share) gives for DET's year."""
        share = 0.0
        for year, value in table:
            if det.year >= year:
                share = value
        return self.rng.random() < share

    # kinds -------------------------------------------------------------------------------
    def _car(self) -> _Car:
        rng = self.rng
        car = self._base("Personenauto", "M1", rng.randrange(1100, 2700), 9.0)
        det = car.det
        pick = bisect(self.car_weights, rng.random() * self.car_weights[-1])
        inrichting, code, text, _ = _CAR_BODIES[pick]
        car.row.update({"inrichting": inrichting, "aantal_zitplaatsen": "5",
                        "aantal_deuren": "4", "aantal_wielen": "4",
                        "aantal_cilinders": "4", "cilinderinhoud": str(rng.randrange(998, 2500)),
                        "catalogusprijs": str(rng.randrange(15000, 80000)),
                        "bruto_bpm": str(rng.randrange(0, 9000))})  # fmt: skip
        self._body(car, code, text)
        special = rng.random()
        if special < 0.008:
            car.row["inrichting"] = "kampeerwagen"
            car.row["toegestane_maximum_massa_voertuig"] = str(rng.randrange(3000, 4500))
            car.bodies.clear()
            self._body(car, "SA", "Kampeerwagen")
        elif special < 0.010:
            self._wheelchair(car)
        if self._year_share(det, ((2011, 0.02), (2016, 0.08), (2020, 0.2), (2023, 0.35))):
            names: tuple[str, ...] = ("Elektriciteit",)
            if rng.random() < 0.003:
                names = ("Waterstof",)
            self._fuel_rows(car, names, False, None)
        elif self._year_share(det, ((2000, 0.01), (2010, 0.06), (2016, 0.12), (2020, 0.25))):
            hybrid = "OVC-HEV" if det.year >= 2013 and rng.random() < 0.5 else "NOVC-HEV"
            self._fuel_rows(car, ("Benzine", "Elektriciteit"), False, hybrid)
        else:
            draw = rng.random()
            diesel = 0.3 if 2005 <= det.year <= 2015 else 0.15
            if draw < diesel:
                names = ("Diesel",)
            elif draw < diesel + 0.02:
                names = ("Benzine", "LPG")
            elif draw < diesel + 0.025:
                names = ("CNG",)
            else:
                names = ("Benzine",)
            self._fuel_rows(car, names, False, None)
        return car

    def _van(self) -> _Car:
        rng = self.rng
        mass = rng.choice((2000, 2500, 2800, 3000, 3300, 3500, 3500, 3500))
        car = self._base("Bedrijfsauto", "N1", mass, 8.0, (440, 650))
        det = car.det
        inrichting = rng.choice(("gesloten opbouw", "gesloten opbouw", "dubbele cabine",
                                 "open laadvloer"))  # fmt: skip
        car.row.update({"inrichting": inrichting, "aantal_zitplaatsen": "3",
                        "aantal_wielen": "4", "maximum_trekken_massa_geremd": "2500",
                        "maximum_massa_trekken_ongeremd": "750"})  # fmt: skip
        self._body(car, "BB", "Bestelwagen")
        self._axle_rows(car, 2, 1800)
        if rng.random() < 0.005:
            self._wheelchair(car)
        if self._year_share(det, ((2012, 0.02), (2018, 0.1), (2022, 0.2))):
            if det.year >= 2020 and rng.random() < 0.1:
                car.row["toegestane_maximum_massa_voertuig"] = "4250"  # heavy e-van, N2
                car.row["europese_voertuigcategorie"] = "N2"
            self._fuel_rows(car, ("Elektriciteit",), False, None)
        else:
            names = ("Diesel",) if rng.random() < 0.93 else ("Benzine",)
            self._fuel_rows(car, names, False, None)
        return car

    def _truck(self) -> _Car:
        rng = self.rng
        draw = rng.random()
        if draw < 0.35:
            mass = rng.choice((18000, 19500, 20500, 26000))
            car = self._base("Bedrijfsauto", "N3", mass, 7.0, (580, 720))
            car.row["inrichting"] = "opleggertrekker"
            self._body(car, "BC", "Opleggertrekker")
            self._axle_rows(car, 3 if mass >= 26000 else 2, 11500)
        elif draw < 0.9:
            heavy = draw >= 0.65
            mass = rng.randrange(16000, 32001, 500) if heavy else rng.randrange(4500, 12001, 250)
            car = self._base("Bedrijfsauto", "N3" if heavy else "N2", mass, 9.0, (650, 1200))
            inrichting, code, text = rng.choice(_RIGID_TRUCKS)
            car.row["inrichting"] = inrichting
            self._body(car, "BA", "Vrachtwagen")
            self._body_code(car, code, text)
            self._axle_rows(car, 3 if mass > 26000 else 2, 10000)
        else:
            inrichting, btype, btext, code, text = rng.choice(_SPECIAL_TRUCKS)
            mass = rng.randrange(16000, 40001, 1000)
            car = self._base("Bedrijfsauto", "N3", mass, 12.0, (750, 1250))
            car.row["inrichting"] = inrichting
            self._body(car, btype, btext)
            self._body_code(car, code, text)
            self._axle_rows(car, rng.choice((2, 3, 4)), 10000)
        car.row["maximum_trekken_massa_geremd"] = str(rng.choice((3500, 18000, 24000)))
        det = car.det
        if self._year_share(det, ((2018, 0.01), (2020, 0.04), (2023, 0.08))):
            names: tuple[str, ...] = ("Elektriciteit",)
            if det.year >= 2021 and rng.random() < 0.05:
                names = ("Waterstof",)
            self._fuel_rows(car, names, True, None)
        elif det.year >= 2020 and rng.random() < 0.005:
            self._fuel_rows(car, ("Diesel", "Elektriciteit"), True, "OVC-HEV")
        elif det.year >= 2015 and rng.random() < 0.01:
            self._fuel_rows(car, ("LNG",), True, None)
        else:
            self._fuel_rows(car, ("Diesel",), True, None)
        return car

    def _bus(self) -> _Car:
        rng = self.rng
        small = rng.random() < 0.15
        mass = rng.randrange(4000, 5001, 100) if small else rng.randrange(18000, 19501, 500)
        car = self._base("Bus", "M2" if small else "M3", mass, 8.0, (650, 1850))
        car.row["inrichting"] = "Niet nader aangeduid"
        self._body(car, "CE" if not small else "CA", "Klasse I" if not small else "Klasse A")
        self._axle_rows(car, 2, 11500)
        det = car.det
        if self._year_share(det, ((2016, 0.3), (2021, 0.6))):
            names = ("Waterstof",) if rng.random() < 0.03 else ("Elektriciteit",)
            self._fuel_rows(car, names, not small, None)
        else:
            self._fuel_rows(car, ("Diesel",), not small, None)
        return car

    def _two_wheeler(self, kind: str) -> _Car:
        category = "L3e" if kind == "Motorfiets" else "L1e"
        car = self._base(kind, category, None, 14.0 if kind == "Motorfiets" else 6.0, (170, 240))
        car.row["inrichting"] = "Niet nader aangeduid"
        car.row["aantal_wielen"] = "2"
        det = car.det
        share = ((2015, 0.03),) if kind == "Motorfiets" else ((2012, 0.1), (2016, 0.4))
        if self._year_share(det, share):
            self._fuel_rows(car, ("Elektriciteit",), False, None)
        else:
            self._fuel_rows(car, ("Benzine",), False, None)
        return car

    def _trailer(self, kind: str) -> _Car:
        rng = self.rng
        if kind == "Oplegger":
            car = self._base(kind, "O4", rng.randrange(35000, 39001, 500), 12.0, (1250, 1400))
            car.row["inrichting"] = rng.choice(("gesloten opbouw", "kipper", "koelwagen"))
            self._body(car, "DA", "Oplegger")
            self._body_code(car, "03", "Gesloten opbouw")
            self._axle_rows(car, 3, 9000)
        else:
            mass = rng.choice((750, 750, 1350, 2000, 2700, 3500))
            car = self._base(kind, "O1" if mass <= 750 else "O2", mass, 12.0, (250, 800))
            car.row["inrichting"] = rng.choice(("open wagen", "gesloten opbouw", "kipper"))
            self._body(car, "DC", "Middenasaanhangwagen")
            self._axle_rows(car, 1 if mass <= 1350 else 2, mass)
        return car


_YMD: dict[int, str] = {}


def _ymd(ordinal: int) -> str:
    """YYYYMMDD of a date ordinal (cached: a fleet has a few thousand distinct days)."""
    text = _YMD.get(ordinal)
    if text is None:
        day = date.fromordinal(ordinal)
        text = _YMD[ordinal] = f"{day.year:04d}{day.month:02d}{day.day:02d}"
    return text


# --- writers ---------------------------------------------------------------------------------
_NUMERIC_WITH_SEPARATOR: Final = frozenset(
    {
        "toegestane_maximum_massa_voertuig",
        "massa_ledig_voertuig",
        "massa_rijklaar",
        "maximum_trekken_massa_geremd",
        "cilinderinhoud",
        "catalogusprijs",
        "bruto_bpm",
        "wettelijk_toegestane_maximum_aslast",
    }
)


class _CsvOut:
    """A bulk-CSV style file: display-name header, numbers >= 1000 as `"1,796"`."""

    def __init__(self, fh: TextIO, columns: tuple[tuple[str, str], ...]) -> None:
        self.writer = csv.writer(fh, lineterminator="\n")
        self.names = tuple(api for api, _ in columns)
        self.defaults = tuple(_CONSTANTS.get(api, "") for api in self.names)
        self.numeric = tuple(
            i for i, name in enumerate(self.names) if name in _NUMERIC_WITH_SEPARATOR
        )
        self.writer.writerow(display for _, display in columns)

    def write(self, row: dict[str, str]) -> None:
        out = list(map(row.get, self.names, self.defaults))
        for i in self.numeric:
            value = out[i]
            if len(value) > 3:
                out[i] = f"{int(value):,}"
        self.writer.writerow(out)

    def close(self) -> None:
        pass


class _JsonOut:
    """A SODA JSON array: `[{...}` then `,{...}` per line, empty fields left out."""

    def __init__(self, fh: TextIO, columns: tuple[tuple[str, str], ...], dt: tuple[str, ...]):
        self.fh = fh
        self.names = tuple(api for api, _ in columns)
        self.defaults = tuple(_CONSTANTS.get(api, "") for api in self.names)
        self.dt = dt
        self.first = True
        self.encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        fh.write("[")

    def write(self, row: dict[str, str]) -> None:
        obj: dict[str, str] = {}
        for name, default in zip(self.names, self.defaults, strict=True):
            value = row.get(name, default)
            if value:
                obj[name] = value
                if name in self.dt:
                    obj[name + "_dt"] = f"{value[:4]}-{value[4:6]}-{value[6:]}T00:00:00.000"
        self.fh.write(("" if self.first else "\n,") + self.encode(obj))
        self.first = False

    def close(self) -> None:
        self.fh.write("]\n" if self.first else "\n]\n")


def write_synthetic_rdw(
    out_dir: Path,
    count: int,
    *,
    seed: int = 0,
    fmt: Literal["csv", "json"] = "csv",
    extras: bool = True,
) -> SynthFiles:
    """Write `count` synthetic vehicles as RDW open-data files into `out_dir`.

    Always the vehicle and brandstof files; with `extras` also carrosserie,
    carrosserie_specificatie, bijzonderheden and assen. Same seed, same files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "csv" if fmt == "csv" else "json"
    names = {
        "vehicles": ("Open_Data_RDW__Gekentekende_voertuigen", VEHICLE_COLUMNS),
        "fuels": ("Open_Data_RDW__Gekentekende_voertuigen_brandstof", FUEL_COLUMNS),
    }
    if extras:
        names |= {
            "bodies": ("Open_Data_RDW__Gekentekende_voertuigen_carrosserie", BODY_COLUMNS),
            "body_codes": (
                "Open_Data_RDW__Gekentekende_voertuigen_carrosserie_specificatie",
                BODY_CODE_COLUMNS,
            ),
            "particularities": (
                "Open_Data_RDW__Gekentekende_voertuigen_bijzonderheden",
                PARTICULARITY_COLUMNS,
            ),
            "axles": ("Open_Data_RDW__Gekentekende_voertuigen_assen", AXLE_COLUMNS),
        }
    paths = {key: out_dir / f"{stem}.{suffix}" for key, (stem, _) in names.items()}
    handles = {key: path.open("w", encoding="utf-8", newline="") for key, path in paths.items()}
    try:
        outs: dict[str, _CsvOut | _JsonOut] = {}
        for key, (_, columns) in names.items():
            dt = _VEHICLE_DT_FIELDS if key == "vehicles" else ()
            outs[key] = (
                _CsvOut(handles[key], columns)
                if fmt == "csv"
                else _JsonOut(handles[key], columns, dt)
            )
        for car in _fleet(seed, count):
            outs["vehicles"].write(car.row)
            for fuel in car.fuels:
                outs["fuels"].write(fuel)
            if extras:
                for key, rows in (
                    ("bodies", car.bodies),
                    ("body_codes", car.body_codes),
                    ("particularities", car.particularities),
                    ("axles", car.axles),
                ):
                    for row in rows:
                        outs[key].write(row)
        for out in outs.values():
            out.close()
    finally:
        for fh in handles.values():
            fh.close()
    return SynthFiles(
        vehicles=paths["vehicles"],
        fuels=paths["fuels"],
        bodies=paths.get("bodies"),
        body_codes=paths.get("body_codes"),
        particularities=paths.get("particularities"),
        axles=paths.get("axles"),
        count=count,
    )


def _fleet(seed: int, count: int) -> Iterator[_Car]:
    maker = _Maker(seed)
    for _ in range(count):
        yield maker.make()
