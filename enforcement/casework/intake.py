"""Intake: violation and evidence records become cases, sightings and stored evidence.

Idempotent by construction: a case is unique by its `case_key` (plate, zone, sanction
interval), a sighting by its passage id, an evidence item by (passage id, kind) and an image
by its SHA-256, and every insert ignores what is already there. A re-delivered batch
therefore changes nothing, and two intakes may run at once.

Evidence and violations travel on separate topics and either may arrive first. Evidence
of a known sighting is stored at once; other evidence is held (encrypted, `pending`) for
`evidence_hold_hours`: most of it shows compliant passages that never get a case, and
`purge` deletes it when the hold ends (no-hit deletion).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.orm import Session, sessionmaker

from enforcement.casework.db import insert_new
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.models import Case, CaseStatus, EvidenceItem, Sighting
from enforcement.casework.seals import flag_cases
from enforcement.evidence_signing import verify_evidence
from enforcement.records import Evidence, Violation

log = logging.getLogger("zes.intake")


@dataclass(slots=True)
class IntakeCounts:
    new_cases: int = 0
    sightings: int = 0
    duplicates: int = 0
    evidence_stored: int = 0
    evidence_pending: int = 0
    evidence_duplicates: int = 0

    @property
    def records(self) -> int:
        """Well-formed records accounted for (new, attached, held or duplicate)."""
        return (
            self.sightings + self.duplicates
            + self.evidence_stored + self.evidence_pending + self.evidence_duplicates
        )  # fmt: skip

    def add(self, other: IntakeCounts) -> None:
        for name in ("new_cases", "sightings", "duplicates", "evidence_stored",
                     "evidence_pending", "evidence_duplicates"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _case_row(record: Violation, now: datetime, grace: timedelta) -> dict[str, Any]:
    return {
        "case_key": record.case_key,
        "plate": record.plate,
        "zone_id": record.zone_id,
        "decision": record.decision,
        "needs_identification": record.decision == "undetermined",
        "status": CaseStatus.OPEN.value,
        "vehicle_class": record.vehicle_class,
        "sanction_kind": record.sanction.kind,
        "amount_eur": record.sanction.amount_eur,
        "admin_costs_eur": record.sanction.admin_costs_eur,
        "rule_ids": " ".join(record.rule_ids)[:255],
        "record": msgspec.to_builtins(record),
        "first_seen_at": record.seen_at,
        "last_seen_at": record.seen_at,
        "sightings_count": 0,
        "reviewable_after": record.seen_at + grace,
        "created_at": now,
        "updated_at": now,
    }


def _sighting_row(record: Violation, case_id: int, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "passage_id": str(record.passage_id),
        "seen_at": record.seen_at,
        "site_id": record.site_id,
        "camera_id": record.camera_id,
        "plate_raw": record.plate_raw,
        "confidence": record.confidence,
        "first_sighting": record.first_sighting,
        "char_confidences": {
            "chars": list(record.char_confidences),
            "alternatives": [msgspec.to_builtins(a) for a in record.alternatives],
        },
        "received_at": now,
    }


class CaseIntake:
    """Applies batches of records in one transaction each."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: EvidenceVault,
        *,
        grace: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        seal_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        self.seal_keys = dict(seal_keys or {})  # site id -> evidence signing key
        self.sessions = sessions
        self.vault = vault
        self.grace = grace
        self.clock = clock

    def apply(
        self, violations: Sequence[Violation] = (), evidence: Sequence[Evidence] = ()
    ) -> IntakeCounts:
        counts = IntakeCounts()
        now = self.clock()
        with self.sessions.begin() as session:
            if violations:
                self._violations(session, violations, now, counts)
            if evidence:
                self._evidence(session, evidence, now, counts)
        return counts

    def _violations(
        self, session: Session, records: Sequence[Violation], now: datetime, counts: IntakeCounts
    ) -> None:
        by_passage: dict[str, Violation] = {}
        for record in records:
            by_passage.setdefault(str(record.passage_id), record)
        counts.duplicates += len(records) - len(by_passage)
        known = set(
            session.scalars(
                select(Sighting.passage_id).where(Sighting.passage_id.in_(list(by_passage)))
            )
        )
        counts.duplicates += len(known)
        fresh = [r for pid, r in by_passage.items() if pid not in known]
        if not fresh:
            return
        groups = _group(fresh)
        # A new case opens with its whole group from this batch (first/last seen, count);
        # RETURNING says which keys were new, so only existing cases need an UPDATE.
        rows = []
        for _key, group in groups.items():
            opener = min(group, key=lambda r: r.seen_at)  # records may arrive re-ordered
            row = _case_row(opener, now, self.grace)
            row["sightings_count"] = len(group)
            row["last_seen_at"] = max(r.seen_at for r in group)
            row["rule_ids"] = _rule_ids(row["rule_ids"], group)
            rows.append(row)
        ids: dict[str, int] = dict(insert_new(session, Case, rows, "case_key", returning=("id",)))
        counts.new_cases += len(ids)
        existing = [key for key in groups if key not in ids]
        if existing:
            ids.update(
                session.execute(
                    select(Case.case_key, Case.id).where(Case.case_key.in_(existing))
                ).all()
            )
        # `fresh` holds only passage ids read as absent above, in this same transaction.
        insert_new(
            session,
            Sighting,
            [_sighting_row(r, ids[r.case_key], now) for r in fresh],
            "passage_id",
            known_absent=True,
        )
        counts.sightings += len(fresh)
        if existing:
            self._attach(session, {key: groups[key] for key in existing}, ids, now)
        # Evidence that came first was held; its violation has now arrived.
        session.execute(
            update(EvidenceItem)
            .where(EvidenceItem.passage_id.in_([str(r.passage_id) for r in fresh]))
            .values(pending=False)
        )
        flag_cases(session, [str(r.passage_id) for r in fresh])

    def _attach(
        self,
        session: Session,
        groups: dict[str, list[Violation]],
        ids: dict[str, int],
        now: datetime,
    ) -> None:
        """Later sightings of existing cases: one executemany moves counts and first/last
        seen together (a re-ordered earlier sighting also moves the grace period), and adds
        the rules a sighting broke that the case did not carry yet (an access window missed
        later the same day): a case carries every rule that was broken."""
        table = cast(Table, Case.__table__)
        c = table.c
        current = dict(
            session.execute(
                select(c.id, c.rule_ids).where(c.id.in_([ids[key] for key in groups]))
            ).all()
        )
        session.execute(
            update(table)
            .where(c.id == bindparam("case_id"))
            .values(
                sightings_count=c.sightings_count + bindparam("n"),
                reviewable_after=case(
                    (c.first_seen_at > bindparam("first"), bindparam("reviewable")),
                    else_=c.reviewable_after,
                ),
                first_seen_at=case(
                    (c.first_seen_at > bindparam("first"), bindparam("first")),
                    else_=c.first_seen_at,
                ),
                last_seen_at=case(
                    (c.last_seen_at < bindparam("last"), bindparam("last")),
                    else_=c.last_seen_at,
                ),
                updated_at=bindparam("now"),
                rule_ids=bindparam("rules"),
            ),
            [
                {
                    "case_id": ids[key],
                    "rules": _rule_ids(current[ids[key]], group),
                    "n": len(group),
                    "first": min(r.seen_at for r in group),
                    "last": max(r.seen_at for r in group),
                    "reviewable": min(r.seen_at for r in group) + self.grace,
                    "now": now,
                }
                for key, group in groups.items()
            ],
        )

    def _evidence(
        self, session: Session, records: Sequence[Evidence], now: datetime, counts: IntakeCounts
    ) -> None:
        ids = list({str(e.passage_id) for e in records})
        known = set(
            session.scalars(select(Sighting.passage_id).where(Sighting.passage_id.in_(ids)))
        )
        rows = []
        for item in records:
            self.vault.store(session, item.sha256, item.data, item.content_type, now)
            rows.append(
                {
                    "passage_id": str(item.passage_id),
                    "kind": item.kind,
                    "sha256": item.sha256,
                    "captured_at": item.captured_at,
                    "received_at": now,
                    "pending": str(item.passage_id) not in known,
                    "seal": verify_evidence(item, self.seal_keys),
                    "time_sync": item.time_sync,
                }
            )
        new = len(insert_new(session, EvidenceItem, rows, "passage_id", "kind"))
        flag_cases(session, [r["passage_id"] for r in rows if r["passage_id"] in known])
        counts.evidence_duplicates += len(rows) - new
        held = sum(1 for r in rows if r["pending"])
        counts.evidence_pending += min(held, new)
        counts.evidence_stored += max(0, new - held)


def _rule_ids(known: str, records: Sequence[Violation]) -> str:
    """The case's rule ids plus those of `records`, each once, in the order first broken."""
    ids = dict.fromkeys(known.split())
    for record in sorted(records, key=lambda r: r.seen_at):
        ids.update(dict.fromkeys(record.rule_ids))
    return " ".join(ids)[:255]


def _group(records: Sequence[Violation]) -> dict[str, list[Violation]]:
    groups: dict[str, list[Violation]] = {}
    for record in records:
        groups.setdefault(record.case_key, []).append(record)
    return groups
