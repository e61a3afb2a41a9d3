"""Harder variants of an annotated still, for `zes edge eval --variant` and the clip maker.

Each variant turns a real photo and its labelled plate box into what a roadside camera gives
on a bad day, and moves the box with it, so detection and reading can be measured per
condition on real plates:

- `small8`, `small5`: the photo shrunk so the plate is 8% / 5% of the width of a 1920x1080
  frame, placed in an otherwise empty (noisy grey) frame: a distant vehicle on a 1080p view;
- `night`: greyscale (an IR-lit camera), dark (gamma 1.8, gain 0.6) and sensor noise (sigma 10);
- `blur`: horizontal motion blur over a twentieth of the plate width (2.6 cm: a 1/500 s
  exposure of a car at 50 km/h);
- `jpeg20`: noise (sigma 6) and JPEG quality 20 (a starved uplink, rain on the lens);
- `skew20`: the image sheared so the plate's baseline tilts by 20 degrees (a camera beside
  the lane rather than above it);
- `occluded`: the lower 30% of the plate covered by a dark bar (a tow bar, a bicycle rack).

Deterministic: the noise of image `i` comes from a generator seeded with `seed + i`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import cv2
import numpy as np

from edge.recognition import Box, Image

FRAME_1080P: Final = (1920, 1080)


def _noisy(image: Image, sigma: float, rng: np.random.Generator) -> Image:
    noise = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    out: Image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return out


def night(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    dark = (np.power(grey, 1.8) * 0.6 * 255.0).astype(np.uint8)
    return cv2.cvtColor(_noisy(dark, 10.0, rng), cv2.COLOR_GRAY2BGR), box


def blur(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
    size = max(3, box.width // 20) | 1
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0 / size
    return cv2.filter2D(image, -1, kernel), box


def jpeg20(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
    ok, data = cv2.imencode(".jpg", _noisy(image, 6.0, rng), [cv2.IMWRITE_JPEG_QUALITY, 20])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    return (image if decoded is None else decoded), box


def skew20(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
    h, w = image.shape[:2]
    shear = math.tan(math.radians(20))
    cx = (box.x1 + box.x2) / 2
    # y' = y + shear * (x - cx): the plate's baseline tilts; the frame grows to keep it all.
    grow = int(abs(shear) * w / 2) + 1
    matrix = np.array([[1.0, 0.0, 0.0], [shear, 1.0, grow - shear * cx]], np.float32)
    out = cv2.warpAffine(image, matrix, (w, h + 2 * grow), borderMode=cv2.BORDER_REPLICATE)
    corners = np.array(
        [[box.x1, box.y1, 1], [box.x2, box.y1, 1], [box.x1, box.y2, 1], [box.x2, box.y2, 1]],
        np.float32,
    )
    moved = corners @ matrix.T
    ys = moved[:, 1]
    return out, Box(box.x1, int(ys.min()), box.x2, math.ceil(ys.max()))


def occluded(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
    out = image.copy()
    top = box.y2 - max(1, round(box.height * 0.3))
    out[top : box.y2 + 2, box.x1 - 4 : box.x2 + 4] = (25, 25, 30)
    return out, box


def _small(fraction: float) -> Callable[[Image, Box, np.random.Generator], tuple[Image, Box]]:
    def make(image: Image, box: Box, rng: np.random.Generator) -> tuple[Image, Box]:
        fw, fh = FRAME_1080P
        scale = fraction * fw / max(1, box.width)
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        photo = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        frame = _noisy(np.full((fh, fw, 3), 105, np.uint8), 4.0, rng)
        # Plate centre at a random place in the lower two thirds (an approaching vehicle).
        pcx, pcy = (box.x1 + box.x2) / 2 * scale, (box.y1 + box.y2) / 2 * scale
        tx = int(rng.uniform(0.2, 0.8) * fw - pcx)
        ty = int(rng.uniform(0.4, 0.85) * fh - pcy)
        x1, y1 = max(0, tx), max(0, ty)
        x2, y2 = min(fw, tx + size[0]), min(fh, ty + size[1])
        frame[y1:y2, x1:x2] = photo[y1 - ty : y2 - ty, x1 - tx : x2 - tx]
        moved = Box(
            round(box.x1 * scale) + tx,
            round(box.y1 * scale) + ty,
            round(box.x2 * scale) + tx,
            round(box.y2 * scale) + ty,
        )
        return frame, moved

    return make


VARIANTS: Final[dict[str, Callable[[Image, Box, np.random.Generator], tuple[Image, Box]]]] = {
    "small8": _small(0.08),
    "small5": _small(0.05),
    "night": night,
    "blur": blur,
    "jpeg20": jpeg20,
    "skew20": skew20,
    "occluded": occluded,
}


def make_variant(name: str, image: Image, box: Box, seed: int = 0) -> tuple[Image, Box]:
    """The variant `name` of `image` with its plate box moved along ("none": unchanged)."""
    if name == "none":
        return image, box
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r} (known: none, {', '.join(VARIANTS)})")
    return VARIANTS[name](image, box, np.random.default_rng(seed))
