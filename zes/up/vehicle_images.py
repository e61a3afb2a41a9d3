"""What a simulated camera of `zes up` saw: a synthetic vehicle front on a road with the plate
text on a Dutch-style yellow plate, and the site, camera and time stamped in the top-left
corner, as roadside cameras stamp their frames.

Drawn with OpenCV in the size of the drive-by videos (640 × 360): flat colours keep the
JPEGs small (about 15 kB the overview, 3 kB the crop), so 20 passages a second stay cheap to
draw, publish and store. Demo only: nothing here is ever read as a real sighting.
"""

from __future__ import annotations

import functools
import random
from datetime import datetime

import cv2
import numpy as np

from edge.recognition import Box, Image
from enforcement.model import LOCAL_TZ
from enforcement.plates import format_plate

WIDTH, HEIGHT = 640, 360
# Colours are BGR, as OpenCV draws.
PLATE_YELLOW = (0, 204, 255)
"""The Dutch plate's yellow (RGB 255, 204, 0)."""
EU_BLUE = (153, 51, 0)
"""The EU band's blue (RGB 0, 51, 153)."""
BLACK = (20, 20, 20)
WHITE = (245, 245, 245)
BODY_COLOURS = (
    (200, 200, 200), (40, 40, 40), (160, 60, 30), (30, 30, 150), (230, 230, 230),
    (90, 110, 120), (40, 90, 40), (140, 140, 150),
)  # fmt: skip
PLATE_SIZE = (170, 37)
"""Width and height in pixels: the 520 × 110 mm plate, about 4.7 : 1."""
FONT = cv2.FONT_HERSHEY_DUPLEX


@functools.cache
def _road() -> Image:
    """The empty road (drawn once; every frame starts from a copy)."""
    shade = np.linspace(105, 140, HEIGHT, dtype=np.uint8)[:, None]
    grey = np.repeat(shade, WIDTH, axis=1)
    image = np.stack([grey, grey, grey], axis=-1)
    for x in (0.12, 0.88):  # lane edges
        top = (int(WIDTH * x), 0)
        bottom = (int(WIDTH * (x + (x - 0.5) * 0.3)), HEIGHT)
        cv2.line(image, top, bottom, (215, 215, 215), 3)
    return image


def _fit_text(text: str, width: int, height: int) -> tuple[float, int]:
    """The largest font scale (and its stroke) at which `text` fits the box."""
    (w, h), _ = cv2.getTextSize(text, FONT, 1.0, 2)
    scale = min(width / max(1, w), height / max(1, h))
    return scale, max(1, round(2 * scale))


def draw_plate(image: Image, plate: str, x: int, y: int) -> Box:
    """A Dutch-style plate with its top-left corner at (x, y); returns its box."""
    w, h = PLATE_SIZE
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), PLATE_YELLOW, cv2.FILLED)
    band = w // 10
    cv2.rectangle(image, (x, y), (x + band, y + h - 1), EU_BLUE, cv2.FILLED)
    scale, stroke = _fit_text("NL", band - 4, h // 3)
    cv2.putText(image, "NL", (x + 2, y + h - 5), FONT, scale, WHITE, 1, cv2.LINE_AA)
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), BLACK, 1)
    text = format_plate(plate)
    room = w - band - 12
    scale, stroke = _fit_text(text, room, int(h * 0.62))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, stroke)
    origin = (x + band + 6 + (room - tw) // 2, y + (h + th) // 2)
    cv2.putText(image, text, origin, FONT, scale, BLACK, stroke, cv2.LINE_AA)
    return Box(x, y, x + w, y + h)


def _vehicle_front(image: Image, cx: int, rng: random.Random) -> tuple[int, int]:
    """A car seen from the front, centred at `cx`; returns where the plate's top-left goes."""
    body = rng.choice(BODY_COLOURS)
    darker = tuple(int(c * 0.6) for c in body)
    half, top, bottom = 150, 95, 330
    for wx in (cx - half + 10, cx + half - 50):  # wheels under the body
        cv2.rectangle(image, (wx, bottom - 20), (wx + 40, bottom + 15), BLACK, cv2.FILLED)
    roof = np.array([[cx - 95, top], [cx + 95, top], [cx + 125, top + 70], [cx - 125, top + 70]])
    cv2.fillPoly(image, [roof], body)
    glass = np.array(
        [[cx - 85, top + 10], [cx + 85, top + 10], [cx + 108, top + 64], [cx - 108, top + 64]]
    )
    cv2.fillPoly(image, [glass], (90, 70, 60))
    cv2.rectangle(image, (cx - half, top + 70), (cx + half, bottom), body, cv2.FILLED)
    for lx in (cx - half + 12, cx + half - 72):  # headlights
        cv2.rectangle(image, (lx, top + 95), (lx + 60, top + 122), (225, 240, 250), cv2.FILLED)
    cv2.rectangle(image, (cx - 70, top + 98), (cx + 70, top + 130), darker, cv2.FILLED)
    cv2.rectangle(image, (cx - half, bottom - 45), (cx + half, bottom), darker, cv2.FILLED)
    return cx - PLATE_SIZE[0] // 2, bottom - 41


def stamp_lines(site_id: str, camera_id: str, at: datetime, zone: str = "") -> tuple[str, str]:
    """The frame's stamp: where (zone, site, camera) and when, in Dutch local time with its
    abbreviation (CET/CEST), the time the review app's pages show beside the image."""
    where = f"{zone} - {site_id} / {camera_id}" if zone else f"{site_id} / {camera_id}"
    return where, at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")


def _stamp(image: Image, site_id: str, camera_id: str, at: datetime, zone: str = "") -> None:
    lines = stamp_lines(site_id, camera_id, at, zone)
    width = 12 + max(
        cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0] for line in lines
    )
    cv2.rectangle(image, (0, 0), (max(250, width), 44), BLACK, cv2.FILLED)
    for i, line in enumerate(lines):
        cv2.putText(image, line, (6, 18 + 19 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, WHITE, 1,
                    cv2.LINE_AA)  # fmt: skip


def render_passage(
    plate: str,
    *,
    site_id: str,
    camera_id: str,
    at: datetime,
    rng: random.Random,
    zone: str = "",
) -> tuple[Image, Box]:
    """The overview frame of one passage (stamped with `zone`'s name, site, camera and
    local time) and the plate's box in it."""
    image = _road().copy()
    cx = WIDTH // 2 + rng.randrange(-60, 61)
    x, y = _vehicle_front(image, cx, rng)
    box = draw_plate(image, plate, x, y)
    _stamp(image, site_id, camera_id, at, zone)
    return image, box
