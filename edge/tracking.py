"""From plate boxes per frame to one reading per vehicle: tracks, voting, correction, direction.

Pure (no I/O, no clocks, no models): the agent feeds it boxes with the frame's *frame time*
(seconds on the capture's monotonic clock, never the wall clock, which NTP can step by
minutes) and the reads it asked for, and collects finished tracks. That is what makes the
vote and the "exactly one passage per vehicle" rule unit-testable frame by frame.

Why each choice:
- Association is greedy on a score of box overlap plus centre closeness to where the track
  should be now (its last box moved on by its velocity over the gap: a plate reappearing
  after an occlusion is far from where it was hidden), plus text similarity when both sides
  have a read (two plates side by side).
- A track ends after `timeout_s` of frame time without a sighting; the default (2 s) outlasts
  a 1.5 s occlusion by a passing bus.
- A track is read when it starts and then once per N frames, at most `max_reads` times:
  reads of the same plate a frame apart are highly correlated, and a vehicle standing in
  view for minutes must not cost OCR all that time.
- The vote is per character and confidence-weighted over reads of the winning length
  (length is decided first, by how many reads agree on it), so one blurred frame cannot
  outvote several sharp ones, and a read that dropped or added a character does not shift
  every position after it.
- Overall confidence is the weakest character's support times the share of reads that
  agreed on the length: a plate is only as certain as its least certain character.
- A track that neither crossed the entry line nor travelled, and showed no motion of its own
  (or stood for `stationary_s`), is a vehicle standing in view - parked - and no passage; its
  place is remembered, so a later fragment of it at the same place is none either.
- One vehicle, one direction: a track that ends while an open track reads as the same plate
  is a fragment of that vehicle (often one frame at its first appearance, before the far
  plate was found again) and is absorbed into it instead of ending alone: the open track
  takes over its reads and its first position, so the passage's direction is that of the
  whole vehicle's path across the line. Measured on the issue-27 day clip, all ten wrong
  directions were such one-frame fragments published alone with direction `unknown`.
- Publication within seconds (`due_early`): once the track crossed the line (or has been in
  view `delay_s`) and its last reads agree with the vote, not when it ends, which is the
  track timeout after the vehicle left (about 5 s after it appeared).

It is one module because the tracker is one state machine: association, fragments,
continuations, parked places and early publication all change the same open tracks in one
frame's update, and each rule above is tested against the others frame by frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from edge.direction import Line, PointF, crossed, direction
from edge.plate_text import text_similarity
from edge.recognition import Box, Read
from edge.voting import current_text, vote
from enforcement.plate_formats import MAX_PLATE_LENGTH, MIN_PLATE_LENGTH, correct_read
from enforcement.plates import Correction, fold_lookalikes, normalise
from enforcement.records import Direction

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class TrackerParams:
    ocr_every_n_frames: int = 3
    timeout_s: float = 2.0
    """Frame time without a sighting after which a track ends (survives a 1.5 s occlusion)."""
    min_track_frames: int = 2
    """An unread track seen in fewer frames is noise (a read track is kept even at 1 frame)."""
    min_iou: float = 0.05
    max_center_jump: float = 1.2
    """Gate for centre distance, in diagonals of the track's box."""
    recent_s: float = 0.5
    """Within this gap a box may also continue a track from its last position unmoved."""
    max_reads: int = 12
    """Reads per track at most (a vehicle standing in view is not read for minutes)."""
    min_travel: float = 1.0
    """A track whose centre moved less than this many plate widths in all did not travel."""
    stationary_s: float = 6.0
    """A track that stood this long without crossing or travelling is parked."""
    stationary_memory_s: float = 300.0
    """How long the place of a parked vehicle is remembered after it was last seen there."""
    continuation_hold_s: float = 3.0
    """A track that ended read but without a direction (it neither crossed the line nor
    moved across it: often one frame at the vehicle's first sighting) waits this long after
    its end for a continuation of the same plate before it ends alone. Measured on the side-
    by-side clip: the vehicle was found again 2.2 s after its one-frame first sighting."""


@dataclass(frozen=True, slots=True)
class ReadRequest:
    track_id: int
    box: Box


@dataclass(slots=True)
class Track(Generic[P]):
    track_id: int
    first_center: PointF
    last_center: PointF
    first_box: Box
    last_box: Box
    first_seen: float
    last_seen: float
    frames_seen: int = 1
    frames_since_read: int = 0
    velocity: PointF = (0.0, 0.0)
    """Box centre velocity in pixels per second of frame time (smoothed)."""
    travel: float = 0.0
    """Largest distance of the centre from its first position, in plate widths."""
    moving_frames: int = 0
    still_frames: int = 0
    at_parked_place: bool = False
    reads: list[Read] = field(default_factory=list)
    best_confidence: float = -1.0
    best_at: float | None = None
    best_box: Box | None = None
    best_payload: P | None = None
    published: bool = False
    previous: tuple[Box, PointF, float] | None = None
    """Last box, centre and time before the latest sighting (to undo a wrong association)."""


@dataclass(frozen=True, slots=True)
class FinishedTrack(Generic[P]):
    track_id: int
    reads: tuple[Read, ...]
    frames_seen: int
    first_center: PointF
    last_center: PointF
    first_seen: float
    last_seen: float
    best_at: float | None
    best_box: Box | None
    best_payload: P | None
    stationary: bool = False
    """Stood in view without crossing or travelling (parked, or a fragment at a parked place)."""
    published: bool = False
    """Already published early (max_prediction_delay_s): the end gives no second passage."""

    @property
    def is_noise(self) -> bool:
        return not any(r.text for r in self.reads)


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


def _predicted(track: Track[P], at: float) -> Box:
    """The track's last box moved on by its velocity over the gap (at most 1.5 s of it)."""
    dt = min(1.5, max(0.0, at - track.last_seen))
    vx, vy = track.velocity
    return track.last_box.shifted(round(vx * dt), round(vy * dt))


class Tracker(Generic[P]):
    """Tracks of one camera. `P` is the agent's evidence payload kept for the best read."""

    def __init__(
        self, params: TrackerParams, frame_size: tuple[int, int] = (1, 1), line: Line | None = None
    ) -> None:
        self.params = params
        self.frame_size = frame_size
        self.line = line
        """The entry line in frame fractions: a track that crossed it never stood still."""
        self._tracks: dict[int, Track[P]] = {}
        self._finished: list[FinishedTrack[P]] = []
        self._parked: list[tuple[Box, float]] = []
        self._held: dict[int, tuple[Track[P], float]] = {}
        """Ended tracks without a direction, waiting for a continuation (until frame time)."""
        self._next_id = 1

    @property
    def active(self) -> int:
        return len(self._tracks)

    def predicted_boxes(self, at: float) -> list[Box]:
        """Where each open track's plate should be at frame time `at` (detection windows)."""
        return [_predicted(t, at) for t in self._tracks.values()]

    def _norm(self, box: Box) -> PointF:
        w, h = self.frame_size
        cx, cy = box.center
        return (cx / w, cy / h)

    def update(
        self,
        at: float,
        boxes: Sequence[Box],
        texts: Sequence[str | None] | None = None,
        moving: Sequence[bool | None] | None = None,
    ) -> list[ReadRequest]:
        """Advance to the frame of frame time `at`; return the boxes to read in this frame.

        `moving[i]` says whether the image moved around box i (None: not known, e.g. the
        first frame); it tells a parked vehicle from one that drives."""
        self.expire(at)
        candidates: list[tuple[float, int, int]] = []
        for track_id, track in self._tracks.items():
            voted = current_text(track.reads) if texts is not None else ""
            expected = _predicted(track, at)
            for index, box in enumerate(boxes):
                text = texts[index] if texts is not None else None
                pair = (voted, text) if voted and text else None
                # Near where the track was, for a short gap (a vehicle that stops); near
                # where it should be by now, for any gap (one that drove on while hidden).
                recent = at - track.last_seen <= self.params.recent_s
                scores = [
                    s
                    for s in (
                        association_score(track.last_box, box, self.params, pair)
                        if recent
                        else None,
                        association_score(expected, box, self.params, pair),
                    )
                    if s is not None
                ]
                if scores:
                    candidates.append((max(scores), track_id, index))
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
            self._advance(track, box, at, moving[index] if moving is not None else None)
            track.frames_since_read += 1
            if (
                track.frames_since_read >= self.params.ocr_every_n_frames
                and len(track.reads) < self.params.max_reads
            ):
                track.frames_since_read = 0
                requests.append(ReadRequest(track_id, box))
        for index, box in enumerate(boxes):
            if index in used_boxes:
                continue
            track_id = self._next_id
            self._next_id += 1
            center = self._norm(box)
            new: Track[P] = Track(track_id, center, center, box, box, at, at)
            new.at_parked_place = any(box.iou(b) > 0.3 for b, _ in self._parked)
            self._count_motion(new, moving[index] if moving is not None else None)
            self._tracks[track_id] = new
            requests.append(ReadRequest(track_id, box))
        return requests

    @staticmethod
    def _count_motion(track: Track[P], moving: bool | None) -> None:
        if moving is True:
            track.moving_frames += 1
        elif moving is False:
            track.still_frames += 1

    def _advance(self, track: Track[P], box: Box, at: float, moving: bool | None) -> None:
        dt = at - track.last_seen
        (lx, ly), (bx, by) = track.last_box.center, box.center
        if dt > 0:
            vx, vy = (bx - lx) / dt, (by - ly) / dt
            ox, oy = track.velocity
            track.velocity = (0.5 * ox + 0.5 * vx, 0.5 * oy + 0.5 * vy)
        fx, fy = track.first_box.center
        width = max(1.0, float(max(track.first_box.width, box.width)))
        track.travel = max(track.travel, math.hypot(bx - fx, by - fy) / width)
        track.previous = (track.last_box, track.last_center, track.last_seen)
        track.last_box = box
        track.last_center = self._norm(box)
        track.last_seen = at
        track.frames_seen += 1
        self._count_motion(track, moving)

    def add_read(self, track_id: int, read: Read, at: float, box: Box, payload: P) -> None:
        """Record a read; the most confident one keeps its frame as the passage's evidence."""
        track = self._tracks.get(track_id)
        if track is None or not read.text:
            return
        if not track.reads and track.frames_seen == 1:
            track = self._rejoin(track, read) or track
        elif self._another_plate(track, read):
            track = self._split(track, read, at, box)
        track.reads.append(read)
        if self._held:
            self._resume_held(track)
        if read.confidence > track.best_confidence:
            track.best_confidence = read.confidence
            track.best_at = at
            track.best_box = box
            track.best_payload = payload

    @staticmethod
    def _another_plate(track: Track[P], read: Read) -> bool:
        """The track's reads agree on a plate and this read is clearly not it: the box was
        another vehicle's (one leaving where one entering was a moment ago)."""
        if len(track.reads) < 2 or track.previous is None:
            return False
        voted = current_text(track.reads)
        # 3 of 7 characters differ (0.57): another plate (the dev set's plates share their
        # first letters, RK...); 2 of 6 (0.67) may still be a misread of this one. A shorter
        # read that matches a stretch of the vote but for one character is a part of this
        # plate (cut, half hidden: "D0AG" of RK3OOAG in dense traffic), not another one;
        # FWE50 after WA56660 is another.
        if len(voted) < MIN_PLATE_LENGTH or _is_part(read.text, voted):
            return False
        return text_similarity(voted, read.text) < 0.6

    def _split(self, track: Track[P], read: Read, at: float, box: Box) -> Track[P]:
        """Give the box back and end the track where it was (its vehicle left that place
        to another); the box starts a new track."""
        assert track.previous is not None
        track.last_box, track.last_center, track.last_seen = track.previous
        track.frames_seen -= 1
        track.previous = None
        self._end(track.track_id)
        center = self._norm(box)
        new: Track[P] = Track(self._next_id, center, center, box, box, at, at)
        self._next_id += 1
        self._tracks[new.track_id] = new
        return new

    def _rejoin(self, new: Track[P], read: Read) -> Track[P] | None:
        """A track born this frame whose first read is (nearly) the vote of an open track
        not seen this frame is that track, found again after a gap too long for the box
        gates (a small far plate moves many of its own widths in a second): merge it back."""
        for other in self._tracks.values():
            if other is new or not other.reads or other.last_seen >= new.first_seen:
                continue
            voted = current_text(other.reads)
            # The same plate (look-alikes folded) or a part of it, not merely a similar one:
            # in dense two-way traffic RK300AS appeared while RK3OOAG's track was unseen
            # for a frame and, rejoined on 6 of 7 characters, took that track over. A
            # misread first read starts a track of its own, which `_continuation` joins.
            partial = len(read.text) >= MIN_PLATE_LENGTH and read.text in voted
            same = fold_lookalikes(voted) == fold_lookalikes(read.text)
            if len(voted) >= MIN_PLATE_LENGTH and (partial or same):
                del self._tracks[new.track_id]
                self._advance(other, new.last_box, new.last_seen, None)
                other.moving_frames += new.moving_frames
                other.still_frames += new.still_frames
                return other
        return None

    def _resume_held(self, track: Track[P]) -> None:
        """Absorb into `track` every held track it continues (same plate, began after)."""
        voted = current_text(track.reads)
        for track_id, (held, _) in list(self._held.items()):
            if track.first_seen <= held.last_seen or self._behind(held, track):
                continue
            if _plate_similarity(voted, current_text(held.reads)) >= 0.8:
                del self._held[track_id]
                _absorb(track, held)

    def expire(self, now: float) -> None:
        """End every track not seen for the timeout (it left the region of interest), and
        every held track whose wait for a continuation is over."""
        for track_id in [
            t.track_id for t in self._tracks.values() if now - t.last_seen > self.params.timeout_s
        ]:
            self._end(track_id)
        for track_id in [k for k, (_, until) in self._held.items() if now > until]:
            self._finish(self._held.pop(track_id)[0])
        self._parked = [
            (b, t) for b, t in self._parked if now - t <= self.params.stationary_memory_s
        ]

    def end_all(self) -> None:
        """End every track (end of stream, shutdown): nothing in flight is lost."""
        for track_id in list(self._tracks):
            self._end(track_id)
        for held, _ in self._held.values():
            self._finish(held)
        self._held.clear()

    def _is_stationary(self, t: Track[P], line: Line | None) -> bool:
        went_across = line is not None and crossed(t.first_center, t.last_center, line)
        if went_across or t.travel >= self.params.min_travel:
            return False
        if t.at_parked_place or t.last_seen - t.first_seen >= self.params.stationary_s:
            return True
        # No motion of its own in most frames where that was known: it stands there.
        known = t.moving_frames + t.still_frames
        return known > 0 and t.moving_frames * 2 < known

    def _snapshot(self, t: Track[P]) -> FinishedTrack[P]:
        return FinishedTrack(
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
            stationary=self._is_stationary(t, self.line),
            published=t.published,
        )

    def _end(self, track_id: int) -> None:
        t = self._tracks.pop(track_id)
        if t.frames_seen < self.params.min_track_frames and not t.reads:
            return  # a one-frame blip that never read as anything: not a vehicle
        continuation = self._continuation(t)
        if continuation is not None:
            _absorb(continuation, t)
            return
        if self._waits_for_continuation(t):
            until = t.last_seen + self.params.timeout_s + self.params.continuation_hold_s
            self._held[t.track_id] = (t, until)
            return
        self._finish(t)

    def _waits_for_continuation(self, t: Track[P]) -> bool:
        """Read as a plate, not yet published, and without a direction of its own."""
        if t.published or self.line is None or len(current_text(t.reads)) < MIN_PLATE_LENGTH:
            return False
        return direction(t.first_center, t.last_center, self.line) == "unknown"

    def _finish(self, t: Track[P]) -> None:
        done = self._snapshot(t)
        if done.stationary:
            self._parked.append((t.last_box, t.last_seen))
        self._finished.append(done)

    def _continuation(self, ended: Track[P]) -> Track[P] | None:
        """The open track that reads as the same plate as `ended` and began after it was
        last seen (None: none, or `ended` has no plate-length vote): the same vehicle,
        found again under another track. Two tracks in view at the same time are two
        vehicles, however alike their plates (the dev set's RK3OOAG and RK300AS)."""
        voted = current_text(ended.reads) if ended.reads else ""
        if len(voted) < MIN_PLATE_LENGTH:
            return None
        best: tuple[float, Track[P]] | None = None
        for other in self._tracks.values():
            if not other.reads or other.first_seen <= ended.last_seen:
                continue
            if self._behind(ended, other):
                continue
            similarity = _plate_similarity(voted, current_text(other.reads))
            if similarity >= 0.8 and (best is None or similarity > best[0]):
                best = (similarity, other)
        return best[1] if best else None

    def _behind(self, ended: Track[P], later: Track[P]) -> bool:
        """Did `later` first appear behind where `ended` was last seen, against the way
        `ended` travelled? Then it is the vehicle behind, not `ended` found again: a vehicle
        hidden by a bus or lost for a moment reappears where it was or further on. Measured
        on the 25 fps queue clip: RK300AS appeared 0.54 frame heights behind the queued
        RK3OOAG (its track lost while it stood) and, 6 of 7 characters alike, was absorbed
        into it, so it gave no passage; every true continuation in the occlusion clip
        reappeared 0.2-0.3 frame heights ahead. Two plate heights of slack for jitter."""
        dx = ended.last_center[0] - ended.first_center[0]
        dy = ended.last_center[1] - ended.first_center[1]
        w, h = self.frame_size
        length = math.hypot(dx * w, dy * h)
        if length < 2 * ended.last_box.height:
            return False  # no way of travel to be behind on
        ahead = (
            (later.first_center[0] - ended.last_center[0]) * w * dx * w
            + (later.first_center[1] - ended.last_center[1]) * h * dy * h
        ) / length
        return ahead < -2 * ended.last_box.height

    def finished(self) -> list[FinishedTrack[P]]:
        """Tracks that ended since the last call (each exactly once)."""
        done, self._finished = self._finished, []
        return [d for d in done if d.reads or d.frames_seen >= self.params.min_track_frames]

    def due_early(
        self, now: float, delay_s: float | None, stable_reads: int = 3
    ) -> list[FinishedTrack[P]]:
        """Open tracks to publish now: crossed the entry line, or in view for `delay_s` or
        more (None: only crossing counts), with a stable vote (`_stable`), and not standing.
        Each only once; the track goes on and its end gives no second passage."""
        due = []
        for t in self._tracks.values():
            if t.published or len(t.reads) < stable_reads:
                continue
            across = self.line is not None and crossed(t.first_center, t.last_center, self.line)
            if not across and (delay_s is None or now - t.first_seen < delay_s):
                continue
            if not _stable(t.reads, stable_reads):
                continue
            snapshot = self._snapshot(t)
            if snapshot.stationary:
                continue
            t.published = True
            due.append(snapshot)
        return due


def _is_part(text: str, plate: str) -> bool:
    """`text` is shorter than `plate` and equals a stretch of it but for one character."""
    n = len(text)
    if not 0 < n < len(plate):
        return False
    return any(
        sum(a != b for a, b in zip(text, plate[i : i + n], strict=True)) <= 1
        for i in range(len(plate) - n + 1)
    )


def _stable(reads: Sequence[Read], last: int) -> bool:
    """The vote will not change: at least `last` reads, most of the last `last` equal to the
    vote, and the vote the same without the latest read. Measured on the occlusion clip: a
    read cut by the bus ("RK341" among "RK346AL") kept the stricter "all of the last three
    equal" from ever holding, so every passage waited for its track's end (p50 5.05 s)."""
    if len(reads) < last:
        return False
    voted = current_text(reads)
    agreeing = sum(r.text == voted for r in reads[-last:])
    return bool(voted) and agreeing * 2 > last and current_text(reads[:-1]) == voted


def _plate_similarity(a: str, b: str) -> float:
    """How alike two voted plates are, look-alikes folded (1: the same plate)."""
    if not a or not b:
        return 0.0
    fa, fb = fold_lookalikes(a), fold_lookalikes(b)
    if fa == fb:
        return 1.0
    if len(fa) >= MIN_PLATE_LENGTH and len(fb) >= MIN_PLATE_LENGTH and (fa in fb or fb in fa):
        return 0.9  # one read cut by the frame edge or an occluder
    return text_similarity(fa, fb)


def _absorb(into: Track[P], part: Track[P]) -> None:
    """`part`, a fragment of the vehicle `into` tracks, merged into it: the earlier first
    sighting, all reads (in time order), the best read, the frame and motion counts."""
    if part.first_seen < into.first_seen:
        into.first_seen, into.first_center, into.first_box = (
            part.first_seen, part.first_center, part.first_box,
        )  # fmt: skip
        width = max(1.0, float(max(part.first_box.width, into.last_box.width)))
        (fx, fy), (lx, ly) = part.first_box.center, into.last_box.center
        into.travel = max(into.travel, part.travel, math.hypot(lx - fx, ly - fy) / width)
        into.reads = [*part.reads, *into.reads]
    else:
        into.reads = [*into.reads, *part.reads]
    into.frames_seen += part.frames_seen
    into.moving_frames += part.moving_frames
    into.still_frames += part.still_frames
    into.published = into.published or part.published
    if part.best_confidence > into.best_confidence:
        into.best_confidence = part.best_confidence
        into.best_at, into.best_box, into.best_payload = (
            part.best_at, part.best_box, part.best_payload,
        )  # fmt: skip


# -- what one finished track reads as --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrackReading:
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
    plate_format: str | None = None
    """The format the published plate fits; None: none known (then low_confidence)."""


def read_track(
    track: FinishedTrack[P],
    min_vote_confidence: float,
    line: Line | None = None,
    max_char_confidence: float = 0.9,
) -> TrackReading | None:
    """Vote, correct by the policy of `enforcement.plate_formats` and take the direction;
    None without a read of plausible length.

    Reads shorter or longer than a plate can be do not vote. A correction is recorded
    (plate_raw keeps the voted text); an unresolved tie between corrections, or a plate that
    fits no known format, marks the passage low-confidence rather than guessing.
    """
    plausible = [
        r for r in track.reads if MIN_PLATE_LENGTH <= len(normalise(r.text)) <= MAX_PLATE_LENGTH
    ]
    result = vote(plausible)
    if result is None:
        return None
    raw = normalise(result.text)
    if not raw:
        return None
    policy = correct_read(raw, result.char_confidences, result.country, max_char_confidence)
    correction = policy.correction
    plate = correction.plate[:12]
    unresolved = bool(correction.candidates) and not correction.changed
    low = result.confidence < min_vote_confidence or unresolved or policy.fits is None
    if result.country == "NL" and not (policy.fits or "").startswith("NL"):
        low = True  # a Dutch plate that fits no sidecode is doubt, whatever the OCR says
    alternatives = tuple((normalise(t), c) for t, c in result.alternatives if normalise(t))
    alternatives = tuple((t[:12], c) for t, c in alternatives if t != plate)
    return TrackReading(
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
        plate_format=policy.fits,
    )
