"""Intake's side of the evidence seal: flag the cases whose images failed it.

The check itself is pure (enforcement.evidence_signing); this stores its consequence. A case is
flagged, never dropped: a reviewer sees that an image cannot be vouched for.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from enforcement.casework.models import Case, EvidenceItem, Sighting
from enforcement.evidence_signing import FLAGGED

_WORST_LAST = ("no_key", "unsigned", "invalid")
"""Applied in this order, so a case with an `invalid` image says `invalid`."""


def flag_cases(session: Session, passage_ids: Sequence[str]) -> int:
    """Flag the cases of these passages whose evidence failed its seal; how many images."""
    if not passage_ids:
        return 0
    bad = session.execute(
        select(EvidenceItem.passage_id, EvidenceItem.seal).where(
            EvidenceItem.passage_id.in_(list(passage_ids)), EvidenceItem.seal.in_(FLAGGED)
        )
    ).all()
    for status in _WORST_LAST:
        ids = [pid for pid, seal in bad if seal == status]
        if ids:
            cases = select(Sighting.case_id).where(Sighting.passage_id.in_(ids))
            query = update(Case).where(Case.id.in_(cases))
            if status != "invalid":  # never soften a case already flagged invalid
                query = query.where(
                    or_(Case.evidence_seal.is_(None), Case.evidence_seal != "invalid")
                )
            session.execute(query.values(evidence_seal=status))
    return len(bad)
