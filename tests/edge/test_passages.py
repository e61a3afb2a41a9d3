"""A finished track to a passage record, step by step (pure, no models)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from edge.metrics import EdgeMetrics
from edge.passages import (
    BestFrame,
    count_passage,
    count_rejection,
    evidence_of,
    passage_log,
    passage_record,
    rejection,
    rejection_log,
    repeat_rejection,
)
from edge.recognition import Box, Read
from edge.tracking import FinishedTrack, read_track

LINE = ((0.0, 0.5), (1.0, 0.5), "right")
PLATE = "01GBB1"


def track(
    reads: int = 3, confidence: float = 0.95, frames: int | None = None, **changes: object
) -> FinishedTrack[BestFrame]:
    frame = np.full((120, 200, 3), 90, np.uint8)
    made: FinishedTrack[BestFrame] = FinishedTrack(
        7, tuple(Read(PLATE, (confidence,) * 6, "NL") for _ in range(reads)),
        frames if frames is not None else max(1, reads), (0.5, 0.2), (0.5, 0.8), 1.0, 2.0,
        1.5, Box(40, 50, 100, 70), BestFrame(frame, datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
    )  # fmt: skip
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def test_rejections_in_their_order() -> None:
    assert rejection(track(stationary=True), None, 0.5) == "stationary"
    assert rejection(track(), None, 0.5) == "unread"
    one = track(reads=1, confidence=0.3, frames=1)
    assert rejection(one, read_track(one, 0.5, LINE), 0.5) == "unsure_single_read"  # type: ignore[arg-type]
    # Seen in three frames, read once and unsure: a glimpse (a plate half behind a bus).
    glimpse = track(reads=1, confidence=0.12, frames=3)
    assert rejection(glimpse, read_track(glimpse, 0.8, LINE), 0.8) == "unsure_single_read"  # type: ignore[arg-type]
    # Read once in three frames, fairly sure (a leaving van in dense night traffic): kept.
    once = track(reads=1, confidence=0.72, frames=3)
    assert rejection(once, read_track(once, 0.8, LINE), 0.8) is None  # type: ignore[arg-type]
    sure = track(reads=1, frames=1)
    assert rejection(sure, read_track(sure, 0.5, LINE), 0.5) is None  # type: ignore[arg-type]
    # A track published early is no parked car, whatever its end looks like.
    published = track(stationary=True, published=True)
    assert rejection(published, read_track(published, 0.5, LINE), 0.5) is None  # type: ignore[arg-type]
    assert repeat_rejection(published, repeat=True) == "published_early"
    assert repeat_rejection(track(), repeat=True) == "merged"
    assert repeat_rejection(track(), repeat=False) is None


def test_reads_that_never_agree_and_are_all_unsure_are_a_glimpse() -> None:
    # Two reads of a plate half behind a bus, in five frames: FF3114 and FF7151A, each about
    # 0.43 sure. They made a second, low-confidence passage of the vehicle in front.
    unsure = dataclasses.replace(
        track(frames=5),
        reads=(Read("FF3114", (0.43,) * 6, "NL"), Read("FF7151A", (0.44,) * 7, "NL")),
    )
    assert rejection(unsure, read_track(unsure, 0.8, LINE), 0.8) == "unsure_single_read"  # type: ignore[arg-type]
    # The same two unsure reads agreeing once look-alikes are folded (O and 0): a vehicle.
    agreeing = dataclasses.replace(
        track(frames=5),
        reads=(Read("RK3OOAG", (0.43,) * 7, "NL"), Read("RK300AG", (0.44,) * 7, "NL")),
    )
    assert rejection(agreeing, read_track(agreeing, 0.8, LINE), 0.8) is None  # type: ignore[arg-type]
    # Two different reads, one of them sure: a vehicle read once well and once badly.
    one_sure = dataclasses.replace(
        track(frames=5),
        reads=(Read("FF3114", (0.43,) * 6, "NL"), Read(PLATE, (0.9,) * 6, "NL")),
    )
    assert rejection(one_sure, read_track(one_sure, 0.8, LINE), 0.8) is None  # type: ignore[arg-type]


def test_the_record_maps_the_reading_and_clips_confidences() -> None:
    finished = track()
    reading = read_track(finished, 0.5, LINE)  # type: ignore[arg-type]
    assert reading is not None
    reading = dataclasses.replace(reading, confidence=1.3, char_confidences=(1.2,) + (0.9,) * 5)
    passage_id = uuid.uuid4()
    refs, evidence = evidence_of(passage_id, finished)
    assert [r.kind for r in refs] == ["plate_crop", "overview"]
    assert [e.sha256 for e in evidence] == [r.sha256 for r in refs]
    amsterdam = timezone(timedelta(hours=1))
    passage = passage_record(
        reading, passage_id=passage_id, site_id="s", camera_id="c", zone_id="z",
        seen_at=datetime(2026, 3, 2, 9, 0, tzinfo=amsterdam), evidence=refs,
    )  # fmt: skip
    assert passage.plate == PLATE and passage.direction == "entering"
    assert passage.confidence == 1.0 and passage.char_confidences[0] == 1.0
    assert passage.seen_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert passage.seen_at.utcoffset() == timedelta(0)
    assert passage.evidence == refs
    no_frame = track(best_payload=None)
    assert evidence_of(passage_id, no_frame) == ((), [])


def test_metrics_count_each_outcome_and_nothing_without_metrics() -> None:
    metrics = EdgeMetrics()
    count_rejection(None, "c", "merged")  # no metrics: nothing to do, no error
    for why in ("stationary", "unread", "unsure_single_read", "merged", "published_early"):
        count_rejection(metrics, "c", why)
    value = metrics.registry.get_sample_value
    assert value("zes_edge_tracks_stationary_total", {"camera": "c"}) == 1
    assert value("zes_edge_tracks_unread_total", {"camera": "c"}) == 2
    assert value("zes_edge_duplicates_merged_total", {"camera": "c"}) == 1
    reading = read_track(track(), 0.99, LINE)  # type: ignore[arg-type]
    assert reading is not None and reading.low_confidence
    count_passage(metrics, "c", reading)
    assert value("zes_edge_passages_total", {"camera": "c", "direction": "entering"}) == 1
    assert value("zes_edge_passages_low_confidence_total", {"camera": "c"}) == 1


def test_log_lines_never_carry_the_plate() -> None:
    finished = track()
    reading = read_track(finished, 0.5, LINE)  # type: ignore[arg-type]
    assert reading is not None
    passage = passage_record(
        reading, passage_id=uuid.uuid4(), site_id="s", camera_id="c", zone_id="z",
        seen_at=None, evidence=(),
    )  # fmt: skip
    line = passage_log("c", passage, "abc123")
    assert "plate#abc123" in line and "entering" in line
    assert PLATE not in line and reading.plate_raw not in line
    glimpse = rejection_log("c", "unsure_single_read", finished, "abc123")
    assert glimpse is not None and "3 frames" in glimpse and "never agree" in glimpse
    assert PLATE not in glimpse and "abc123" not in glimpse
    merged = rejection_log("c", "merged", finished, "abc123")
    assert merged is not None and "plate#abc123" in merged and PLATE not in merged
    assert rejection_log("c", "unread", finished, "") == (
        "camera c: track of 3 frames gave no readable text"
    )
    assert rejection_log("c", "stationary", finished, "") is None
