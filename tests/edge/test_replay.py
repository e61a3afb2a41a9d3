"""Replays of generated entrance-view clips through the agent's real path, against their truth.

Real models and real OpenCV video files (960x540, 8 fps: small enough to stay quick, the
same code path as 1080p). Every vehicle once: an occlusion, a long stop, two side by side,
a parked car by day and by night, a wall-clock step; and the replay command itself.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml
from typer.testing import CliRunner

from edge.capture import Frame
from edge.cli import edge_app
from edge.clips import Clip, make_clip
from edge.drive_by import DriveBy
from edge.evaluation import Annotation
from edge.recognition import OnnxPlateDetector, OnnxPlateReader
from edge.replay import REPLAY_KEYS, camera_for_replay, default_site, replay_clip, run_clip, score
from edge.replay_report import write_report
from edge.truth import read_truth
from edge.worker import CameraWorker
from enforcement.records import Passage

pytestmark = pytest.mark.shared


def clip(tmp_path: Path, photos: list[Annotation], condition: str, *names: str, **kw: Any) -> Clip:
    by_name = {a.image.name: a for a in photos}
    chosen = [by_name[n] for n in names]
    out = tmp_path / f"{condition}.avi"
    return make_clip(chosen, out, condition, width=960, height=540, fps=8.0, **kw)


def replayed(
    made: Clip, detector: OnnxPlateDetector, reader: OnnxPlateReader
) -> tuple[dict[str, Any], list[Passage]]:
    camera = camera_for_replay(default_site(made.video, made.video.parent), made.video, None)
    passages, frames, cpu = run_clip(made.video, camera, detector, reader)
    assert frames == made.frames
    return score(read_truth(made.truth), passages, frames, cpu), [p.passage for p in passages]


def test_an_occlusion_of_1_5_s_gives_one_passage(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    made = clip(tmp_path, dev_photos, "occlusion", "eu1.jpg", "eu10.jpg")
    result, passages = replayed(made, detector, reader)
    assert result["vehicles"] == 2
    assert result["matched"] == 2
    assert result["duplicates"] == 0
    assert result["false_passages"] == 0
    assert len(passages) == 2
    assert result["direction_correct"] == 1.0


@pytest.mark.slow
def test_a_vehicle_stopped_20_s_in_view_gives_one_passage(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    made = clip(tmp_path, dev_photos, "queue", "eu1.jpg", stop_s=20.0)
    result, passages = replayed(made, detector, reader)
    assert result["vehicles"] == 1
    assert len(passages) == 1
    assert result["matched"] == 1
    assert result["exact"] == 1
    assert passages[0].direction == "entering"


def test_two_vehicles_side_by_side_give_two_passages(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    made = clip(tmp_path, dev_photos, "side_by_side", "eu1.jpg", "eu10.jpg")
    result, passages = replayed(made, detector, reader)
    assert result["matched"] == 2
    assert result["exact"] == 2
    assert len(passages) == 2
    assert result["duplicates"] == 0


@pytest.mark.parametrize("night", [False, True], ids=["day", "night"])
def test_a_car_parked_in_view_the_whole_clip_gives_no_passage(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
    night: bool,
) -> None:
    # eu10 drives past; eu2 stands in view, plate readable, for the whole clip.
    made = clip(tmp_path, dev_photos, "parked", "eu10.jpg", "eu2.jpg", night=night)
    assert [v.plate for v in made.vehicles] == ["WA56660"]
    result, passages = replayed(made, detector, reader)
    assert result["false_passages"] == 0
    assert result["matched"] == 1
    assert len(passages) == 1  # the moving car's, never the parked one's


def test_dense_traffic_at_night_reads_the_leaving_plates_exactly(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    # Two-way traffic in the dark (grey, gamma 1.8, noise sigma 10), 1080p as the cameras
    # send it: eu6 (WOBVWMK4) and test_006 (RKO99AN) leave between two entering vehicles.
    # Read from the raw noisy crop they came out as M0BVHMK4 and BRK099A; the crop the
    # detector saw (denoised, stretched) reads them right.
    by_name = {a.image.name: a for a in dev_photos}
    names = ("eu5.jpg", "eu6.jpg", "test_005.jpg", "test_006.jpg")
    made = make_clip(
        [by_name[n] for n in names], tmp_path / "dense_night.avi", "dense_night", fps=10.0
    )
    result, passages = replayed(made, detector, reader)
    assert result["vehicles"] == 4
    assert result["matched"] == 4
    assert result["exact"] == 4, sorted(p.plate for p in passages)
    assert result["duplicates"] == 0
    assert result["false_passages"] == 0
    assert result["direction_correct"] == 1.0


@pytest.mark.parametrize("step_s", [30.0, -30.0])
def test_a_wall_clock_step_mid_clip_does_not_split_a_vehicle(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
    step_s: float,
) -> None:
    made = clip(tmp_path, dev_photos, "standard", "eu1.jpg")
    (vehicle,) = made.vehicles
    step_at = (vehicle.first_s + vehicle.last_s) / 2  # while the vehicle is in view
    camera = camera_for_replay(default_site(made.video, tmp_path), made.video, None)
    worker = CameraWorker("replay", camera, detector, reader)
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    capture = cv2.VideoCapture(str(made.video))
    passages: list[Passage] = []
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        t = index / made.fps  # frame time: the file position, a monotonic clock
        wall = start + timedelta(seconds=t + (step_s if t >= step_at else 0.0))
        passages += worker.process(Frame("replay", index, wall, image, t))
        index += 1
    capture.release()
    passages += worker.flush()
    assert len(passages) == 1
    assert passages[0].plate == vehicle.plate
    assert passages[0].direction == "entering"


def test_the_replay_command(
    tmp_path: Path,
    dev_photos: list[Annotation],
    model_dir: Path,
) -> None:
    made = clip(tmp_path, dev_photos, "standard", "eu1.jpg", "eu10.jpg")
    site = {
        "site_id": "new-camera",
        "broker": {"bootstrap": "127.0.0.1:9"},
        "spool": {"path": str(tmp_path / "spool.db")},
        "models": {"dir": str(model_dir)},
        "cameras": [
            {
                "id": "cam-7",
                "source": "rtsp://camera.invalid/stream",
                "zone_id": "rotterdam",
                "entry_line": {"a": [0.0, 0.5], "b": [1.0, 0.5], "inside": "right"},
            }
        ],
    }
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site), encoding="utf-8")
    args = ["replay", str(made.video), "--truth", str(made.truth), "--config", str(config)]
    run = CliRunner().invoke(edge_app, [*args, "--report", str(tmp_path / "report")])
    assert run.exit_code == 0, run.output
    result = json.loads(run.output.strip().splitlines()[-1])  # the summary stays last
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "vehicles.csv").read_text(encoding="utf-8").count("\n") == 3
    assert tuple(result) == REPLAY_KEYS
    assert result["vehicles"] == 2
    assert result["recall"] == 1.0
    assert result["false_passages"] == 0
    assert result["fps_per_core"] > 0
    # A bad truth file is one clear error.
    bad = tmp_path / "bad.csv"
    bad.write_text("plate,when\nAB12CD,3\n", encoding="utf-8")
    run = CliRunner().invoke(edge_app, ["replay", str(made.video), "--truth", str(bad)])
    assert run.exit_code == 2
    assert "header must be plate,first_s,last_s,direction" in run.output


def test_replay_reads_the_drive_by_truth_and_writes_a_report(
    tmp_path: Path, drive_by: DriveBy, detector: OnnxPlateDetector, reader: OnnxPlateReader
) -> None:
    # Issue 27: `drive-by` wrote its truth as JSON, which `replay` could not read; and the
    # replay told the site engineer only counts.
    report = tmp_path / "report"
    replayed = replay_clip(drive_by.video, drive_by.truth, detector=detector, reader=reader)
    result = replayed.summary
    write_report(report, drive_by.video, replayed.truth, replayed.matching, result)
    assert result["vehicles"] == len(drive_by.vehicles) == 4
    assert result["recall"] == 1.0
    with (report / "vehicles.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result["vehicles"] + result["false_passages"] + result["duplicates"]
    assert [r["truth_plate"] for r in rows if r["truth_plate"]] == [
        v.plate for v in drive_by.vehicles
    ]
    assert {r["status"] for r in rows} <= {"exact", "misread", "missed", "duplicate", "false"}
    assert sum(r["status"] == "exact" for r in rows) == result["exact"]
    page = (report / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert page.count("<tr class=") == len(rows)
    for row in rows:
        images = row["images"].split()
        assert images, row
        for image in images:
            assert image in sources and (report / image).is_file()
            assert cv2.imread(str(report / image)) is not None


def test_first_read_latency_on_a_plain_drive_by_is_within_target(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    # Issue 27 item 2: a passage used to be made when its track ended, ~5 s after the vehicle
    # appeared; now once it crossed the line with a stable vote. Target p50 <= 2.5 s.
    made = clip(tmp_path, dev_photos, "standard", "eu1.jpg", "eu10.jpg", "eu2.jpg", "eu3.jpg")
    result, _ = replayed(made, detector, reader)
    assert result["recall"] == 1.0 and result["duplicates"] == 0
    assert result["first_read_latency_p50_s"] <= 2.5


def test_a_25_fps_camera_looked_at_12_5_times_a_second_loses_no_vehicle(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
) -> None:
    """The default `max_fps` (12.5) passes over every second frame of a 25 fps camera:
    every vehicle still gives one exact passage, and the replay's frame count (what a rate
    per core divides) is the video's, not the half that was looked at."""
    by_name = {a.image.name: a for a in dev_photos}
    chosen = [by_name[n] for n in ("eu1.jpg", "eu10.jpg", "eu2.jpg")]
    made = make_clip(chosen, tmp_path / "std25.avi", "standard", width=960, height=540, fps=25.0)
    camera = camera_for_replay(default_site(made.video, tmp_path), made.video, None)
    assert camera.max_fps == 12.5
    passages, frames, cpu = run_clip(made.video, camera, detector, reader)
    result = score(read_truth(made.truth), passages, frames, cpu)
    assert frames == made.frames
    assert result["matched"] == 3 and result["exact"] == 3
    assert result["duplicates"] == 0 and result["false_passages"] == 0
