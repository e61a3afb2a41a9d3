"""Entrance-view test clips with a truth CSV: what a site engineer's camera would see.

Vehicles are cut from real photos around their labelled plate (`edge.drive_by`) and driven
along two lanes of a synthetic road towards the camera (entering: from far and small at the
top to near and large at the bottom, across the entry line at mid height) or away from it
(leaving). One condition per clip makes it harder in one way:

- `standard`: plates at 12% of the frame width at the entry line;
- `small8`, `small5`: plates at 8% / 5% of the width (distant, or a wide lens);
- `night`: an IR-lit night: greyscale, dark (gamma 1.8, gain 0.6), noise sigma 10;
- `blur`: motion blur along the travel (11 px at 1080p);
- `rain`: JPEG quality 20, noise and rain streaks;
- `occlusion`: a bus crosses in front of each vehicle as it reaches the line, hiding its
  plate for ~1.5 s;
- `queue`: every vehicle stops before the line for `stop_s` (8 s), then drives on;
- `side_by_side`: vehicles come in pairs, both lanes at once;
- `parked`: a car stands in view, plate readable, for the whole clip and never crosses the
  line (it is not in the truth: any passage of it is a false one);
- `dense`: two-way traffic on two lanes, entering on the right lane and leaving on the
  left, a vehicle every `dense_headway_s` (1.2 s) with a random jitter, so two or three
  vehicles are in view at once and they meet and overlap in the image;
- `dense_dusk`: the same at dusk: a quarter of the light, lower contrast, washed-out colour
  and noise sigma 6 (the camera's gain up, no IR yet);
- `dense_night`: the same with the night look of `night`.

The truth CSV has the header `plate,first_s,last_s,direction`: the seconds from the clip's
start during which the vehicle is in view, and `entering` or `leaving`. Clips are MJPG AVI
(OpenCV writes it without codecs); frames are made once per vehicle pose, so a 1080p clip of
a minute takes seconds to write.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from edge.drive_by import _paste, _road, _vehicle_patch
from edge.evaluation import Annotation
from edge.recognition import Image
from edge.truth import TruthVehicle, write_truth
from enforcement.records import Direction

CONDITIONS: Final = (
    "standard", "small8", "small5", "night", "blur", "rain", "occlusion", "queue",
    "side_by_side", "parked", "dense", "dense_dusk", "dense_night",
)  # fmt: skip
DENSE: Final = ("dense", "dense_dusk", "dense_night")


@dataclass(frozen=True, slots=True)
class Clip:
    video: Path
    truth: Path
    condition: str
    fps: float
    width: int
    height: int
    frames: int
    vehicles: tuple[TruthVehicle, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    patch: Image
    anchor: tuple[float, float, float]
    lane: float
    start: float
    heading: Direction
    stop_s: float
    stop_at: float
    """Progress (0..1) at which the vehicle stands for stop_s."""


def _night(frame: Image, noise: Image) -> Image:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    dark = cv2.LUT(grey, _NIGHT_LUT)
    noisy = cv2.add(cv2.convertScaleAbs(dark, beta=-10), noise)  # bank: 10 +- sigma
    return cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR)


def _dusk(frame: Image, noise: Image) -> Image:
    """Dusk without IR: a quarter of the light, colour washed out, the gain's noise on top."""
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    washed = cv2.addWeighted(frame, 0.5, grey, 0.5, 0.0)
    dark = cv2.LUT(washed, _DUSK_LUT)
    return cv2.add(cv2.convertScaleAbs(dark, beta=-6), noise)


_DUSK_LUT: Final = np.array(
    [min(255, round(12 + 255 * (i / 255) ** 1.3 * 0.25)) for i in range(256)], np.uint8
)
_NIGHT_LUT: Final = np.array(
    [min(255, round(255 * (i / 255) ** 1.8 * 0.6)) for i in range(256)], np.uint8
)


def make_clip(
    photos: Sequence[Annotation],
    out: Path,
    condition: str = "standard",
    *,
    width: int = 1920,
    height: int = 1080,
    fps: float = 10.0,
    pass_s: float = 3.0,
    headway_s: float = 2.0,
    stop_s: float = 8.0,
    dense_headway_s: float = 1.2,
    night: bool | None = None,
    seed: int = 11,
) -> Clip:
    """Write `out` (.avi) and `out.with_suffix('.csv')`: one vehicle per photo (for
    `parked`, the last photo is the parked car). `night` adds the night look to any
    condition (default: only to `night`)."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    rng = np.random.default_rng(seed)
    plate_width = {"small8": 0.08, "small5": 0.05}.get(condition, 0.12)
    road = _road(width, height, rng)
    grey_bank = condition in ("night", "dense_night") if night is None else night
    dusk = condition == "dense_dusk"
    sigma = 10.0 if grey_bank else 6.0 if condition in ("rain", "dense_dusk") else 3.0
    shape = (height, width) if grey_bank else (height, width, 3)
    bank = [np.clip(rng.normal(sigma, sigma, shape), 0, 255).astype(np.uint8) for _ in range(4)]
    rain = _rain_bank(width, height, rng) if condition == "rain" else []
    stop = stop_s if condition == "queue" else 0.0
    plans: list[_Plan] = []
    truth: list[TruthVehicle] = []
    t = 0.6
    for i, item in enumerate(photos):
        photo = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if photo is None:
            raise ValueError(f"cannot decode {item.image}")
        patch, anchor = _vehicle_patch(photo, item)
        heading: Direction = "leaving" if i % 4 == 3 else "entering"
        if condition in DENSE:
            heading = "entering" if i % 2 == 0 else "leaving"
            lane = 0.65 if heading == "entering" else 0.35
            start = t + float(rng.uniform(-0.3, 0.3))
            t += dense_headway_s
        elif condition == "side_by_side":
            lane = 0.3 if i % 2 == 0 else 0.7
            start = 0.6 + (i // 2) * (pass_s + 0.8)
        else:
            lane = 0.35 if i % 2 == 0 else 0.65
            start = t
            t += headway_s + stop + (pass_s if condition == "occlusion" else 0.0)
        plans.append(_Plan(patch, anchor, lane, start, heading, stop, 0.3))
        truth.append(TruthVehicle(item.plate, start, start + pass_s + stop, heading))
    parked: tuple[Image, tuple[float, float, float]] | None = None
    if condition == "parked":
        if not photos:
            raise ValueError("the parked condition needs a photo for the parked car")
        last = photos[-1]
        photo = cv2.imread(str(last.image), cv2.IMREAD_COLOR)
        if photo is None:
            raise ValueError(f"cannot decode {last.image}")
        parked = _vehicle_patch(photo, last)
        plans.pop()
        truth.pop()
    end = max((v.last_s for v in truth), default=0.0) + 1.0
    total = max(1, round(end * fps))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write video {out}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 20 if condition == "rain" else 85)
    blur = 11 * height // 1080 | 1 if condition == "blur" else 0
    try:
        for index in range(total):
            now = index / fps
            frame = road.copy()
            if parked is not None:
                _place(frame, parked[0], parked[1], 0.88, 0.62, plate_width * 1.1 * width, 0)
            poses = []
            for plan in plans:
                progress = _progress(now - plan.start, pass_s, plan.stop_s, plan.stop_at)
                if progress is None:
                    continue
                p = progress if plan.heading == "entering" else 1.0 - progress
                poses.append((p, plan))
            for p, plan in sorted(poses, key=lambda pose: pose[0]):  # nearer vehicles on top
                cy = 0.12 + 0.8 * p
                cx = plan.lane + (plan.lane - 0.5) * 0.35 * (p - 0.5)
                pw = plate_width * width * (0.55 + 0.9 * p)
                _place(frame, plan.patch, plan.anchor, cx, cy, pw, blur)
            if condition == "occlusion":
                _bus(frame, plans, now, pass_s)
            if grey_bank:
                frame = _night(frame, bank[index % len(bank)])
            elif dusk:
                frame = _dusk(frame, bank[index % len(bank)])
            else:
                frame = cv2.add(cv2.convertScaleAbs(frame, beta=-sigma), bank[index % 4])
            if rain:
                frame = cv2.add(frame, rain[index % len(rain)])
            writer.write(frame)
    finally:
        writer.release()
    truth_path = out.with_suffix(".csv")
    write_truth(truth, truth_path)
    return Clip(out, truth_path, condition, fps, width, height, total, tuple(truth))


def _progress(elapsed: float, pass_s: float, stop_s: float, stop_at: float) -> float | None:
    """Where along its path (0..1) a vehicle is `elapsed` s after it appeared; None: not in
    view. A stop holds it at `stop_at` for stop_s."""
    if elapsed < 0 or elapsed > pass_s + stop_s:
        return None
    moving_before = stop_at * pass_s
    if elapsed <= moving_before:
        return elapsed / pass_s
    if elapsed <= moving_before + stop_s:
        return stop_at
    return (elapsed - stop_s) / pass_s


def _place(
    frame: Image,
    patch: Image,
    anchor: tuple[float, float, float],
    cx: float,
    cy: float,
    plate_px: float,
    blur: int,
) -> None:
    height, width = frame.shape[:2]
    acx, acy, apw = anchor
    scale = plate_px / apw
    ph, pw = patch.shape[:2]
    size = (max(2, round(pw * scale)), max(2, round(ph * scale)))
    moving = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
    if blur > 1:
        kernel = np.zeros((blur, blur), np.float32)
        kernel[:, blur // 2] = 1.0 / blur
        moving = cv2.filter2D(moving, -1, kernel)
    _paste(frame, moving, round(cx * width - acx * scale), round(cy * height - acy * scale))


def _bus(frame: Image, plans: Sequence[_Plan], now: float, pass_s: float) -> None:
    """A bus crossing the frame left to right in front of each vehicle as it reaches the
    entry line: 0.5 frame widths long, it hides a plate for ~1.5 s."""
    height, width = frame.shape[:2]
    bus_w, bus_h = width // 2, int(height * 0.5)
    speed = (bus_w + width * 0.12) / 1.5  # px/s: its length plus a plate in 1.5 s
    for plan in plans:
        crossing = plan.start + pass_s * 0.5  # the vehicle is at the line
        x_plate = plan.lane * width
        # The bus's front passes the plate 0.75 s before the crossing, its back 0.75 s after.
        front = x_plate + (now - (crossing - 0.75)) * speed
        x1 = int(front - bus_w)
        if front < 0 or x1 > width:
            continue
        y1 = int(height * 0.5 - bus_h / 2)
        body = frame[y1 : y1 + bus_h, max(0, x1) : min(width, x1 + bus_w)]
        body[:] = (60, 90, 150)
        body[: bus_h // 3, :] = (40, 40, 40)  # windows


def _rain_bank(width: int, height: int, rng: np.random.Generator) -> list[Image]:
    bank = []
    for _ in range(4):
        layer = np.zeros((height, width, 3), np.uint8)
        for _ in range(400):
            x, y = int(rng.uniform(0, width)), int(rng.uniform(0, height))
            length = int(rng.uniform(15, 40))
            angle = math.radians(rng.uniform(75, 85))
            x2, y2 = int(x + length * math.cos(angle)), int(y + length * math.sin(angle))
            cv2.line(layer, (x, y), (x2, y2), (60, 60, 60), 1)
        bank.append(layer)
    return bank
