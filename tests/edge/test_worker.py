"""The camera worker with stand-in models: motion gate, keep-alive, evidence, privacy."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from edge.agent import CameraWorker, MotionGate
from edge.capture import Frame
from edge.config import CameraConfig, EntryLine
from edge.recognition import Box, Image, Read
from enforcement.records import Evidence, Passage

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class MarkerDetector:
    """Sees a plate where the frame's marker pixel says a car is, at the marked height."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: Image) -> list[Box]:
        self.calls += 1
        if frame[0, 0, 0] != 255:
            return []
        y = 2 * int(frame[0, 1, 0])
        return [Box(300, y, 360, y + 15, 0.9)]


class FixedReader:
    def __init__(self, text: str = "GB123X") -> None:
        self.text = text
        self.crops = 0

    def read(self, crops: Sequence[Image]) -> list[Read]:
        self.crops += len(crops)
        return [Read(self.text, (0.97,) * len(self.text)) for _ in crops]


def frame(index: int, car_y: int | None, seed: int | None) -> Frame:
    """A 640x360 frame; `seed` varies the content (motion), None repeats the last one."""
    rng = np.random.default_rng(seed if seed is not None else 0)
    image = rng.integers(0, 200, (360, 640, 3), dtype=np.uint8)
    image[0, 0, 0] = 255 if car_y is not None else 0
    image[0, 1, 0] = (car_y or 0) // 2
    return Frame("cam-1", index, T0 + timedelta(seconds=index / 10), image)


def camera(**kw: object) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam-1", "source": "x.avi", "zone_id": "rotterdam",
            "entry_line": EntryLine(a=(0, 0.5), b=(1, 0.5), inside="right"), **kw,
        }
    )  # fmt: skip


def test_motion_gate() -> None:
    gate = MotionGate(None, 0.003)
    a = frame(0, None, 1).image
    assert gate.moved(a)  # the first frame is always looked at
    assert not gate.moved(a.copy())
    assert gate.moved(frame(1, None, 2).image)
    assert MotionGate(None, 0.0).moved(a)


def test_empty_still_road_is_never_detected_on() -> None:
    detector = MarkerDetector()
    worker = CameraWorker("site", camera(), detector, FixedReader())
    for i in range(30):
        assert worker.process(frame(i, None, None)) == []
    assert detector.calls == 1  # only the very first frame
    assert worker.frames_skipped == 29


def test_vehicle_waiting_at_the_line_stays_one_passage() -> None:
    detector = MarkerDetector()
    reader = FixedReader()
    spooled: list[tuple[Passage, list[Evidence]]] = []
    worker = CameraWorker(
        "site", camera(), detector, reader, sink=lambda p, e: spooled.append((p, e))
    )
    frames = [frame(i, 60 + 10 * i, 100 + i) for i in range(10)]  # drives up to the line
    frames += [frame(10 + i, 160, None) for i in range(40)]  # waits 4 s: no motion at all
    frames += [frame(50 + i, 170 + 10 * i, 200 + i) for i in range(10)]  # drives on
    frames += [frame(60 + i, None, 300 + i) for i in range(5)]
    frames += [frame(65 + i, None, None) for i in range(20)]  # empty road
    passages = [p for f in frames for p in worker.process(f)]
    passages += worker.flush()
    assert len(passages) == 1
    (passage,) = passages
    assert passage.plate == "GB123X"
    assert passage.direction == "entering"
    assert passage.frames >= 3
    assert detector.calls < len(frames) - 20  # the still stretch was only sampled
    # OCR once per N (3) frames of the track, not every frame.
    assert reader.crops < worker.frames_processed / 2
    # Evidence: references in the passage match the images that travel separately.
    (_, evidence) = spooled[0]
    assert {(e.kind, e.sha256) for e in evidence} == {(r.kind, r.sha256) for r in passage.evidence}
    for item in evidence:
        assert hashlib.sha256(item.data).hexdigest() == item.sha256
        assert item.data[:2] == b"\xff\xd8"  # JPEG
        assert item.passage_id == passage.passage_id


def test_unreadable_track_is_not_a_passage() -> None:
    worker = CameraWorker("site", camera(), MarkerDetector(), FixedReader(text=""))
    passages = [p for i in range(10) for p in worker.process(frame(i, 60 + 10 * i, i))]
    assert passages + worker.flush() == []
    assert worker.tracks_unread == 1  # counted and logged, never a passage without a plate
