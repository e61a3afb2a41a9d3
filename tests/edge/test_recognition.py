"""Recognition: geometry helpers (no models) and the real models on a few dev photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge.cli import edge_app
from edge.evaluation import Annotation, evaluate, load_annotations
from edge.plate_text import edit_distance, fold
from edge.recognition import (
    Box,
    Image,
    OnnxPlateDetector,
    OnnxPlateReader,
    TileBackoff,
    crop,
    detect_in_regions,
    roi_rect,
)


def test_box_geometry() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    assert a.shifted(3, 4) == Box(3, 4, 13, 14)
    assert a.center == (5.0, 5.0)


def test_crop_is_clipped_and_never_empty() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    assert crop(frame, Box(190, 90, 260, 130), pad=0).shape[:2] == (10, 10)
    assert crop(frame, Box(300, 300, 310, 310)).size > 0


class FixedDetector:
    """Returns fixed boxes in the coordinates of whatever view it is given."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes
        self.seen: list[tuple[int, ...]] = []

    def detect(self, frame: Image) -> list[Box]:
        self.seen.append(frame.shape)
        return list(self.boxes)


def test_detection_runs_on_the_roi_crop_only() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    roi = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0))
    assert roi_rect(roi, 640, 360) == Box(320, 180, 640, 360)
    detector = FixedDetector([Box(10, 10, 50, 20), Box(300, 160, 320, 180)])
    rect = roi_rect(roi, 640, 360)
    boxes = detect_in_regions(detector, frame, [rect], roi, enhance=False)
    assert detector.seen == [(180, 320, 3)]
    assert boxes[0] == Box(330, 190, 370, 200)  # back in frame coordinates
    triangle = ((0.5, 0.5), (1.0, 0.5), (1.0, 1.0))  # the second box is outside the polygon
    outside = FixedDetector([Box(10, 150, 30, 170)])
    assert len(detect_in_regions(outside, frame, [rect], triangle, enhance=False)) == 0


class SizedDetector(FixedDetector):
    input_size = 320


def test_a_dark_view_is_shrunk_to_the_detector_input_before_its_enhancement() -> None:
    # A dark 1280x640 region: the blur and stretch run on the view shrunk to the detector's
    # 320 input (what the detector would shrink it to anyway), and the box the detector
    # finds there comes back in frame pixels. A lit region is handed over whole, as before.
    rng = np.random.default_rng(3)
    dark = rng.integers(0, 40, (720, 1400, 3), dtype=np.uint8)
    region = Box(100, 50, 1380, 690)
    detector = SizedDetector([Box(80, 40, 120, 50, 0.8)])
    (box,) = detect_in_regions(detector, dark, [region])
    assert detector.seen == [(160, 320, 3)]
    assert box == Box(100 + 320, 50 + 160, 100 + 480, 50 + 200, 0.8)
    lit = np.full((720, 1400, 3), (60, 140, 200), np.uint8)
    detector = SizedDetector([Box(80, 40, 120, 50, 0.8)])
    (box,) = detect_in_regions(detector, lit, [region])
    assert detector.seen == [(640, 1280, 3)]
    assert box == Box(180, 90, 220, 100, 0.8)


class TileOnlyDetector(FixedDetector):
    """Finds its boxes only in views no wider than a tile (a small plate in a large blob)."""

    def __init__(self, boxes: list[Box], tile: int) -> None:
        super().__init__(boxes)
        self.tile = tile

    def detect(self, frame: Image) -> list[Box]:
        self.seen.append(frame.shape)
        return list(self.boxes) if frame.shape[1] <= self.tile else []


def test_a_region_whose_tile_pass_found_nothing_is_not_tiled_again_for_a_while() -> None:
    frame = np.full((360, 640, 3), 120, np.uint8)
    region = Box(0, 0, 640, 360)
    backoff = TileBackoff(0.45)
    blind = FixedDetector([])
    assert detect_in_regions(blind, frame, [region], None, 320, False, backoff.at(0.0)) == []
    tiled = len(blind.seen)
    assert tiled > 1  # whole, then tiles
    # 0.2 s later the same region (a little further on) is searched whole only.
    moved = Box(0, 20, 640, 360)
    detect_in_regions(blind, frame, [moved], None, 320, False, backoff.at(0.2))
    assert len(blind.seen) == tiled + 1
    # Elsewhere, or once the wait is over, tiles again.
    elsewhere = Box(0, 0, 300, 360)
    assert elsewhere.iou(region) < TileBackoff.MIN_IOU
    detect_in_regions(blind, frame, [elsewhere], None, 320, False, backoff.at(0.3))
    assert len(blind.seen) > tiled + 2
    before = len(blind.seen)
    detect_in_regions(blind, frame, [moved], None, 320, False, backoff.at(0.5))
    assert len(blind.seen) == before + tiled
    # A tile pass that finds a plate is no reason to wait: the next one tiles as well.
    finder = TileOnlyDetector([Box(10, 10, 60, 25, 0.9)], tile=320)
    backoff = TileBackoff(0.45)
    assert detect_in_regions(finder, frame, [region], None, 320, False, backoff.at(0.0))
    first = len(finder.seen)
    assert detect_in_regions(finder, frame, [region], None, 320, False, backoff.at(0.2))
    assert len(finder.seen) == 2 * first


def test_annotation_format_and_metrics_helpers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a.jpg\t10\t20\t30\t8\tab12cd\n", encoding="utf-8")
    (item,) = load_annotations(tmp_path)
    assert item.box == Box(10, 20, 40, 28)
    assert item.plate == "AB12CD"
    assert edit_distance("W0S3011", "WOS3011") == 1
    assert fold("W0S3011") == fold("WOS3011")


@pytest.mark.shared
def test_real_models_read_dev_photos(
    dev_photos: list[Annotation], detector: OnnxPlateDetector, reader: OnnxPlateReader
) -> None:
    assert detector.input_size == 320
    chosen = dev_photos[:6]
    crops = []
    for item in chosen:
        frame = cv2.imread(str(item.image))
        assert frame is not None
        boxes = detector.detect(frame)
        best = max(boxes, key=lambda b: b.iou(item.box))
        assert best.iou(item.box) >= 0.3, item.image.name
        crops.append(crop(frame, best))
    reads = reader.read(crops)  # one batch
    assert len(reads) == len(chosen)
    for item, read in zip(chosen, reads, strict=True):
        assert fold(read.text) == fold(item.plate), item.image.name
        assert len(read.char_confidences) == len(read.text)
        assert all(0.0 <= c <= 1.0 for c in read.char_confidences)
    assert reader.read([]) == []


@pytest.mark.shared
def test_evaluate_and_the_eval_command(
    tmp_path: Path,
    dev_photos: list[Annotation],
    detector: OnnxPlateDetector,
    reader: OnnxPlateReader,
    model_dir: Path,
) -> None:
    for item in dev_photos[:4]:  # a small copy in tmp, never in the repository
        shutil.copy(item.image, tmp_path / item.image.name)
        shutil.copy(item.image.with_suffix(".txt"), tmp_path / item.image.with_suffix(".txt").name)
    result = evaluate(tmp_path, detector, reader)
    assert result["images"] == 4
    assert result["exact_folded"] == 1.0
    assert result["detect_recall_iou30"] == 1.0
    assert result["ms_per_image_median"] > 0
    run = CliRunner().invoke(edge_app, ["eval", str(tmp_path), "--model-dir", str(model_dir)])
    assert run.exit_code == 0, run.output
    last = json.loads(run.output.strip().splitlines()[-1])
    for key in ("images", "exact", "exact_folded", "cer", "detect_recall_iou30",
                "ms_per_image_median", "ms_per_image_p95"):  # fmt: skip
        assert key in last
    assert last["images"] == 4
