"""Granted exemptions in the exchange format `zes register load-exemptions` reads
(`enforcement.register.exemption_files`), for a region sharing one register or the national
desk. Idempotent: the same grants give the same bytes (stable order, no timestamp), and a
re-load replaces by issuer reference instead of adding twice."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from enforcement.model import LOCAL_TZ, Exemption, local_midnight
from enforcement.register.exemption_files import COLUMNS


def _start(at: datetime) -> str:
    local = at.astimezone(LOCAL_TZ)
    if local == local_midnight(local.date()):
        return local.date().isoformat()
    return local.isoformat(timespec="minutes")


def _end(at: datetime) -> str:
    """A date is the last valid day (inclusive); any other instant is written exclusive."""
    local = at.astimezone(LOCAL_TZ)
    if local == local_midnight(local.date()):
        return (local.date() - timedelta(days=1)).isoformat()
    return local.isoformat(timespec="minutes")


def row_of(exemption: Exemption) -> dict[str, str]:
    return {
        "kenteken": exemption.plate,
        "type": exemption.type,
        "scope": exemption.scope,
        "valid_from": _start(exemption.starts_at) if exemption.starts_at else "",
        "valid_until": _end(exemption.ends_before) if exemption.ends_before else "",
        "status": exemption.status.value,
        "sequence": "" if exemption.sequence is None else str(exemption.sequence),
        "reference": exemption.reference,
        "note": exemption.note,
    }


def to_csv(exemptions: Iterable[Exemption]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for exemption in sorted(exemptions, key=lambda e: e.reference):
        writer.writerow(row_of(exemption))
    return out.getvalue()


def write_csv(path: Path, exemptions: Iterable[Exemption]) -> int:
    """Write the file atomically (a reader never sees half of it); returns the rows."""
    text = to_csv(exemptions)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return text.count("\n") - 1
