"""Retention, run hourly (deploy/k8s/purge-cronjob.yaml, deploy/systemd/zes-purge.timer,
`zes up`):

- evidence held for passages that never became a case (compliant ones: no-hit deletion)
  goes once `evidence_hold_hours` have passed;
- rejected and closed cases go `retention_days` after they closed, with their sightings
  (plate, place, time) and evidence; what stays is an anonymous count per local day, zone,
  status and reason (`retired_cases`) and the audit entries, which name the case by its
  number only;
- exported cases go `exported_retention_days` after their last outcome came back (or after
  their export, when nothing came back), in the same way; a case under objection is never
  purged, however old (the prosecutor or the judge may still ask for its dossier);
- the user names typed at failed logins go after `failed_login_days`;
- rate-limit counters past their window (client addresses, typed user names) and review-app
  logins that ended, timed out or went idle are deleted on every run (the web app only
  sweeps them as new events come, so a quiet app would keep them).

Counts only are logged and audited, never plates. Audit entries themselves are never purged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import (
    OUTCOME_STATUSES,
    Case,
    CaseOutcome,
    CaseStatus,
    EvidenceBlob,
    EvidenceItem,
    ExportBatch,
    FailedLoginName,
    RateCounter,
    RetiredCases,
    Sighting,
    WebSession,
)
from enforcement.model import LOCAL_TZ

log = logging.getLogger("zes.purge")

#: Exported cases that may end: every state after the export but an open objection.
PURGEABLE_AFTER_EXPORT = [
    s.value for s in (CaseStatus.EXPORTED, *OUTCOME_STATUSES) if s != CaseStatus.OBJECTION
]

Finished = Row[int, datetime, str, str, str | None, str | None, int]
"""id, first seen, zone, status, reject and close reason, sightings of a finished case."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cases: int
    """Rejected and closed cases removed (counted in `retired_cases`)."""
    evidence_items: int
    sightings: int
    pending_items: int
    blobs: int
    failed_logins: int
    exported_cases: int = 0
    """Exported cases removed after their last outcome (also counted in `retired_cases`)."""
    rate_counters: int = 0
    web_sessions: int = 0


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge(
    session: Session,
    now: datetime,
    *,
    retention_days: int,
    hold_hours: float,
    failed_login_days: float,
    actor: str,
    exported_retention_days: int = 1826,
    session_hours: float = 10.0,
    idle_minutes: float = 30.0,
) -> PurgeResult:
    cutoff = now - timedelta(days=retention_days)
    finished = list(
        session.execute(
            select(
                Case.id, Case.first_seen_at, Case.zone_id, Case.status, Case.reject_reason,
                Case.close_reason, Case.sightings_count,
            ).where(
                Case.status.in_([CaseStatus.REJECTED.value, CaseStatus.CLOSED.value]),
                Case.closed_at.is_not(None),
                Case.closed_at < cutoff,
            )
        ).all()
    )  # fmt: skip
    ended = _ended_exports(session, now - timedelta(days=exported_retention_days))
    finished.extend(ended)
    case_ids = [row.id for row in finished]
    items = sightings = 0
    for i in range(0, len(case_ids), 500):
        chunk = case_ids[i : i + 500]
        passages = select(Sighting.passage_id).where(Sighting.case_id.in_(chunk))
        items += _rowcount(
            session.execute(delete(EvidenceItem).where(EvidenceItem.passage_id.in_(passages)))
        )
        sightings += _rowcount(session.execute(delete(Sighting).where(Sighting.case_id.in_(chunk))))
        session.execute(delete(CaseOutcome).where(CaseOutcome.case_id.in_(chunk)))
        session.execute(delete(Case).where(Case.id.in_(chunk)))
    _count_retired(session, finished)
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
    names = session.execute(
        delete(FailedLoginName).where(FailedLoginName.at < now - timedelta(days=failed_login_days))
    )
    counters = session.execute(delete(RateCounter).where(RateCounter.expires_at < now))
    logins = session.execute(
        delete(WebSession).where(
            or_(
                WebSession.ended_at.is_not(None),
                WebSession.created_at < now - timedelta(hours=session_hours),
                WebSession.last_seen_at < now - timedelta(minutes=idle_minutes),
            )
        )
    )
    result = PurgeResult(
        cases=len(case_ids) - len(ended),
        exported_cases=len(ended),
        rate_counters=_rowcount(counters),
        web_sessions=_rowcount(logins),
        evidence_items=items,
        sightings=sightings,
        pending_items=_rowcount(pending),
        blobs=_rowcount(blobs),
        failed_logins=_rowcount(names),
    )
    audit.append(
        session,
        actor,
        "purge",
        detail={
            "cases": result.cases,
            "evidence_items": result.evidence_items,
            "sightings": result.sightings,
            "pending_items": result.pending_items,
            "blobs": result.blobs,
            "failed_logins": result.failed_logins,
            "exported_cases": result.exported_cases,
            "rate_counters": result.rate_counters,
            "web_sessions": result.web_sessions,
        },
        at=now,
    )
    log.info(
        "purge: %d finished and %d exported cases past retention (%d sightings, %d evidence "
        "items), %d held items, %d images, %d failed-login names, %d rate counters, "
        "%d logins removed",
        result.cases, result.exported_cases, result.sightings, result.evidence_items,
        result.pending_items, result.blobs, result.failed_logins, result.rate_counters,
        result.web_sessions,
    )  # fmt: skip
    return result


def _ended_exports(session: Session, cutoff: datetime) -> list[Finished]:
    """Exported cases whose last outcome (else their export) is older than `cutoff`; never
    one under objection. Counted as retired under their final status and reason code."""
    last_reason = (
        select(CaseOutcome.reason_code)
        .where(CaseOutcome.case_id == Case.id)
        .order_by(CaseOutcome.decided_on.desc(), CaseOutcome.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("reject_reason")
    )
    settled = func.coalesce(Case.outcome_at, ExportBatch.created_at)
    return list(
        session.execute(
            select(
                Case.id, Case.first_seen_at, Case.zone_id, Case.status, last_reason,
                Case.close_reason, Case.sightings_count,
            )
            .join(ExportBatch, ExportBatch.id == Case.export_batch_id)
            .where(
                Case.status.in_(PURGEABLE_AFTER_EXPORT),
                settled < cutoff,
            )
        ).all()
    )  # fmt: skip


def _count_retired(session: Session, finished: Sequence[Finished]) -> None:
    """Add the removed cases to the anonymous counts (one row per day, zone, status, why)."""
    cases: Counter[tuple[date, str, str, str]] = Counter()
    seen: Counter[tuple[date, str, str, str]] = Counter()
    for row in finished:
        key = (
            row.first_seen_at.astimezone(LOCAL_TZ).date(),
            row.zone_id,
            row.status,
            row.reject_reason or row.close_reason or "",
        )
        cases[key] += 1
        seen[key] += row.sightings_count
    for (day, zone, status, reason), n in cases.items():
        where = (
            RetiredCases.day == day,
            RetiredCases.zone_id == zone,
            RetiredCases.status == status,
            RetiredCases.reason == reason,
        )
        bumped = session.execute(
            update(RetiredCases)
            .where(*where)
            .values(
                cases=RetiredCases.cases + n,
                sightings=RetiredCases.sightings + seen[day, zone, status, reason],
            )
        )
        if _rowcount(bumped) == 0:
            session.add(
                RetiredCases(
                    day=day, zone_id=zone, status=status, reason=reason, cases=n,
                    sightings=seen[day, zone, status, reason],
                )
            )  # fmt: skip
    session.flush()
