"""How a passage's two decisions make one case: the ZE-zone rules and an access window.

A passage into an access-window area is decided twice, by the ZE rules (`enforcement.law`)
and by the area's windows (`enforcement.windows`). This is the policy that combines them into
what a case carries. Pure, like the law.
"""

from __future__ import annotations

from dataclasses import dataclass

from enforcement.model import Decision, Outcome, RuleHit, Sanction, SanctionKind
from enforcement.windows import WindowDecision

_QUEUED = (Outcome.VIOLATION, Outcome.UNDETERMINED)


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What a passage's case carries: its outcome, every rule it broke, and the sanction."""

    outcome: Outcome
    rules: tuple[RuleHit, ...]
    sanction: Sanction

    @property
    def queued(self) -> bool:
        """True when a human reviews it; any other passage leaves only counters."""
        return self.outcome in _QUEUED


def combine(decision: Decision, window: WindowDecision | None = None) -> CaseOutcome:
    """The case outcome of a ZE decision and, for a window area, its window decision.

    When both rule sets were broken, the case carries both; when only the window rules were,
    the case is the window's, and since window fines are the municipality's (APV) the amount
    is left to the fine authority."""
    own = CaseOutcome(decision.outcome, decision.rules, decision.sanction)
    if window is None or window.outcome not in _QUEUED:
        return own
    if own.queued:
        return CaseOutcome(own.outcome, own.rules + window.rules, own.sanction)
    kind = SanctionKind.FINE if window.outcome is Outcome.VIOLATION else SanctionKind.NONE
    return CaseOutcome(window.outcome, window.rules, Sanction(kind=kind))
