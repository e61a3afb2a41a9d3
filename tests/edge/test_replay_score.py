"""The replay's matching rule and figures, on hand-made passages (no models)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from edge.replay import MATCH_MARGIN_S, REPLAY_KEYS, MadePassage, score
from edge.truth import TruthVehicle
from enforcement.records import Passage


def made(plate: str, at: float, direction: str = "entering") -> MadePassage:
    passage = Passage(
        passage_id=uuid.uuid4(), site_id="s", camera_id="c", zone_id="z",
        direction=direction, plate=plate, plate_raw=plate, confidence=0.9,  # type: ignore[arg-type]
        seen_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    return MadePassage(passage, at, at + 2.0)


def test_matching_duplicates_false_passages_and_the_nearest_plate() -> None:
    truth = [
        TruthVehicle("GB123X", 0.0, 4.0, "entering"),
        TruthVehicle("ZZ999B", 3.0, 7.0, "leaving"),
        TruthVehicle("AB12CD", 10.0, 12.0, "entering"),
    ]
    passages = [
        made("GB123X", 3.5),  # in both windows: the nearest plate decides
        made("ZZ999B", 3.6, "entering"),  # matched, wrong direction
        made("ZZ998B", 6.5, "leaving"),  # a second passage of ZZ999B: a duplicate
        made("AB12CD", 12.0 + MATCH_MARGIN_S - 0.1),  # inside the margin
        made("QQ000Q", 30.0),  # no vehicle then: false
    ]
    result = score(truth, passages, frames=100, cpu_s=2.0)
    assert tuple(result) == REPLAY_KEYS
    assert result["matched"] == 3
    assert result["exact"] == 3
    assert result["duplicates"] == 1
    assert result["false_passages"] == 1
    assert result["missed"] == 0
    assert result["recall"] == 1.0
    assert result["precision"] == 0.6
    assert result["direction_correct"] == round(2 / 3, 4)
    assert result["first_read_latency_p50_s"] == 4.9  # of 5.5, 2.6 and 4.9 s
    assert result["fps_per_core"] == 50.0
