"""Tracking, voting, correction and direction, frame by frame (pure, no models)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.direction import direction, side_of_line
from edge.plate_memory import PlateMemory
from edge.plate_text import text_similarity
from edge.recognition import Box, Read
from edge.tracking import (
    FinishedTrack,
    Tracker,
    TrackerParams,
    association_score,
    read_track,
)
from edge.voting import current_text, vote

LINE = ((0.0, 0.5), (1.0, 0.5), "right")


def read(text: str, *confs: float) -> Read:
    return Read(text, tuple(confs) if confs else tuple(0.95 for _ in text))


def at(frame: int, fps: float = 10.0) -> float:
    """Frame time (seconds on the capture's monotonic clock)."""
    return frame / fps


# -- voting -------------------------------------------------------------------------------------
def test_unanimous_reads_vote_for_themselves() -> None:
    result = vote([read("GB123X"), read("GB123X"), read("GB123X")])
    assert result is not None
    assert result.text == "GB123X"
    assert result.frames == 3
    assert result.confidence == 0.95
    assert result.alternatives == ()


def test_vote_is_per_character_and_confidence_weighted() -> None:
    # Each read has one wrong character in a different place: the vote repairs all of them.
    reads = [
        read("XB123X", 0.4, 0.9, 0.9, 0.9, 0.9, 0.9),
        read("GB1Z3X", 0.9, 0.9, 0.9, 0.3, 0.9, 0.9),
        read("GB123X", 0.9, 0.9, 0.9, 0.9, 0.9, 0.9),
    ]
    result = vote(reads)
    assert result is not None
    assert result.text == "GB123X"
    assert result.char_confidences[1] == 0.9
    assert result.char_confidences[0] < 0.9  # only 2 of 3 reads support the G
    assert result.confidence == min(result.char_confidences)
    assert [t for t, _ in result.alternatives] == ["XB123X", "GB1Z3X"]


def test_one_confident_read_outweighs_two_blurred_ones() -> None:
    reads = [read("AB12CD", 0.2, 0.9, 0.9, 0.9, 0.9, 0.9)] * 2 + [read("XB12CD")]
    result = vote([*reads, read("XB12CD")])
    assert result is not None
    assert result.text.startswith("X")


def test_length_decided_by_agreeing_reads_and_lowers_confidence() -> None:
    reads = [read("GB123X"), read("GB123X"), read("GB1234X")]
    result = vote(reads)
    assert result is not None
    assert result.text == "GB123X"
    assert result.frames == 2
    assert result.confidence < 0.95 * 0.7  # only 2 of 3 reads agreed on the length
    assert result.alternatives[0][0] == "GB1234X"


def test_no_text_no_vote() -> None:
    assert vote([]) is None
    assert vote([Read("", ())]) is None


def test_country_is_the_majority_region() -> None:
    reads = [Read("AB", (0.9, 0.9), "NL"), Read("AB", (0.9, 0.9), "NL"), Read("AB", (0.9, 0.9))]
    result = vote(reads)
    assert result is not None
    assert result.country == "NL"


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTVXZ0123456789", min_size=1, max_size=10),
       st.integers(1, 6), st.floats(0.05, 1.0))  # fmt: skip
def test_identical_reads_always_win(text: str, copies: int, confidence: float) -> None:
    result = vote([read(text, *([confidence] * len(text)))] * copies)
    assert result is not None
    assert result.text == text
    assert result.frames == copies
    assert 0.0 <= result.confidence <= 1.0


# -- direction ----------------------------------------------------------------------------------
def test_sides_in_image_coordinates() -> None:
    a, b = (0.0, 0.5), (1.0, 0.5)
    assert side_of_line((0.5, 0.8), a, b) == "right"  # below a west->east line, y down
    assert side_of_line((0.5, 0.2), a, b) == "left"
    assert side_of_line((0.5, 0.5), a, b) == "on"


def test_direction_from_the_entry_line() -> None:
    assert direction((0.5, 0.2), (0.5, 0.8), LINE) == "entering"  # type: ignore[arg-type]
    assert direction((0.5, 0.8), (0.5, 0.2), LINE) == "leaving"  # type: ignore[arg-type]
    # Not crossed: the motion vector across the line says it; too little motion says nothing.
    assert direction((0.5, 0.2), (0.5, 0.4), LINE) == "entering"  # type: ignore[arg-type]
    assert direction((0.5, 0.2), (0.5, 0.21), LINE) == "unknown"  # type: ignore[arg-type]
    assert direction((0.5, 0.2), (0.5, 0.8), None) == "unknown"
    left_inside = ((0.0, 0.5), (1.0, 0.5), "left")
    assert direction((0.5, 0.8), (0.5, 0.2), left_inside) == "entering"  # type: ignore[arg-type]


# -- association --------------------------------------------------------------------------------
def test_association_prefers_overlap_and_gates_far_boxes() -> None:
    params = TrackerParams()
    last = Box(100, 100, 160, 120)
    near = association_score(last, Box(104, 102, 164, 122), params)
    further = association_score(last, Box(150, 110, 210, 130), params)
    assert near is not None
    assert further is not None
    assert near > further
    assert association_score(last, Box(600, 300, 660, 320), params) is None


def test_text_similarity_breaks_ties() -> None:
    params = TrackerParams()
    last = Box(100, 100, 160, 120)
    box = Box(110, 100, 170, 120)
    same = association_score(last, box, params, ("GB123X", "GB123X"))
    other = association_score(last, box, params, ("GB123X", "ZZ9999"))
    assert same is not None
    assert other is not None
    assert same > other
    assert text_similarity("ABC", "ABC") == 1.0
    assert text_similarity("ABC", "XYZ") == 0.0


# -- the tracker: one passage per vehicle --------------------------------------------------------
def drive(
    tracker: Tracker[int], frames: range, box_at: dict[int, list[Box]], text: dict[int, str]
) -> tuple[list[FinishedTrack[int]], list[int]]:
    """Run frames; answer each read request with the text of the nearest vehicle."""
    finished: list[FinishedTrack[int]] = []
    reads_at: list[int] = []
    for f in frames:
        boxes = box_at.get(f, [])
        for request in tracker.update(at(f), boxes):
            reads_at.append(f)
            vehicle = boxes.index(request.box)
            tracker.add_read(request.track_id, read(text[vehicle]), at(f), request.box, f)
        finished += tracker.finished()
    tracker.end_all()
    return finished + tracker.finished(), reads_at


def moving_box(f: int, start: int, x: int = 300) -> Box:
    y = 40 + (f - start) * 15  # down the frame: 15 px per frame
    return Box(x, y, x + 60, y + 15)


def test_one_vehicle_gives_one_track_read_every_n_frames() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=3), (640, 360))
    boxes = {f: [moving_box(f, 0)] for f in range(20)}
    finished, reads_at = drive(tracker, range(40), boxes, {0: "GB123X"})
    assert len(finished) == 1
    track = finished[0]
    assert track.frames_seen == 20
    assert reads_at == [0, 3, 6, 9, 12, 15, 18]
    assert len(track.reads) == 7
    assert track.first_center[1] < 0.5 < track.last_center[1]


def test_track_ends_after_the_timeout_not_before() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(timeout_s=0.6), (640, 360))
    for f in range(5):
        for request in tracker.update(at(f), [moving_box(f, 0)]):
            tracker.add_read(request.track_id, read("GB123X"), at(f), request.box, f)
    tracker.update(at(10), [])  # 0.6 s after the last sighting: still open
    assert tracker.finished() == []
    tracker.update(at(11), [])
    assert len(tracker.finished()) == 1
    assert tracker.finished() == []  # each track is finished exactly once


def test_gap_in_detections_shorter_than_timeout_keeps_one_track() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(timeout_s=0.6), (640, 360))
    boxes = {f: [moving_box(f, 0)] for f in range(12) if f not in (5, 6, 7)}
    finished, _ = drive(tracker, range(30), boxes, {0: "GB123X"})
    assert len(finished) == 1


def test_two_vehicles_side_by_side_are_two_tracks() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(), (640, 360))
    boxes = {f: [moving_box(f, 0, x=100), moving_box(f, 0, x=450)] for f in range(15)}
    finished, _ = drive(tracker, range(25), boxes, {0: "GB123X", 1: "ZZ999B"})
    assert len(finished) == 2
    texts = sorted(r.text for t in finished for r in t.reads[:1])
    assert texts == ["GB123X", "ZZ999B"]
    for track in finished:
        assert len({r.text for r in track.reads}) == 1  # no read leaked to the other track


def test_vehicles_one_after_another_are_separate_passages() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(), (640, 360))
    boxes = {f: [moving_box(f, 0)] for f in range(15)}
    boxes.update({f: [moving_box(f, 40)] for f in range(40, 55)})  # after the 2 s timeout
    finished, _ = drive(tracker, range(70), boxes, {0: "GB123X"})
    assert len(finished) == 2


def test_single_frame_blip_is_noise_but_a_single_frame_read_is_kept() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(min_track_frames=2), (640, 360))
    tracker.update(at(3), [moving_box(3, 3)])  # seen once, never read
    tracker.update(at(40), [])
    assert tracker.finished() == []
    # Seen and read in one processed frame only (a CPU-starved box): a track, frames=1.
    finished, _ = drive(tracker, range(50, 60), {52: [moving_box(52, 52)]}, {0: "GB123X"})
    assert len(finished) == 1
    assert finished[0].frames_seen == 1
    verdict = read_track(finished[0], 0.8, LINE)  # type: ignore[arg-type]
    assert verdict is not None
    assert verdict.frames == 1


def test_occlusion_of_1_5_s_keeps_one_track_by_default() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(), (640, 360))
    # 10 fps, hidden for frames 6..20 (1.5 s) while it drives on behind the obstacle.
    boxes = {f: [moving_box(f, 0)] for f in range(24) if not 6 <= f <= 20}
    finished, _ = drive(tracker, range(60), boxes, {0: "GB123X"})
    assert len(finished) == 1


def test_a_standing_vehicle_that_never_crosses_is_stationary() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(), (640, 360), line=LINE)  # type: ignore[arg-type]
    parked = Box(500, 250, 560, 265)
    for f in range(0, 100, 3):
        for request in tracker.update(at(f), [parked], moving=[False]):
            tracker.add_read(request.track_id, read("GB123X"), at(f), request.box, f)
    tracker.end_all()
    (track,) = tracker.finished()
    assert track.stationary
    # Later fragments at the same place are the same parked car, even if they "moved".
    for f in range(200, 203):
        for request in tracker.update(at(f), [parked], moving=[True]):
            tracker.add_read(request.track_id, read("GB123X"), at(f), request.box, f)
    tracker.end_all()
    (fragment,) = tracker.finished()
    assert fragment.stationary


def test_a_vehicle_that_crosses_is_never_stationary() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(), (640, 360), line=LINE)  # type: ignore[arg-type]
    boxes = {f: [Box(300, 170 + f, 360, 185 + f)] for f in range(20)}  # creeps over the line
    finished, _ = drive(tracker, range(30), boxes, {0: "GB123X"})
    assert len(finished) == 1
    assert not finished[0].stationary


def test_a_box_with_another_plate_starts_another_track() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360))
    texts = {f: "GB123X" if f < 8 else "ZZ999B" for f in range(16)}
    for f in range(16):  # one vehicle leaves the box's place, another takes it at once
        for request in tracker.update(at(f), [moving_box(f, 0)]):
            tracker.add_read(request.track_id, read(texts[f]), at(f), request.box, f)
    tracker.end_all()
    plates = sorted(current_text(t.reads) for t in tracker.finished())
    assert plates == ["GB123X", "ZZ999B"]


def test_plate_memory_merges_the_same_plate_within_the_window() -> None:
    memory = PlateMemory(30.0)
    assert not memory.seen("GB123X", 0.0, 5.0)
    assert memory.seen("G8I23X", 20.0, 25.0)  # look-alikes folded: the same vehicle
    assert memory.seen("GB123X", 50.0, 51.0)  # 25 s after it was last seen
    assert not memory.seen("GB123X", 90.0, 91.0)  # 39 s later: a new passage
    assert not memory.seen("ZZ999B", 91.0, 92.0)


def test_direction_from_the_motion_vector_when_the_line_was_not_crossed() -> None:
    line = LINE
    assert direction((0.5, 0.6), (0.5, 0.9), line) == "entering"  # type: ignore[arg-type]
    assert direction((0.5, 0.4), (0.5, 0.1), line) == "leaving"  # type: ignore[arg-type]
    assert direction((0.5, 0.6), (0.5, 0.61), line) == "unknown"  # type: ignore[arg-type]


def test_early_publication_gives_one_passage() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    early = []
    for f in range(20):
        for request in tracker.update(at(f), [moving_box(f, 0)]):
            tracker.add_read(request.track_id, read("GB123X"), at(f), request.box, f)
        early += tracker.due_early(at(f), 0.5)
    tracker.end_all()
    assert len(early) == 1
    (end,) = tracker.finished()
    assert end.published


def test_best_frame_is_the_most_confident_read() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360))
    confidences = [0.5, 0.9, 0.7]
    for f, c in enumerate(confidences):
        for request in tracker.update(at(f), [moving_box(f, 0)]):
            tracker.add_read(request.track_id, read("AB", c, c), at(f), request.box, f)
    tracker.end_all()
    (track,) = tracker.finished()
    assert track.best_payload == 1
    assert track.best_at == at(1)


# -- the decision -------------------------------------------------------------------------------
def finished_with(reads: list[Read], first: float = 0.2, last: float = 0.8) -> FinishedTrack[int]:
    return FinishedTrack(
        1, tuple(reads), len(reads), (0.5, first), (0.5, last), at(0), at(len(reads)),
        at(0), Box(0, 0, 10, 5), 0,
    )  # fmt: skip


def test_decide_corrects_a_dutch_plate_and_records_it() -> None:
    # Sidecode 9 (99-XXX-9): an O read where a digit must be, and the OCR unsure of it.
    track = finished_with([read("O1GBB1", 0.6, 0.95, 0.95, 0.95, 0.95, 0.95)] * 3)
    verdict = read_track(track, 0.5, LINE)  # type: ignore[arg-type]
    assert verdict is not None
    assert verdict.plate_raw == "O1GBB1"
    assert verdict.plate == "01GBB1"
    assert verdict.correction.changes == ((0, "O", "0"),)
    assert verdict.plate_format == "NL-7"
    assert verdict.direction == "entering"
    assert not verdict.low_confidence


def test_a_confident_character_is_never_corrected() -> None:
    verdict = read_track(finished_with([read("O1GBB1")] * 3), 0.5)  # every char at 0.95
    assert verdict is not None
    assert verdict.plate == "O1GBB1"
    assert not verdict.correction.changed
    assert verdict.low_confidence  # it fits no known format: a human looks


def test_foreign_plates_are_not_corrected_by_dutch_rules() -> None:
    reads = [Read("O1GBB1", (0.3,) * 6, "DE")] * 3
    verdict = read_track(finished_with(reads), 0.2)
    assert verdict is not None
    assert verdict.plate == "O1GBB1"
    assert verdict.country == "DE"
    assert not verdict.correction.changed


def test_an_unknown_country_read_is_corrected_only_one_swap_away() -> None:
    # Two look-alike swaps from a valid Dutch plate (O->0 and I->1), both unsure: untouched.
    verdict = read_track(finished_with([read("OIGBB1", 0.5, 0.5, 0.95, 0.95, 0.95, 0.95)] * 3), 0.2)
    assert verdict is not None
    assert not verdict.correction.changed
    # A read that fits a foreign format as it is (a British 2001 plate) is never "fixed".
    british = read_track(finished_with([read("AB12CDE", *(0.5,) * 7)] * 3), 0.2)
    assert british is not None
    assert british.plate == "AB12CDE"
    assert british.plate_format == "GB-2001"
    assert not british.low_confidence


def test_reads_of_impossible_length_do_not_vote() -> None:
    assert read_track(finished_with([read("AB1")] * 3), 0.5) is None
    assert read_track(finished_with([read("AB12345678901")] * 3), 0.5) is None


def test_uncertain_vote_is_kept_but_marked_low_confidence() -> None:
    reads = [read("GB123X", 0.6, 0.6, 0.6, 0.6, 0.6, 0.6), read("GB128X")]
    verdict = read_track(finished_with(reads, 0.8, 0.2), 0.8, LINE)  # type: ignore[arg-type]
    assert verdict is not None
    assert verdict.low_confidence
    assert verdict.direction == "leaving"
    assert verdict.alternatives


def test_no_readable_text_gives_no_verdict() -> None:
    assert read_track(finished_with([]), 0.8) is None


# -- one vehicle, several tracks (issue 27) -------------------------------------------------------
def fragments(tracker: Tracker[int], gap: int, second: str = "GB123X") -> list[FinishedTrack[int]]:
    """A one-frame first sighting at the top (read GB123X), lost for `gap` frames, then found
    again elsewhere (left) and tracked down across the line (read `second`)."""
    finished: list[FinishedTrack[int]] = []
    for f in range(60):
        boxes = [Box(300, 20, 360, 35)] if f == 0 else []
        if 1 + gap <= f < 1 + gap + 16:
            boxes = [moving_box(f, 1 + gap, x=60)]
        for request in tracker.update(at(f), boxes):
            tracker.add_read(request.track_id, read("GB123X" if f == 0 else second), at(f),
                             request.box, f)  # fmt: skip
        finished += tracker.finished()
    tracker.end_all()
    return finished + tracker.finished()


def test_a_fragment_is_absorbed_into_the_vehicles_open_track() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    (vehicle,) = fragments(tracker, gap=3)  # found again while the fragment's track is open
    assert vehicle.first_seen == at(0) and vehicle.frames_seen == 17
    assert direction(vehicle.first_center, vehicle.last_center, LINE) == "entering"  # type: ignore[arg-type]


def test_a_fragment_waits_for_a_continuation_found_after_it_ended() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    (vehicle,) = fragments(tracker, gap=22)  # 2.2 s later: its track ended at 2 s
    assert vehicle.first_seen == at(0)
    assert direction(vehicle.first_center, vehicle.last_center, LINE) == "entering"  # type: ignore[arg-type]


def test_another_plate_is_no_continuation_and_nothing_waits_for_ever() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    finished = fragments(tracker, gap=22, second="XY987Z")
    assert sorted(current_text(f.reads) for f in finished) == ["GB123X", "XY987Z"]
    # The fragment ends alone, with its one frame.
    alone = next(f for f in finished if current_text(f.reads) == "GB123X")
    assert alone.frames_seen == 1 and alone.first_seen == at(0)


def test_two_vehicles_in_view_at_once_are_never_merged_however_alike() -> None:
    # RK3OOAG leaving and RK300AS entering were in view together; folded, their plates
    # differ in one character of seven.
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    boxes = {
        f: [moving_box(f, 0, x=60), Box(400, 300 - 15 * f, 460, 315 - 15 * f)] for f in range(8)
    }
    boxes |= {f: [moving_box(f, 0, x=60)] for f in range(8, 16)}
    finished, _ = drive(tracker, range(40), boxes, {0: "RK300AS", 1: "RK3OOAG"})
    assert sorted(current_text(f.reads) for f in finished) == ["RK300AS", "RK3OOAG"]


def test_the_vehicle_behind_a_lost_one_is_no_continuation_of_it() -> None:
    # The 25 fps queue clip: RK3OOAG drove down towards the line and stood; its track was
    # lost while it stood, and RK300AS came into view behind it (6 of 7 characters alike,
    # folded) before that track ended. It was taken for the same vehicle found again and
    # absorbed, so it gave no passage. A vehicle found again reappears where it was or
    # further on, never behind.
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    boxes = {f: [moving_box(f, 0)] for f in range(10)}  # down to y 175, then lost
    boxes |= {f: [moving_box(f, 12)] for f in range(12, 28)}  # from the top, across the line
    finished: list[FinishedTrack[int]] = []
    for f in range(60):
        for request in tracker.update(at(f), boxes.get(f, [])):
            plate = "RK3OOAG" if f < 12 else "RK300AS"
            tracker.add_read(request.track_id, read(plate), at(f), request.box, f)
        finished += tracker.finished()
    tracker.end_all()
    finished += tracker.finished()
    assert sorted(current_text(f.reads) for f in finished) == ["RK300AS", "RK3OOAG"]


def test_a_vehicle_found_again_further_on_is_still_its_continuation() -> None:
    tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360), line=LINE)  # type: ignore[arg-type]
    boxes = {f: [moving_box(f, 0)] for f in range(6)}  # down to y 115, then hidden
    boxes |= {f: [moving_box(f, 0)] for f in range(24, 30)}  # found again further down
    finished, _ = drive(tracker, range(60), boxes, {0: "RK3OOAG"})
    assert len(finished) == 1 and finished[0].frames_seen == 12


def test_a_part_of_a_plate_seen_moments_ago_is_that_vehicle() -> None:
    memory = PlateMemory(30.0)
    assert not memory.seen("PD722BF", 13.5, 15.0)
    assert memory.seen("PD72", 16.0, 16.0)  # a one-frame partial read at dusk
    assert not memory.seen("XY98", 16.5, 16.5)
    assert not PlateMemory(30.0).seen("PD72", 1.0, 1.0)


def test_a_shorter_read_splits_a_track_only_when_it_is_no_part_of_its_plate() -> None:
    def track_after(second: str) -> list[str]:
        tracker: Tracker[int] = Tracker(TrackerParams(ocr_every_n_frames=1), (640, 360))
        texts = ["RK300AG", "RK300AG", second]
        for f, text in enumerate(texts):
            for request in tracker.update(at(f), [moving_box(f, 0)]):
                tracker.add_read(request.track_id, read(text), at(f), request.box, f)
        tracker.end_all()
        return sorted(current_text(t.reads) for t in tracker.finished())

    assert track_after("D0AG") == ["RK300AG"]  # a part of the plate, one character misread
    assert track_after("FWE50") == ["FWE50", "RK300AG"]  # another vehicle's plate
