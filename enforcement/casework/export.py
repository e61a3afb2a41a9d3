"""Export batches for the fine authority (CJIB): fines and warning letters apart.

A batch is a CSV file plus a JSON manifest (batch number, counts, SHA-256 of the CSV). Cases
are marked with their batch in the same transaction that creates it, so a case is exported
exactly once and a re-run exports nothing new. Just before export each case is checked
against the register again: one covered by a late exemption closes instead.

Owner lookup at the vehicle authority (name and address for the fine) is outside this
system; `OwnerLookup` is where a deployment plugs it in. The default adds no owner data:
the fine authority looks the plate up itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import Case, CaseStatus, ExportBatch
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import plate_for, recheck_exemptions
from enforcement.model import LOCAL_TZ

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


@dataclass(slots=True)
class ExportResult:
    batches: list[tuple[str, int, Path, int]] = field(default_factory=list)
    """(kind, batch number, CSV path, cases) per written batch."""
    closed: int = 0
    """Approved cases closed because a late exemption now covers them."""
    held: int = 0
    """Cases left for a later run because the register could not be asked."""


def export(
    session: Session,
    out_dir: Path,
    rechecker: Rechecker,
    *,
    actor: str,
    owners: OwnerLookup | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportResult:
    """Write one fines batch and one warnings batch of every approved, unexported case."""
    owners = owners or NoOwnerLookup()
    now = clock()
    result = ExportResult()
    approved = session.scalars(
        select(Case)
        .where(Case.status == CaseStatus.APPROVED.value, Case.export_batch_id.is_(None))
        .order_by(Case.id)
        .with_for_update()
    ).all()
    ready: dict[str, list[Case]] = {"fine": [], "warning": []}
    for case in approved:
        check = recheck_exemptions(session, case, rechecker, now, actor=actor)
        if check.decision is None:
            result.held += 1  # never export on doubt; the next run tries again
        elif check.covered:
            result.closed += 1
        elif case.sanction_kind in ready:
            ready[case.sanction_kind].append(case)
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, cases in ready.items():
        if cases:
            result.batches.append(_write(session, out_dir, kind, cases, owners, now, actor))
    return result


def _write(
    session: Session,
    out_dir: Path,
    kind: str,
    cases: list[Case],
    owners: OwnerLookup,
    now: datetime,
    actor: str,
) -> tuple[str, int, Path, int]:
    number = (
        session.scalar(select(func.max(ExportBatch.number)).where(ExportBatch.kind == kind)) or 0
    ) + 1
    stem = f"zes-{kind}s-{number:06d}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for case in cases:
        owner = owners.owner_of(plate_for(case), case.first_seen_at)
        writer.writerow(
            [
                case.case_key, plate_for(case), case.zone_id,
                case.first_seen_at.astimezone(LOCAL_TZ).isoformat(), case.sightings_count,
                case.vehicle_class or "", case.rule_ids, kind,
                case.amount_eur if kind == "fine" and case.amount_eur is not None else "",
                case.admin_costs_eur if kind == "fine" and case.admin_costs_eur else "",
                owner.reference if owner else "",
            ]
        )  # fmt: skip
    body = buffer.getvalue().encode()
    digest = hashlib.sha256(body).hexdigest()
    batch = ExportBatch(
        kind=kind,
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
    manifest = {
        "batch": number,
        "kind": kind,
        "created_at": now.isoformat(),
        "cases": len(cases),
        "amount_eur_total": sum(c.amount_eur or 0 for c in cases) if kind == "fine" else 0,
        "file": batch.file_name,
        "sha256": digest,
    }
    audit.append(session, actor, "export", detail=dict(manifest), at=now)
    # Files are written before the commit; a failed commit removes them (caller's rollback
    # leaves the cases unexported, and the next run writes the same number again).
    csv_path = out_dir / batch.file_name
    tmp = csv_path.with_suffix(".csv.tmp")
    tmp.write_bytes(body)
    tmp.replace(csv_path)
    (out_dir / f"{stem}.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return kind, number, csv_path, len(cases)
