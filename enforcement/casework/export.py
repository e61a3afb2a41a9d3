"""Export batches for the fine authority (CJIB): per municipality, fines and warning letters
apart. Each municipality is its own client of the fine authority (and its own controller of
its cases), so a batch holds the cases of one municipality only (the case's zone decides it,
enforcement/zones.py).

A batch is a CSV file plus a JSON manifest (batch number, municipality, counts, SHA-256 of the
CSV, and the audit chain's anchor after the export was logged). Cases are marked with their
batch in the same transaction that creates it, so a case is exported exactly once and a
re-run exports nothing new. Just before export each case is checked against the register
again: one covered by a late exemption closes instead.

Files and the database never disagree about what was exported: both files are written under
a staging name (mode 0600) inside the transaction and renamed to their final names only after
it committed; a rollback removes them. Batch numbers are reserved, and the reservation
committed and audited, before anything is written: a failed export burns its number, so a
number that might have reached someone is never used again for other contents. A crash
between the commit and the rename leaves staged files that the next run completes (their
batch is committed) or removes (it is not).

Owner lookup at the vehicle authority (name and address for the fine) is outside this
system; `OwnerLookup` is where a deployment plugs it in. The default adds no owner data:
the fine authority looks the plate up itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from enforcement.casework import audit
from enforcement.casework.models import Case, CaseStatus, ExportBatch, ExportNumber
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import plate_for, recheck_exemptions
from enforcement.model import LOCAL_TZ
from enforcement.zones import zone_id

COLUMNS = (
    "case_key", "plate", "zone_id", "first_seen_local", "sightings", "vehicle_class",
    "rule_ids", "sanction", "amount_eur", "admin_costs_eur", "owner_reference",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Owner:
    reference: str
    """An opaque reference the vehicle authority returned (never stored here)."""


class OwnerLookup(Protocol):
    """Owner data for a plate at an instant, from the vehicle authority (outside zes)."""

    def owner_of(self, plate: str, at: datetime) -> Owner | None: ...


class NoOwnerLookup:
    """The default: no owner data; the fine authority resolves the plate itself."""

    def owner_of(self, plate: str, at: datetime) -> Owner | None:
        return None


STAGING = ".staging"
"""Suffix of a file not yet committed (`.NAME.staging`); never sent, never kept."""


@dataclass(frozen=True, slots=True)
class WrittenBatch:
    kind: str
    municipality: str
    number: int
    path: Path
    """The CSV file (its manifest: the same name with `.json`)."""
    cases: int


@dataclass(slots=True)
class ExportResult:
    batches: list[WrittenBatch] = field(default_factory=list)
    closed: int = 0
    """Approved cases closed because a late exemption now covers them."""
    held: int = 0
    """Cases left for a later run because the register could not be asked."""
    duplicates: int = 0
    """Approved cases refused: their vehicle, zone and interval already has a sanction in
    this run or an earlier batch (one sanction per vehicle, zone and interval). They stay
    approved and unexported for an officer to merge or reject."""


Group = tuple[str, str]
"""(kind, municipality): one batch."""


def export(
    sessions: sessionmaker[Session],
    out_dir: Path,
    rechecker: Rechecker,
    *,
    actor: str,
    owners: OwnerLookup | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportResult:
    """Write a fines batch and a warnings batch per municipality of every approved,
    unexported case: re-check and reserve numbers (one transaction), then write (another)."""
    owners = owners or NoOwnerLookup()
    now = clock()
    result = ExportResult()
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # batches name plates
    with sessions.begin() as session:
        _finish_staged(session, out_dir)
        groups = _ready(session, rechecker, now, actor, result)
        numbers = _reserve(session, groups, now, actor)
    if not groups:
        return result
    staged: list[tuple[Path, Path]] = []
    try:
        with sessions.begin() as session:
            for group, ids in groups.items():
                batch = _write(session, out_dir, group, numbers[group], ids, owners, now, actor)
                if batch is not None:
                    staged.extend(batch[1])
                    result.batches.append(batch[0])
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in staged:  # the CSV before its manifest: a manifest means done
        temporary.replace(final)
    return result


def _ready(
    session: Session, rechecker: Rechecker, now: datetime, actor: str, result: ExportResult
) -> dict[Group, list[int]]:
    """Approved, unexported cases that may go out now, by kind and municipality."""
    approved = session.scalars(
        select(Case)
        .where(Case.status == CaseStatus.APPROVED.value, Case.export_batch_id.is_(None))
        .order_by(Case.id)
        .with_for_update()
    ).all()
    groups: dict[Group, list[int]] = {}
    sanctioned = _sanctioned(session, {plate_for(c) for c in approved})
    for case in approved:
        key = _sanction_key(case)
        if key in sanctioned:
            result.duplicates += 1
            audit.append(
                session, actor, "export_refused_duplicate", case_id=case.id,
                detail={"reason": "vehicle, zone and interval already sanctioned"}, at=now,
            )  # fmt: skip
            continue
        check = recheck_exemptions(session, case, rechecker, now, actor=actor)
        if check.decision is None:
            result.held += 1  # never export on doubt; the next run tries again
        elif check.covered:
            result.closed += 1
        elif case.sanction_kind in ("fine", "warning"):
            municipality = rechecker.zones.resolve(case.zone_id).municipality
            groups.setdefault((case.sanction_kind, municipality), []).append(case.id)
            sanctioned.add(key)
    return groups


def _sanction_key(case: Case) -> tuple[str, str, object]:
    """One sanction per vehicle (its plate now), zone and interval (R35: the local day)."""
    return plate_for(case), case.zone_id, case.first_seen_at.astimezone(LOCAL_TZ).date()


def _sanctioned(session: Session, plates: set[str]) -> set[tuple[str, str, object]]:
    """The vehicles, zones and intervals of these plates already in an export batch."""
    if not plates:
        return set()
    exported = session.scalars(
        select(Case).where(
            Case.export_batch_id.is_not(None),
            (Case.plate.in_(sorted(plates)) | Case.corrected_plate.in_(sorted(plates))),
        )
    )
    return {_sanction_key(c) for c in exported}


def _reserve(
    session: Session, groups: dict[Group, list[int]], now: datetime, actor: str
) -> dict[Group, int]:
    """The next number of every group, bumped and audited in this (committed) transaction."""
    numbers: dict[Group, int] = {}
    for kind, municipality in sorted(groups):
        row = session.get(ExportNumber, (kind, municipality), with_for_update=True)
        if row is None:
            used = session.scalar(
                select(func.max(ExportBatch.number)).where(
                    ExportBatch.kind == kind, ExportBatch.municipality == municipality
                )
            )
            row = ExportNumber(kind=kind, municipality=municipality, last_number=used or 0)
            session.add(row)
        row.last_number += 1
        numbers[kind, municipality] = row.last_number
    if numbers:
        reserved = [
            {"kind": k, "municipality": m, "number": n, "cases": len(groups[k, m])}
            for (k, m), n in numbers.items()
        ]
        audit.append(session, actor, "export_reserve", detail={"batches": reserved}, at=now)
    return numbers


def _write(
    session: Session,
    out_dir: Path,
    group: Group,
    number: int,
    ids: list[int],
    owners: OwnerLookup,
    now: datetime,
    actor: str,
) -> tuple[WrittenBatch, list[tuple[Path, Path]]] | None:
    kind, municipality = group
    # Still approved and unexported (another export or a reviewer may have come between).
    cases = session.scalars(
        select(Case)
        .where(
            Case.id.in_(ids),
            Case.status == CaseStatus.APPROVED.value,
            Case.export_batch_id.is_(None),
        )
        .order_by(Case.id)
        .with_for_update()
    ).all()
    if not cases:
        return None  # the number stays burnt; the reservation entry says it was never used
    stem = f"zes-{kind}s-{zone_id(municipality)}-{number:06d}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for case in cases:
        owner = owners.owner_of(plate_for(case), case.first_seen_at)
        writer.writerow(
            map(neutral_cell, [
                case.case_key, plate_for(case), case.zone_id,
                case.first_seen_at.astimezone(LOCAL_TZ).isoformat(), case.sightings_count,
                case.vehicle_class or "", case.rule_ids, kind,
                case.amount_eur if kind == "fine" and case.amount_eur is not None else "",
                case.admin_costs_eur if kind == "fine" and case.admin_costs_eur else "",
                owner.reference if owner else "",
            ])
        )  # fmt: skip
    body = buffer.getvalue().encode()
    digest = hashlib.sha256(body).hexdigest()
    batch = ExportBatch(
        kind=kind,
        municipality=municipality,
        number=number,
        created_at=now,
        file_name=f"{stem}.csv",
        sha256=digest,
        cases=len(cases),
    )
    session.add(batch)
    session.flush()
    for case in cases:
        case.export_batch_id = batch.id
        case.status = CaseStatus.EXPORTED.value
        case.updated_at = now
    manifest: dict[str, Any] = {
        "batch": number,
        "kind": kind,
        "municipality": municipality,
        "created_at": now.isoformat(),
        "cases": len(cases),
        "amount_eur_total": sum(c.amount_eur or 0 for c in cases) if kind == "fine" else 0,
        "file": batch.file_name,
        "sha256": digest,
    }
    audit.append(session, actor, "export", detail=dict(manifest), at=now)
    manifest["audit_anchor"] = audit.anchor(session).as_dict()
    csv_path = out_dir / batch.file_name
    json_path = out_dir / f"{stem}.json"
    staged = [
        (_stage(csv_path, body), csv_path),
        (_stage(json_path, (json.dumps(manifest, indent=2) + "\n").encode()), json_path),
    ]
    return WrittenBatch(kind, municipality, number, csv_path, len(cases)), staged


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): `=`, `+`, `-`,
#: `@`, and a tab or carriage return before one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading
    `'` (`=HYPERLINK(…)` and `@SUM(…)` were written verbatim: issue 23). Numbers stay
    numbers; no exported text field legitimately starts with these characters."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def staging_path(final: Path) -> Path:
    return final.with_name(f".{final.name}{STAGING}")


def _stage(final: Path, body: bytes) -> Path:
    """Write `body` under the staging name of `final`, readable by the owner only."""
    path = staging_path(final)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when an old staging file was there with other bits
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
    finally:
        os.close(fd)
    return path


def _finish_staged(session: Session, out_dir: Path) -> None:
    """Staged files of an earlier run that stopped between its commit and its rename: the
    committed ones get their final name, the others (never committed) are removed."""
    leftovers = sorted(out_dir.glob(f".*{STAGING}"))
    if not leftovers:
        return
    committed = set(session.scalars(select(ExportBatch.file_name)))
    committed |= {name.removesuffix(".csv") + ".json" for name in committed}
    # CSV files before manifests: a manifest means its CSV is there.
    for path in sorted(leftovers, key=lambda p: p.name.endswith(f".json{STAGING}")):
        final = path.with_name(path.name[1 : -len(STAGING)])
        if final.name in committed:
            path.replace(final)
        else:
            path.unlink()
