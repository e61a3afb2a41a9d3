"""The vote over a track's reads: per character, confidence-weighted, length decided first.

Pure: reads in, one `Vote` out. Why this shape is in `edge.tracking`'s docstring.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from edge.recognition import Read


@dataclass(frozen=True, slots=True)
class Vote:
    text: str
    char_confidences: tuple[float, ...]
    confidence: float
    frames: int
    """Reads that voted (those of the winning length)."""
    alternatives: tuple[tuple[str, float], ...]
    country: str | None


def current_text(reads: Sequence[Read]) -> str:
    """The text the vote would choose now ("" without reads); used for association."""
    result = vote(reads)
    return result.text if result else ""


def vote(reads: Sequence[Read], max_alternatives: int = 3) -> Vote | None:
    """Per-character, confidence-weighted vote; None when no read has any text."""
    usable = [r for r in reads if r.text and len(r.char_confidences) == len(r.text)]
    if not usable:
        return None
    by_length: dict[int, list[Read]] = defaultdict(list)
    for read in usable:
        by_length[len(read.text)].append(read)
    # The length most reads agree on; ties go to the longer (a plate partly hidden or cut
    # by the frame edge reads short, one read never adds characters), then to the larger
    # summed confidence.
    length = max(
        by_length,
        key=lambda n: (len(by_length[n]), n, sum(r.confidence for r in by_length[n])),
    )
    group = by_length[length]
    chars: list[str] = []
    supports: list[float] = []
    for i in range(length):
        tally: dict[str, float] = defaultdict(float)
        for read in group:
            tally[read.text[i]] += read.char_confidences[i]
        winner = max(sorted(tally), key=lambda c: tally[c])
        chars.append(winner)
        supports.append(round(tally[winner] / len(group), 4))
    agreement = len(group) / len(usable)
    confidence = round(min(supports) * agreement, 4)
    text = "".join(chars)
    scores: dict[str, float] = defaultdict(float)
    for read in usable:
        scores[read.text] += read.confidence / len(usable)
    alternatives = tuple(
        (t, round(min(1.0, s), 4))
        for t, s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        if t != text
    )[:max_alternatives]
    countries = Counter(r.country for r in usable if r.country)
    country = countries.most_common(1)[0][0] if countries else None
    return Vote(text, tuple(supports), confidence, len(group), alternatives, country)
