"""The drive-by generator: a playable video and a ground truth that matches it."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from edge.cli import edge_app
from edge.drive_by import DriveBy
from edge.evaluation import Annotation
from edge.truth import read_truth


@pytest.mark.shared
def test_video_and_truth_agree(drive_by: DriveBy) -> None:
    # The truth is the CSV `zes edge replay --truth` reads (issue 27), in seconds.
    truth = read_truth(drive_by.truth)
    assert [v.plate for v in truth] == [v.plate for v in drive_by.vehicles]
    assert [v.direction for v in truth] == [v.direction for v in drive_by.vehicles]
    for row, vehicle in zip(truth, drive_by.vehicles, strict=True):
        assert row.first_s == pytest.approx(vehicle.first_frame / drive_by.fps, abs=0.01)
        assert row.last_s == pytest.approx(vehicle.last_frame / drive_by.fps, abs=0.01)
    assert [v.direction for v in drive_by.vehicles] == ["entering", "leaving"] * 2
    spans = [(v.first_frame, v.last_frame) for v in drive_by.vehicles]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start > end + 5  # an empty stretch between vehicles
    capture = cv2.VideoCapture(str(drive_by.video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == drive_by.frames
    assert (drive_by.width, drive_by.height) == (640, 360)


@pytest.mark.shared
def test_drive_by_command(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "one.avi"
    photos = shared_dir / "data" / "openalpr-eu-dev"
    result = CliRunner().invoke(
        edge_app, ["drive-by", str(out), "--count", "1", "--photos", str(photos), "--fps", "5"]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert read_truth(out.with_suffix(".csv"))


@pytest.mark.shared
def test_entrance_clip_and_its_truth_agree(tmp_path: Path, dev_photos: list[Annotation]) -> None:
    from edge.clips import make_clip

    chosen = dev_photos[:3]
    clip = make_clip(chosen, tmp_path / "parked.avi", "parked", width=480, height=270, fps=5.0)
    capture = cv2.VideoCapture(str(clip.video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == clip.frames
    assert clip.truth.read_text(encoding="utf-8").splitlines()[0] == (
        "plate,first_s,last_s,direction"
    )
    truth = read_truth(clip.truth)
    # The parked car (the last photo) is never in the truth: it does not pass.
    assert [v.plate for v in truth] == [a.plate for a in chosen[:2]]
    assert all(v.first_s < v.last_s <= clip.frames / clip.fps for v in truth)
