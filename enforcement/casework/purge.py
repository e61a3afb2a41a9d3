"""Retention: evidence of rejected and closed cases goes after `retention_days`; evidence
held for passages that never became a case goes after `evidence_hold_hours`. Counts only
are logged and audited, never plates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import Case, CaseStatus, EvidenceBlob, EvidenceItem, Sighting

log = logging.getLogger("zes.purge")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cases: int
    evidence_items: int
    pending_items: int
    blobs: int


def purge(
    session: Session, now: datetime, *, retention_days: int, hold_hours: float, actor: str
) -> PurgeResult:
    cutoff = now - timedelta(days=retention_days)
    finished = select(Case.id).where(
        Case.status.in_([CaseStatus.REJECTED.value, CaseStatus.CLOSED.value]),
        Case.closed_at.is_not(None),
        Case.closed_at < cutoff,
    )
    case_ids = list(session.scalars(finished))
    passages = select(Sighting.passage_id).where(Sighting.case_id.in_(case_ids))
    items = session.execute(
        delete(EvidenceItem).where(EvidenceItem.passage_id.in_(passages), ~EvidenceItem.pending)
    )
    pending = session.execute(
        delete(EvidenceItem).where(
            EvidenceItem.pending, EvidenceItem.received_at < now - timedelta(hours=hold_hours)
        )
    )
    # Blobs no item refers to any more (an image can belong to several passages).
    blobs = session.execute(
        delete(EvidenceBlob).where(
            EvidenceBlob.sha256.not_in(select(EvidenceItem.sha256).distinct())
        )
    )
    result = PurgeResult(
        cases=len(case_ids),
        evidence_items=int(getattr(items, "rowcount", 0) or 0),
        pending_items=int(getattr(pending, "rowcount", 0) or 0),
        blobs=int(getattr(blobs, "rowcount", 0) or 0),
    )
    audit.append(
        session,
        actor,
        "purge",
        detail={
            "cases": result.cases,
            "evidence_items": result.evidence_items,
            "pending_items": result.pending_items,
            "blobs": result.blobs,
        },
        at=now,
    )
    log.info(
        "purge: %d cases past retention, %d evidence items, %d held items, %d images removed",
        result.cases, result.evidence_items, result.pending_items, result.blobs,
    )  # fmt: skip
    return result
