"""The register interface: what the stream asks of the vehicle and exemption registers.

Kept small and typed so the stream, the tests and any adapter (Redis today, something else
tomorrow) agree on one shape. Two rules every adapter keeps:

* a plate absent from `RegisterView.vehicles` was *looked up and not found*; an adapter that
  cannot reach its store raises `RegisterUnavailable` instead, so an outage never reads as
  "unknown vehicle" (the stream then leaves the passage undecided and retries: never fine
  on doubt);
* case claims and day-permit counts are atomic across workers, so N stream workers
  de-duplicate sanctions (R35) and count day permits (R22) as if they were one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, Protocol

from enforcement.model import Exemption, Vehicle, case_key

__all__ = [
    "AsyncRegister",
    "CaseClaim",
    "ClaimRequest",
    "DayPermitUse",
    "Register",
    "RegisterUnavailable",
    "RegisterView",
]


@dataclass(frozen=True, slots=True)
class RegisterView:
    """The register facts for one batch of plates, read in one consistent snapshot."""

    vehicles: Mapping[str, Vehicle]
    """Plate → vehicle. A plate absent here was not found in the vehicle register."""
    exemptions: Mapping[str, tuple[Exemption, ...]]
    """Plate → the exemptions relevant at the lookup instant; absent = none."""


@dataclass(frozen=True, slots=True)
class CaseClaim:
    """The answer to "does this violating passage open a new case?" (R35)."""

    plate: str
    scope: str
    """The claim's scope: the zone's id, or the access-window area's id (`ClaimRequest`)."""
    day: date
    """The local day the case's sanction interval started."""
    first: bool
    """True when this call opened the case (a new sanction); False for a later sighting
    within the same sanction interval."""

    @property
    def case_key(self) -> str:
        """`model.case_key` of the case: the same for every passage of one sanction."""
        return case_key(self.plate, self.scope, self.day)


@dataclass(frozen=True, slots=True)
class DayPermitUse:
    """The result of counting one day permit day (R22: at most N per plate, municipality
    and calendar year)."""

    day_count: int
    """Distinct permit days used in this municipality-year after this call."""
    consumed: bool
    """This call added the day."""
    refused: bool
    """The day was new but the yearly maximum had already been reached."""


class ClaimRequest(NamedTuple):
    """One case claim of a batch (`claim_cases`): a tuple, so a plain 5-tuple still works."""

    plate: str
    scope: str
    """What the case is about: the zone's id for a ZE-zone case, the access-window area's
    id for a window case (`model.case_key`)."""
    at: datetime
    """The violating passage's instant."""
    interval_hours: int
    """The sanction interval (R35): 24 is the local calendar day; others roll from the
    first violation."""
    opener: str = ""
    """The passage id: makes the claim idempotent for the passage that opened the case."""


class RegisterUnavailable(Exception):  # noqa: N818 (the name the stream codes against)
    """The backing store cannot be reached (connection refused, timeout, failover).

    Raised instead of any answer, so that callers do not decide and retry later. Messages
    never contain plate text.
    """


class Register(Protocol):
    """The register, synchronous (the review app, the plate check, tools, tests). Each call
    is one round trip and raises `RegisterUnavailable` rather than answer during an outage."""

    def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView:
        """Vehicles and exemptions (those relevant at `at`; all when None) for a batch, in one
        round trip."""
        ...

    def vehicles(self, plates: Sequence[str]) -> dict[str, Vehicle]:
        """`lookup`'s vehicles only."""
        ...

    def exemptions(
        self, plates: Sequence[str], at: datetime | None = None
    ) -> dict[str, tuple[Exemption, ...]]:
        """`lookup`'s exemptions only."""
        ...

    def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        """Open or join the sanction case (R35) of each violation of a batch, in request
        order. A request's `opener` (the passage id) makes its claim idempotent: the passage
        that opened a case gets `first=True` again on a re-send."""
        ...

    def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        """Count local day `day` as a day-permit day of this plate in this municipality
        (R22), atomically across workers."""
        ...

    def day_permits_used(self, plate: str, municipality: str, year: int) -> int:
        """Distinct day-permit days of this plate in this municipality-year."""
        ...


class AsyncRegister(Protocol):
    """What the stream asks of the register, for asyncio code: `Register.lookup`,
    `Register.claim_cases` and `Register.use_day_permit`, awaited (documented there once).
    Loads, grants and statistics are the synchronous register's work."""

    async def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView: ...

    async def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]: ...

    async def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse: ...
