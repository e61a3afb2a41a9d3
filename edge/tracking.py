"""From plate boxes per frame to one decision per vehicle: tracks, voting, correction, direction.

Pure (no I/O, no clocks, no models): the agent feeds it boxes with the frame's capture time
and the reads it asked for, and collects finished tracks. That is what makes the vote and
the "exactly one passage per vehicle" rule unit-testable frame by frame.

Why each choice:
- Association is greedy on a score of box overlap plus centre closeness (a fast vehicle's
  plate can move more than its own width between processed frames, so IoU alone splits
  tracks), plus text similarity when both sides have a read (two plates side by side).
- A track is read when it starts and then once per N frames: reads of the same plate a
  frame apart are highly correlated, so reading every frame costs CPU and adds little.
- The vote is per character and confidence-weighted over reads of the winning length
  (length is decided first, by how many reads agree on it), so one blurred frame cannot
  outvote several sharp ones, and a read that dropped or added a character does not shift
  every position after it.
- Overall confidence is the weakest character's support times the share of reads that
  agreed on the length: a plate is only as certain as its least certain character.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from edge.recognition import Box, Read
from enforcement.plates import Correction, check, correct, normalise

P = TypeVar("P")
Direction = Literal["entering", "leaving", "unknown"]
PointF = tuple[float, float]


@dataclass(frozen=True, slots=True)
class TrackerParams:
    ocr_every_n_frames: int = 3
    timeout_s: float = 0.6
    min_track_frames: int = 2
    min_iou: float = 0.05
    max_center_jump: float = 2.0
    """Gate for centre distance, in diagonals of the track's last box."""


@dataclass(frozen=True, slots=True)
class ReadRequest:
    track_id: int
    box: Box


@dataclass(slots=True)
class Track(Generic[P]):
    track_id: int
    first_center: PointF
    last_center: PointF
    last_box: Box
    first_seen: datetime
    last_seen: datetime
    frames_seen: int = 1
    frames_since_read: int = 0
    reads: list[Read] = field(default_factory=list)
    best_confidence: float = -1.0
    best_at: datetime | None = None
    best_box: Box | None = None
    best_payload: P | None = None


@dataclass(frozen=True, slots=True)
class FinishedTrack(Generic[P]):
    track_id: int
    reads: tuple[Read, ...]
    frames_seen: int
    first_center: PointF
    last_center: PointF
    first_seen: datetime
    last_seen: datetime
    best_at: datetime | None
    best_box: Box | None
    best_payload: P | None

    @property
    def is_noise(self) -> bool:
        return not any(r.text for r in self.reads)


def text_similarity(a: str, b: str) -> float:
    """1 for equal texts, 0 for nothing in common (normalised edit distance)."""
    if not a and not b:
        return 1.0
    from edge.recognition import edit_distance

    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def association_score(
    track_box: Box, box: Box, params: TrackerParams, texts: tuple[str, str] | None = None
) -> float | None:
    """How well `box` continues a track whose last box is `track_box`; None = not at all."""
    iou = track_box.iou(box)
    (tx, ty), (bx, by) = track_box.center, box.center
    diagonal = max(1.0, math.hypot(track_box.width, track_box.height))
    jump = math.hypot(tx - bx, ty - by) / diagonal
    if iou < params.min_iou and jump > params.max_center_jump:
        return None
    score = iou + 0.5 * max(0.0, 1.0 - jump / params.max_center_jump)
    if texts is not None and texts[0] and texts[1]:
        score += 0.5 * (text_similarity(*texts) - 0.5)
    return score


class Tracker(Generic[P]):
    """Tracks of one camera. `P` is the agent's evidence payload kept for the best read."""

    def __init__(self, params: TrackerParams, frame_size: tuple[int, int] = (1, 1)) -> None:
        self.params = params
        self.frame_size = frame_size
        self._tracks: dict[int, Track[P]] = {}
        self._finished: list[FinishedTrack[P]] = []
        self._next_id = 1

    @property
    def active(self) -> int:
        return len(self._tracks)

    def _norm(self, box: Box) -> PointF:
        w, h = self.frame_size
        cx, cy = box.center
        return (cx / w, cy / h)

    def update(
        self, at: datetime, boxes: Sequence[Box], texts: Sequence[str | None] | None = None
    ) -> list[ReadRequest]:
        """Advance to the frame captured `at`; return the boxes to read in this frame."""
        self.expire(at)
        candidates: list[tuple[float, int, int]] = []
        for track_id, track in self._tracks.items():
            voted = current_text(track.reads) if texts is not None else ""
            for index, box in enumerate(boxes):
                text = texts[index] if texts is not None else None
                pair = (voted, text) if voted and text else None
                score = association_score(track.last_box, box, self.params, pair)
                if score is not None:
                    candidates.append((score, track_id, index))
        candidates.sort(key=lambda c: -c[0])
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        requests: list[ReadRequest] = []
        for _, track_id, index in candidates:
            if track_id in used_tracks or index in used_boxes:
                continue
            used_tracks.add(track_id)
            used_boxes.add(index)
            track = self._tracks[track_id]
            box = boxes[index]
            track.last_box = box
            track.last_center = self._norm(box)
            track.last_seen = at
            track.frames_seen += 1
            track.frames_since_read += 1
            if track.frames_since_read >= self.params.ocr_every_n_frames:
                track.frames_since_read = 0
                requests.append(ReadRequest(track_id, box))
        for index, box in enumerate(boxes):
            if index in used_boxes:
                continue
            track_id = self._next_id
            self._next_id += 1
            center = self._norm(box)
            self._tracks[track_id] = Track(track_id, center, center, box, at, at)
            requests.append(ReadRequest(track_id, box))
        return requests

    def add_read(self, track_id: int, read: Read, at: datetime, box: Box, payload: P) -> None:
        """Record a read; the most confident one keeps its frame as the passage's evidence."""
        track = self._tracks.get(track_id)
        if track is None or not read.text:
            return
        track.reads.append(read)
        if read.confidence > track.best_confidence:
            track.best_confidence = read.confidence
            track.best_at = at
            track.best_box = box
            track.best_payload = payload

    def expire(self, now: datetime) -> None:
        """End every track not seen for the timeout (it left the region of interest)."""
        for track_id in [
            t.track_id
            for t in self._tracks.values()
            if (now - t.last_seen).total_seconds() > self.params.timeout_s
        ]:
            self._end(track_id)

    def end_all(self) -> None:
        """End every track (end of stream, shutdown): nothing in flight is lost."""
        for track_id in list(self._tracks):
            self._end(track_id)

    def _end(self, track_id: int) -> None:
        t = self._tracks.pop(track_id)
        if t.frames_seen < self.params.min_track_frames and not t.reads:
            return  # a one-frame blip that never read as anything: not a vehicle
        self._finished.append(
            FinishedTrack(
                t.track_id,
                tuple(t.reads),
                t.frames_seen,
                t.first_center,
                t.last_center,
                t.first_seen,
                t.last_seen,
                t.best_at,
                t.best_box,
                t.best_payload,
            )
        )

    def finished(self) -> list[FinishedTrack[P]]:
        """Tracks that ended since the last call (each exactly once)."""
        done, self._finished = self._finished, []
        return [d for d in done if d.frames_seen >= self.params.min_track_frames]


# -- voting -------------------------------------------------------------------------------------
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
    # The length most reads agree on; ties go to the larger summed confidence.
    length = max(
        by_length, key=lambda n: (len(by_length[n]), sum(r.confidence for r in by_length[n]))
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


# -- direction ----------------------------------------------------------------------------------
def side_of_line(point: PointF, a: PointF, b: PointF) -> Literal["left", "right", "on"]:
    """Which side of the line a->b `point` lies on, in image coordinates (y down)."""
    cross = (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])
    if abs(cross) < 1e-9:
        return "on"
    return "right" if cross > 0 else "left"


def direction(
    first: PointF, last: PointF, line: tuple[PointF, PointF, Literal["left", "right"]] | None
) -> Direction:
    """entering / leaving when the track crossed the line, else unknown (never guessed)."""
    if line is None:
        return "unknown"
    a, b, inside = line
    start, end = side_of_line(first, a, b), side_of_line(last, a, b)
    if "on" in (start, end) or start == end:
        return "unknown"
    return "entering" if end == inside else "leaving"


# -- the decision of one finished track --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    plate: str
    plate_raw: str
    correction: Correction
    confidence: float
    char_confidences: tuple[float, ...]
    alternatives: tuple[tuple[str, float], ...]
    frames: int
    low_confidence: bool
    direction: Direction
    country: str | None


def decide(
    track: FinishedTrack[P],
    min_vote_confidence: float,
    line: tuple[PointF, PointF, Literal["left", "right"]] | None = None,
) -> Verdict | None:
    """Vote, correct by the Dutch sidecode rules and take the direction; None without reads.

    The correction only applies to plates not known to be foreign. It is recorded (plate_raw
    keeps the voted text) and an unresolved tie between corrections marks the passage
    low-confidence rather than guessing.
    """
    result = vote(track.reads)
    if result is None:
        return None
    raw = normalise(result.text)
    if not raw:
        return None
    if result.country in (None, "NL"):
        correction = correct(raw)
    else:
        correction = Correction(raw=raw, plate=raw, changed=False, changes=(), candidates=())
    plate = correction.plate[:12]
    unresolved = bool(correction.candidates) and not correction.changed
    low = result.confidence < min_vote_confidence or unresolved
    if result.country == "NL" and not check(plate).valid and not unresolved:
        low = True  # a Dutch plate that fits no sidecode is doubt, whatever the OCR says
    alternatives = tuple((normalise(t), c) for t, c in result.alternatives if normalise(t))
    alternatives = tuple((t[:12], c) for t, c in alternatives if t != plate)
    return Verdict(
        plate=plate,
        plate_raw=result.text,
        correction=correction,
        confidence=result.confidence,
        char_confidences=result.char_confidences,
        alternatives=alternatives,
        frames=result.frames,
        low_confidence=low,
        direction=direction(track.first_center, track.last_center, line),
        country=result.country,
    )
