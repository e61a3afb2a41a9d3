"""Drive-by test videos from annotated still photos, with a ground-truth file.

Each vehicle is the part of a photo around its labelled plate, driven across a fixed
synthetic road: it enters the frame, crosses the entry line (a horizontal line at mid
height) while growing (coming closer, "entering") or shrinking ("leaving"), and leaves.
Motion blur along the travel, sensor noise, a slow lighting change and JPEG artefacts make
the reads imperfect, so voting has something to do; empty stretches between vehicles check
that the agent emits nothing when nothing passes.

The road is static apart from noise, so the motion gate sees the empty stretches as empty,
as it would a real empty road. Videos are MJPG AVI (OpenCV writes it without codecs).
Ground truth (`edge.truth`'s CSV next to the video, which `zes edge replay --truth` reads):
per vehicle the plate, the seconds in which it is in view and its direction; `DriveBy`
also gives the frame span of each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.evaluation import Annotation
from edge.recognition import Image
from edge.truth import TruthVehicle, write_truth
from enforcement.records import Direction

ENTRY_LINE = ((0.0, 0.5), (1.0, 0.5), "right")
"""The entry line the generated videos are made for: inside = below mid height."""


@dataclass(frozen=True, slots=True)
class VehiclePass:
    plate: str
    direction: Direction
    first_frame: int
    last_frame: int
    image: str


@dataclass(frozen=True, slots=True)
class DriveBy:
    video: Path
    truth: Path
    fps: float
    width: int
    height: int
    frames: int
    vehicles: tuple[VehiclePass, ...]


def _road(width: int, height: int, rng: np.random.Generator) -> Image:
    y = np.linspace(90, 130, height, dtype=np.float32)[:, None]
    base = np.repeat(y, width, axis=1)
    base += rng.normal(0, 6, (height, width)).astype(np.float32)
    road = cv2.GaussianBlur(base, (0, 0), 1.5)
    image = np.clip(np.stack([road, road, road * 1.03], axis=-1), 0, 255).astype(np.uint8)
    for x in (0.2, 0.8):  # lane edges
        cv2.line(image, (int(width * x), 0), (int(width * (x + (x - 0.5) * 0.4)), height),
                 (200, 200, 200), max(2, width // 200))  # fmt: skip
    return image


def _vehicle_patch(photo: Image, item: Annotation) -> tuple[Image, tuple[float, float, float]]:
    """Crop around the plate; return the patch and the plate's (cx, cy, width) within it."""
    h, w = photo.shape[:2]
    box = item.box
    pw = max(8, box.width)
    half_w, up, down = int(pw * 2.0), int(pw * 1.6), int(pw * 0.8)
    cx, cy = (box.x1 + box.x2) // 2, (box.y1 + box.y2) // 2
    x1, x2 = max(0, cx - half_w), min(w, cx + half_w)
    y1, y2 = max(0, cy - up), min(h, cy + down)
    patch = photo[y1:y2, x1:x2].copy()
    return patch, (cx - x1, cy - y1, float(pw))


def _paste(frame: Image, patch: Image, x: int, y: int) -> None:
    """Paste `patch` with its top-left at (x, y), clipped to the frame."""
    fh, fw = frame.shape[:2]
    ph, pw = patch.shape[:2]
    fx1, fy1 = max(0, x), max(0, y)
    fx2, fy2 = min(fw, x + pw), min(fh, y + ph)
    if fx2 <= fx1 or fy2 <= fy1:
        return
    frame[fy1:fy2, fx1:fx2] = patch[fy1 - y : fy2 - y, fx1 - x : fx2 - x]


def make_drive_by(
    photos: Sequence[Annotation],
    out: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 10.0,
    pass_s: float = 2.0,
    gap_s: float = 1.0,
    plate_width: float = 0.16,
    directions: Sequence[Direction] = ("entering", "leaving"),
    seed: int = 7,
    jpeg_quality: int = 70,
    noise: float = 3.0,
) -> DriveBy:
    """Write `out` (.avi) and its truth `out.with_suffix('.csv')`: one pass per photo, gaps
    between.

    `plate_width` is the plate's width at the entry line as a fraction of the frame width.
    """
    rng = np.random.default_rng(seed)
    road = _road(width, height, rng)
    # A small bank of noise frames, cycled: per-frame Gaussian noise at 1080p costs more
    # than everything else the generator does.
    bank = [
        np.clip(rng.normal(noise, noise, (height, width, 3)), 0, 255).astype(np.uint8)
        for _ in range(5)
    ]
    gap = round(gap_s * fps)
    span = max(4, round(pass_s * fps))
    total = gap + len(photos) * (span + gap)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write video {out}")
    plan: list[tuple[int, Annotation, Image, tuple[float, float, float], str]] = []
    vehicles: list[VehiclePass] = []
    for i, item in enumerate(photos):
        photo = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if photo is None:
            raise ValueError(f"cannot decode {item.image}")
        patch, anchor = _vehicle_patch(photo, item)
        start = gap + i * (span + gap)
        direction: Direction = directions[i % len(directions)]
        plan.append((start, item, patch, anchor, direction))
        vehicles.append(
            VehiclePass(item.plate, direction, start, start + span - 1, item.image.name)
        )
    try:
        for index in range(total):
            frame = road.copy()
            for start, _item, patch, (acx, acy, apw), heading in plan:
                t = (index - start) / max(1, span - 1)
                if not 0.0 <= t <= 1.0:
                    continue
                # Entering: top -> bottom, growing; leaving: bottom -> top, shrinking.
                progress = t if heading == "entering" else 1.0 - t
                cy = height * (0.22 + 0.58 * progress)
                cx = width * (0.42 + 0.16 * progress)
                target_pw = width * plate_width * (0.8 + 0.45 * progress)
                scale = target_pw / apw
                ph, pw = patch.shape[:2]
                size = (max(2, round(pw * scale)), max(2, round(ph * scale)))
                moving = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
                blur = 1 + 2 * int(2 * abs(math.sin(index * 1.3)))  # 1, 3 or 5 px along travel
                if blur > 1:
                    kernel = np.zeros((blur, blur), np.float32)
                    kernel[:, blur // 2] = 1.0 / blur
                    moving = cv2.filter2D(moving, -1, kernel)
                _paste(frame, moving, round(cx - acx * scale), round(cy - acy * scale))
            light = 1.0 + 0.12 * math.sin(2 * math.pi * index / max(1, total))
            frame = cv2.convertScaleAbs(frame, alpha=light, beta=-noise)
            frame = cv2.add(frame, bank[index % len(bank)])  # zero-mean: beta removed it
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
            writer.write(frame if decoded is None else decoded)
    finally:
        writer.release()
    truth = out.with_suffix(".csv")
    result = DriveBy(out, truth, fps, width, height, total, tuple(vehicles))
    write_truth(
        [TruthVehicle(v.plate, v.first_frame / fps, v.last_frame / fps, v.direction)
         for v in vehicles],
        truth,
    )  # fmt: skip
    return result
