"""Recognition measured on annotated stills: `zes edge eval` and the benchmark's step table.

The other half of `edge.recognition` (which the agent runs per frame): the openalpr-format
annotations of the dev photos, and `evaluate`, which detects and reads every photo, optionally
degraded first (`edge.variants`), and gives exact reads, character error rate, detection
recall and latency. The clip makers (`edge.drive_by`, `edge.clips`) take their vehicles from
the same annotations.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge.plate_text import edit_distance, fold
from edge.recognition import (
    Box,
    PlateDetector,
    PlateReader,
    crop,
    detect_in_regions,
    enhance_for_detection,
    enhance_for_ocr,
    vehicle_region,
)
from edge.variants import make_variant


@dataclass(frozen=True, slots=True)
class Annotation:
    image: Path
    box: Box
    plate: str


def load_annotations(folder: Path) -> list[Annotation]:
    """openalpr format: `NAME.txt` holds `NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`."""
    found = []
    for text_file in sorted(folder.glob("*.txt")):
        line = text_file.read_text(encoding="utf-8").strip().splitlines()[0]
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 6:
            raise ValueError(f"{text_file}: expected 6 tab-separated fields, got {len(parts)}")
        name, x, y, w, h, plate = parts[:6]
        image = folder / name
        if not image.is_file():
            image = text_file.with_suffix(".jpg")
        x0, y0 = int(x), int(y)
        found.append(Annotation(image, Box(x0, y0, x0 + int(w), y0 + int(h)), plate.upper()))
    return found


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


DETECT_MODES = ("whole", "tiles", "region")
"""How `evaluate` detects: on the whole image (shrunk to the detector's input), on tiles of
it at native resolution, or at native resolution in the vehicle's region (what the motion
regions give the agent for a moving vehicle: a few plate widths around the plate)."""


def evaluate(
    folder: Path,
    detector: PlateDetector,
    reader: PlateReader,
    variant: str = "none",
    detect: str = "whole",
    upscale: bool = False,
    contrast: bool = False,
    tile_px: int = 640,
    night_detect: bool = False,
) -> dict[str, Any]:
    """Detect and read every annotated image; exact/folded match, CER, recall, latency.

    The read is taken from the detection that overlaps the labelled plate most (or the most
    confident one when none overlaps), as the agent would read the plate it tracks.
    `variant` degrades each image first (`edge.variants`); `detect` is one of DETECT_MODES;
    `upscale`/`contrast` switch the two steps of `enhance_for_ocr`, `night_detect` the
    enhancement of dark or IR views before detection (`enhance_for_detection`).
    """
    if detect not in DETECT_MODES:
        raise ValueError(f"detect must be one of {', '.join(DETECT_MODES)}")
    annotations = load_annotations(folder)
    if not annotations:
        raise FileNotFoundError(f"no NAME.txt annotations in {folder}")
    exact = folded = found = 0
    errors = chars = 0
    timings: list[float] = []
    for index, item in enumerate(annotations):
        photo = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if photo is None:
            raise ValueError(f"cannot decode {item.image}")
        frame, label = make_variant(variant, photo, item.box, seed=index)
        h, w = frame.shape[:2]
        start = time.perf_counter()
        if detect == "whole":
            boxes = detector.detect(enhance_for_detection(frame) if night_detect else frame)
        else:
            region = Box(0, 0, w, h) if detect == "tiles" else vehicle_region(label, w, h)
            tile = tile_px if detect == "tiles" else None
            boxes = detect_in_regions(detector, frame, [region], None, tile, night_detect)
        best = max(boxes, key=lambda b: (b.iou(label), b.confidence), default=None)
        text = ""
        if best is not None:
            plate = enhance_for_ocr(crop(frame, best), upscale=upscale, contrast=contrast)
            text = reader.read([plate])[0].text
        timings.append((time.perf_counter() - start) * 1000)
        if best is not None and best.iou(label) >= 0.3:
            found += 1
        exact += text == item.plate
        folded += fold(text) == fold(item.plate)
        errors += edit_distance(text, item.plate)
        chars += len(item.plate)
    n = len(annotations)
    return {
        "images": n,
        "variant": variant,
        "detect": detect,
        "upscale": upscale,
        "contrast": contrast,
        "night_detect": night_detect,
        "exact": round(exact / n, 4),
        "exact_folded": round(folded / n, 4),
        "exact_count": exact,
        "exact_folded_count": folded,
        "cer": round(errors / max(1, chars), 4),
        "detect_recall_iou30": round(found / n, 4),
        "ms_per_image_median": round(statistics.median(timings), 2),
        "ms_per_image_p95": round(_percentile(timings, 0.95), 2),
    }


def evaluate_json(folder: Path, detector: PlateDetector, reader: PlateReader) -> str:
    return json.dumps(evaluate(folder, detector, reader), sort_keys=True)
