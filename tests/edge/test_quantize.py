"""A camera's int8 detector: the views it is calibrated on, and the real quantization of the
320 detector on a generated clip, checked against the fp32 detector on a dev photo."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import edge_app
from edge.drive_by import DriveBy
from edge.evaluation import Annotation
from edge.quantize import RecordingDetector
from edge.recognition import Box, Image, OnnxPlateDetector, OnnxPlateReader
from tests.edge.conftest import site_dict


class CountingDetector:
    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: Image) -> list[Box]:
        self.calls += 1
        return [Box(0, 0, 4, 4, 0.9)]


def test_the_recording_keeps_a_sample_of_input_tensors_and_passes_every_view_on() -> None:
    inner = CountingDetector()
    recording = RecordingDetector(inner, input_size=64, keep=5)
    for level in range(40):
        view = np.full((30 + level, 90, 3), level, np.uint8)  # views of every size
        assert recording.detect(view) == [Box(0, 0, 4, 4, 0.9)]
    assert inner.calls == recording.seen == 40
    assert len(recording.views) == 5
    assert all(v.shape == (1, 3, 64, 64) and v.dtype == np.float32 for v in recording.views)
    # A uniform sample, not the first five: some of the later (brighter) views are in it.
    assert max(float(v.max()) for v in recording.views) > 5 / 255


@pytest.mark.shared
def test_a_camera_quantized_on_its_clip_finds_the_plates_the_fp32_detector_finds(
    tmp_path: Path,
    drive_by: DriveBy,
    model_dir: Path,
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
    dev_photos: list[Annotation],
) -> None:
    site = site_dict(tmp_path, "rtsp://camera.invalid/stream") | {"models": {"dir": str(model_dir)}}
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site), encoding="utf-8")
    out = tmp_path / "models" / "cam-1-int8.onnx"
    args = ["quantize", str(drive_by.video), "--out", str(out), "--config", str(config)]
    run = CliRunner().invoke(edge_app, [*args, "--views", "40"])
    assert run.exit_code == 0, run.output
    result = json.loads(run.output.strip().splitlines()[-1])
    assert result["out"] == str(out) and result["views_used"] == 40
    assert result["views_seen"] >= 40
    # The int8 model is smaller (int8 weights) and finds the same plates on dev photos.
    fp32 = model_dir / "yolov8n-license-plate-fastanpr-320-end2end.onnx"
    assert out.stat().st_size < fp32.stat().st_size
    int8 = OnnxPlateDetector(out)
    found_by_fp32 = found_by_both = 0
    for photo in dev_photos[:12]:
        image = cv2.imread(str(photo.image))
        assert image is not None
        expected = detector.detect(image)
        found = int8.detect(image)
        found_by_fp32 += bool(expected)
        found_by_both += any(b.iou(e) > 0.5 for b in found for e in expected)
    assert found_by_fp32 >= 8
    assert found_by_both >= found_by_fp32 - 1
    # The agent reads the clip with it: every vehicle is a passage (the replay's truth).
    from edge.replay import replay_clip

    replayed = replay_clip(drive_by.video, drive_by.truth, detector=int8, reader=reader)
    assert replayed.summary["recall"] == 1.0
    assert replayed.summary["false_passages"] == 0


def test_quantize_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.mp4"
    out = tmp_path / "int8.onnx"
    run = CliRunner().invoke(edge_app, ["quantize", str(missing), "--out", str(out)])
    assert run.exit_code == 2
    assert "zes edge quantize:" in run.output and "none.mp4" in run.output
    assert not out.exists()
