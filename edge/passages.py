"""From a finished track to a passage record, in small steps the camera worker runs in order.

1. `rejection`: why a track gives no passage (parked, unreadable, one unsure frame);
2. after the plate memory was told of it, `repeat_rejection`: it was published early
   already, or it is a later track of a vehicle published moments ago;
3. `evidence_of`: the plate crop and overview of its best frame;
4. `passage_record`: the reading mapped onto the `Passage` record;
5. `count_rejection` / `count_passage`: the metrics (each is a no-op without metrics);
6. `rejection_log` / `passage_log`: the log lines, which name a plate only by its keyed hash.

Each is pure or touches only what it is given, so each has its own unit test.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from edge.metrics import EdgeMetrics
from edge.passage_evidence import evidence_records, passage_images
from edge.plate_text import fold
from edge.recognition import Image
from edge.tracking import FinishedTrack, TrackReading
from enforcement.records import AlternativeRead, CharChange, Evidence, EvidenceRef, Passage

Rejection = Literal["stationary", "unread", "unsure_single_read", "published_early", "merged"]
"""Why a finished track gave no passage."""


@dataclass(frozen=True, slots=True)
class BestFrame:
    """The evidence payload a track keeps for its most confident read."""

    image: Image
    at: datetime


GLIMPSE_CONFIDENCE = 0.5
"""A track of several frames read only once, less sure than this, is a glimpse, no passage."""


def rejection(
    track: FinishedTrack[BestFrame], reading: TrackReading | None, min_vote_confidence: float
) -> Rejection | None:
    """Why `track` (read as `reading`) is no passage, before the plate memory is asked.

    A track published early is never rejected here: its passage exists already."""
    if track.stationary and not track.published:
        return "stationary"  # parked (or a fragment of it): in view, never crossed or travelled
    if reading is None:
        return "unread"
    texts = Counter(fold(r.text) for r in track.reads if r.text)
    if not texts or max(texts.values()) == 1:
        # No read confirmed by another, and none sure: as likely a sticker, a reflection or
        # a plate half behind a bus as a vehicle (on the 10 fps occlusion clip both such
        # one-frame reads were of the bus; at 25 fps a plate cut by the bus was read once,
        # 0.12 sure, over 3 frames, and in another run twice, FF3114 and FF7151A (means of
        # 0.43 and 0.44), over 5: each made a second passage of its vehicle). A track seen in
        # more frames needs less: in dense night traffic a leaving van was read once,
        # right, 0.72 sure, in its 3 frames.
        floor = min_vote_confidence if track.frames_seen == 1 else GLIMPSE_CONFIDENCE
        # Each read's least sure character, as a vote of that read alone would score it.
        if max(min(r.char_confidences, default=0.0) for r in track.reads) < floor:
            return "unsure_single_read"
    return None


def repeat_rejection(track: FinishedTrack[BestFrame], repeat: bool) -> Rejection | None:
    """After the plate memory: published early (its end only refreshed the memory), or a
    later track of a plate seen within the memory's window (merged into that passage)."""
    if track.published:
        return "published_early"
    if repeat:
        return "merged"
    return None


def evidence_of(
    passage_id: uuid.UUID, track: FinishedTrack[BestFrame]
) -> tuple[tuple[EvidenceRef, ...], list[Evidence]]:
    """The plate crop and overview of the track's best frame (none without a best read)."""
    best = track.best_payload
    if best is None or track.best_box is None:
        return (), []
    return evidence_records(passage_id, best.at, passage_images(best.image, track.best_box))


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def passage_record(
    reading: TrackReading,
    *,
    passage_id: uuid.UUID,
    site_id: str,
    camera_id: str,
    zone_id: str,
    seen_at: datetime | None,
    evidence: tuple[EvidenceRef, ...],
) -> Passage:
    """The reading as the `Passage` record (confidences clipped to 0..1, seen_at in UTC:
    the best frame's time, or now when the track kept no frame)."""
    return Passage(
        passage_id=passage_id,
        site_id=site_id,
        camera_id=camera_id,
        zone_id=zone_id,
        direction=reading.direction,
        plate=reading.plate,
        plate_raw=reading.plate_raw[:32],
        country=reading.country,
        confidence=_unit(reading.confidence),
        char_confidences=tuple(_unit(c) for c in reading.char_confidences),
        alternatives=tuple(
            AlternativeRead(plate=p, confidence=min(1.0, c)) for p, c in reading.alternatives
        ),
        frames=max(1, reading.frames),
        low_confidence=reading.low_confidence,
        seen_at=(seen_at or datetime.now(UTC)).astimezone(UTC),
        evidence=evidence,
        changes=tuple(CharChange(at=i, read=a, used=b) for i, a, b in reading.correction.changes),
        plate_format=reading.plate_format,
    )


def count_rejection(metrics: EdgeMetrics | None, camera_id: str, why: Rejection) -> None:
    if metrics is None:
        return
    if why == "stationary":
        metrics.tracks_stationary.labels(camera_id).inc()
    elif why in ("unread", "unsure_single_read"):
        metrics.tracks_unread.labels(camera_id).inc()
    elif why == "merged":
        metrics.duplicates_merged.labels(camera_id).inc()


def count_passage(metrics: EdgeMetrics | None, camera_id: str, reading: TrackReading) -> None:
    if metrics is None:
        return
    metrics.passages.labels(camera_id, reading.direction).inc()
    metrics.read_confidence.labels(camera_id).observe(reading.confidence)
    if reading.low_confidence:
        metrics.low_confidence.labels(camera_id).inc()
    if reading.correction.changed:
        metrics.corrections.labels(camera_id).inc()


def rejection_log(
    camera_id: str, why: Rejection, track: FinishedTrack[BestFrame], plate_ref: str
) -> str | None:
    """The log line of a rejection (None: not worth a line). `plate_ref` is the plate's
    keyed hash, never the plate."""
    if why == "unread":
        return f"camera {camera_id}: track of {track.frames_seen} frames gave no readable text"
    if why == "unsure_single_read":
        return (
            f"camera {camera_id}: track of {track.frames_seen} frames whose reads never agree, "
            "none of them sure: not a passage"
        )
    if why == "merged":
        return (
            f"camera {camera_id}: track of plate#{plate_ref} merged into its passage of moments ago"
        )
    return None


def passage_log(camera_id: str, passage: Passage, plate_ref: str) -> str:
    """The log line of a passage; `plate_ref` is the plate's keyed hash, never the plate."""
    corrected = " corrected" if passage.changes else ""
    low = " LOW" if passage.low_confidence else ""
    return (
        f"camera {camera_id}: passage {passage.passage_id} plate#{plate_ref} "
        f"{passage.direction} confidence {passage.confidence:.2f} frames {passage.frames}"
        f"{low}{corrected}"
    )
