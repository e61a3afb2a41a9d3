"""The one place the desk writes to the register: a grant goes into the same exemption store
as the loaded files and the national desk's grants (`zes register load-exemptions --add`
writes there the same way), so the stream, the plate check and the case re-check honour it
at their next lookup.

Kept to one small function so that a change of the register's writing API is one edit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from enforcement.model import Exemption

#: The `note` every grant of the desk carries: its source, beside the issuer reference
#: `desk/<municipality>/<application id>` (see `enforcement.exemptions.desk.grant_of`).
SOURCE_NOTE = "source=desk"


class ExemptionWriter(Protocol):
    """What the desk needs of the register to write: the grant call of `load-exemptions
    --add` (idempotent; the same issuer reference replaces the earlier record)."""

    def add_exemptions(self, exemptions: Iterable[Exemption]) -> int: ...


def write_grants(register: ExemptionWriter, exemptions: Sequence[Exemption]) -> None:
    """Write granted exemptions to the register at once. Raises `RegisterUnavailable` when
    the register cannot be reached (the caller keeps the application undecided)."""
    register.add_exemptions(exemptions)
