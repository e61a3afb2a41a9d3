"""Tenancy: each municipality is its own controller of its cases.

A case belongs to the municipality of its zone (the zone catalogue says which); a user sees
the cases of the municipalities they belong to, or every case for a regional account. What a
user may not see does not exist for them: the review app answers 404, never 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from enforcement.casework.models import Case, User, UserMunicipality
from enforcement.model import fold_name
from enforcement.zones import ZoneCatalog


def municipality_of_zone(zones: ZoneCatalog, zone_id: str) -> str:
    """The municipality a zone's cases belong to, by the catalogue's own lookup (as the
    export groups its batches). An unknown zone id is its own zone-less municipality, which
    no municipality's officers hold: only regional accounts see such a case."""
    return zones.resolve(zone_id).municipality


def municipality_name(zones: ZoneCatalog, name: str) -> str | None:
    """The catalogue's spelling of a municipality (matched loosely), or None if no zone of
    the catalogue is in it."""
    key = fold_name(name)
    for zone in zones:
        if fold_name(zone.municipality) == key:
            return zone.municipality
    return None


@dataclass(frozen=True, slots=True)
class CaseScope:
    """What one user may see: every municipality, or these (catalogue spelling)."""

    everything: bool
    municipalities: frozenset[str]
    zone_ids: frozenset[str]

    def sees_zone(self, zone_id: str) -> bool:
        return self.everything or zone_id in self.zone_ids

    def sees(self, case: Case) -> bool:
        return self.sees_zone(case.zone_id)

    @property
    def within(self) -> frozenset[str] | None:
        """The zone ids in scope, or None for every zone (`review.QueueFilter.within`)."""
        return None if self.everything else self.zone_ids

    def cases(self) -> ColumnElement[bool]:
        """The SQL condition for the cases in scope (nothing when none)."""
        if self.everything:
            return true()
        return Case.zone_id.in_(sorted(self.zone_ids))


def municipalities_of(session: Session, user: User) -> frozenset[str]:
    return frozenset(
        session.scalars(
            select(UserMunicipality.municipality).where(UserMunicipality.user_id == user.id)
        )
    )


def scope_of(session: Session, user: User, zones: ZoneCatalog) -> CaseScope:
    if user.all_municipalities:
        return CaseScope(True, frozenset(), frozenset())
    mine = municipalities_of(session, user)
    folded = {fold_name(m) for m in mine}
    return CaseScope(
        False,
        mine,
        frozenset(z.id for z in zones if fold_name(z.municipality) in folded),
    )


def set_municipalities(session: Session, user: User, names: Iterable[str]) -> None:
    """Replace `user`'s municipalities (names already in the catalogue's spelling)."""
    for row in session.scalars(select(UserMunicipality).where(UserMunicipality.user_id == user.id)):
        session.delete(row)
    session.flush()
    for name in sorted(set(names)):
        session.add(UserMunicipality(user_id=user.id, municipality=name))
    session.flush()
