"""The truth of a test clip: which vehicle is in view when, and which way it goes.

A CSV file with the header `plate,first_s,last_s,direction`, one row per vehicle: the seconds
from the clip's start during which it is in view, and `entering` or `leaving`. Both clip
makers (`edge.clips`, `edge.drive_by`) write it and `zes edge replay` reads it, so a site
engineer can also write one by hand for a clip of their own camera.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from enforcement.records import Direction

TRUTH_HEADER = ("plate", "first_s", "last_s", "direction")


@dataclass(frozen=True, slots=True)
class TruthVehicle:
    plate: str
    first_s: float
    last_s: float
    direction: Direction


def read_truth(path: Path) -> list[TruthVehicle]:
    """A truth CSV (`plate,first_s,last_s,direction`); a clear error for a bad file."""
    rows: list[TruthVehicle] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        wanted = list(TRUTH_HEADER)
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != wanted:
            raise ValueError(f"{path}: the header must be {','.join(wanted)}")
        for number, row in enumerate(reader, start=2):
            try:
                first, last = float(row["first_s"]), float(row["last_s"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{number}: first_s and last_s must be seconds") from None
            heading = (row["direction"] or "").strip()
            if heading not in ("entering", "leaving") or last < first or not row["plate"]:
                raise ValueError(
                    f"{path}:{number}: need a plate, first_s <= last_s and "
                    "direction entering|leaving"
                )
            direction: Direction = "entering" if heading == "entering" else "leaving"
            rows.append(TruthVehicle(row["plate"].strip().upper(), first, last, direction))
    return rows


def write_truth(vehicles: Sequence[TruthVehicle], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_HEADER)
        for v in vehicles:
            writer.writerow([v.plate, f"{v.first_s:.2f}", f"{v.last_s:.2f}", v.direction])
