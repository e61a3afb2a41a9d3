"""What a simulated camera of `zes up` saw: a synthetic vehicle front on a road with the plate
text on a Dutch-style yellow plate, and the site, camera and time stamped in the top-left
corner, as roadside cameras stamp their frames.

A register vehicle is drawn in its registered colour (`eerste_kleur`) with a shape for its
kind (car, van, truck, bus, two-wheeler, trailer), so the officer's check "is the vehicle in
the photo the one the register describes?" (issue 21) is real in the demo.

Drawn with OpenCV in the size of the drive-by videos (640 × 360): flat colours keep the
JPEGs small (about 15 kB the overview, 3 kB the crop), so 20 passages a second stay cheap to
draw, publish and store. Demo only: nothing here is ever read as a real sighting.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import cv2
import numpy as np

from edge.recognition import Box, Image
from enforcement.model import LOCAL_TZ, Vehicle
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
#: RDW `eerste_kleur` -> BGR. Yellow is a mustard, never the plate's own yellow.
REGISTERED_COLOURS: Final = {
    "WIT": (235, 235, 235),
    "ZWART": (35, 35, 35),
    "GRIJS": (140, 140, 145),
    "BLAUW": (160, 70, 30),
    "ROOD": (40, 40, 185),
    "GROEN": (50, 110, 40),
    "GEEL": (20, 150, 200),
    "BRUIN": (40, 70, 110),
    "ORANJE": (20, 110, 230),
    "BEIGE": (150, 185, 205),
    "PAARS": (120, 40, 100),
    "ROSE": (185, 150, 230),
    "CREME": (200, 230, 240),
}
Shape = Literal["car", "van", "truck", "bus", "two_wheeler", "trailer"]


@dataclass(frozen=True, slots=True)
class VehicleLook:
    """How a simulated camera draws a register vehicle: its registered colour and a shape
    for its kind."""

    colour: str | None
    """RDW `eerste_kleur` (`WIT`); None or unknown: a colour drawn at random."""
    shape: Shape = "car"


def look_of(vehicle: Vehicle) -> VehicleLook:
    """The look of a register vehicle: colour as registered, shape by kind, category and
    mass (N1 or <= 3,500 kg a van, heavier goods vehicles a truck)."""
    kind = vehicle.kind or ""
    shape: Shape = "car"
    if kind == "Bedrijfsauto":
        heavy = vehicle.eu_category in ("N2", "N3") or (vehicle.max_mass_kg or 0) > 3500
        shape = "truck" if heavy else "van"
    elif kind == "Bus":
        shape = "bus"
    elif kind in ("Motorfiets", "Bromfiets"):
        shape = "two_wheeler"
    elif kind in ("Aanhangwagen", "Oplegger"):
        shape = "trailer"
    return VehicleLook(vehicle.colour, shape)


#: Per shape: half width, top of the body, bottom, windscreen (top, bottom) below the top.
_SHAPES: Final[dict[str, tuple[int, int, int, tuple[int, int] | None]]] = {
    "car": (150, 95, 330, (10, 64)),
    "van": (155, 45, 330, (12, 95)),
    "truck": (185, 15, 335, (20, 100)),
    "bus": (180, 10, 335, (15, 135)),
    "two_wheeler": (55, 150, 330, None),
    "trailer": (175, 40, 330, None),
}
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


def _body_colour(look: VehicleLook | None, rng: random.Random) -> tuple[int, int, int]:
    registered = REGISTERED_COLOURS.get((look.colour or "").upper()) if look else None
    return registered if registered is not None else rng.choice(BODY_COLOURS)


def _vehicle_front(
    image: Image, cx: int, rng: random.Random, look: VehicleLook | None = None
) -> tuple[int, int]:
    """A vehicle seen from the front, centred at `cx`; returns where the plate's top-left
    goes. Without a look: a car in a colour drawn at random (an unknown plate)."""
    body = _body_colour(look, rng)
    shape = look.shape if look else "car"
    if shape == "car":
        _car_front(image, cx, body)
        return cx - PLATE_SIZE[0] // 2, 330 - 41
    half, top, bottom, glass = _SHAPES[shape]
    darker = tuple(int(c * 0.6) for c in body)
    wheel = 25 if shape == "two_wheeler" else 40
    for wx in {cx - half + 10, cx + half - 10 - wheel}:  # wheels under the body
        cv2.rectangle(image, (wx, bottom - 20), (wx + wheel, bottom + 15), BLACK, cv2.FILLED)
    cv2.rectangle(image, (cx - half, top), (cx + half, bottom), body, cv2.FILLED)
    if glass is not None:  # a flat windscreen high up: vans, trucks and buses
        cv2.rectangle(
            image, (cx - half + 14, top + glass[0]), (cx + half - 14, top + glass[1]),
            (90, 70, 60), cv2.FILLED,
        )  # fmt: skip
    if shape == "truck":  # the big grille of a cab-over truck
        cv2.rectangle(image, (cx - 110, top + 150), (cx + 110, top + 230), darker, cv2.FILLED)
    if shape == "two_wheeler":  # one headlight
        cv2.circle(image, (cx, top + 40), 22, (225, 240, 250), cv2.FILLED)
    elif shape != "trailer":
        for lx in (cx - half + 12, cx + half - 72):  # headlights
            y = bottom - 95
            cv2.rectangle(image, (lx, y), (lx + 60, y + 27), (225, 240, 250), cv2.FILLED)
    cv2.rectangle(image, (cx - half, bottom - 45), (cx + half, bottom), darker, cv2.FILLED)
    return cx - PLATE_SIZE[0] // 2, bottom - 41


def _car_front(image: Image, cx: int, body: tuple[int, int, int]) -> None:
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


def stamp_lines(site_id: str, camera_id: str, at: datetime) -> tuple[str, str]:
    """The stamp's text: site and camera, and the capture instant in Dutch local time with
    its zone (CET/CEST), as the case page shows it: a UTC stamp (07:01) beside the page's
    local 08:01 made officers doubt the evidence (issue 26)."""
    local = at.astimezone(LOCAL_TZ)
    return f"{site_id} / {camera_id}", local.strftime("%Y-%m-%d %H:%M:%S %Z")


def _stamp(image: Image, site_id: str, camera_id: str, at: datetime) -> None:
    lines = stamp_lines(site_id, camera_id, at)
    cv2.rectangle(image, (0, 0), (250, 44), BLACK, cv2.FILLED)
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
    look: VehicleLook | None = None,
) -> tuple[Image, Box]:
    """The overview frame of one passage and the plate's box in it; `look`: the register
    vehicle's colour and shape (None: an unknown plate, a car in a random colour)."""
    image = _road().copy()
    cx = WIDTH // 2 + rng.randrange(-60, 61)
    x, y = _vehicle_front(image, cx, rng, look)
    box = draw_plate(image, plate, x, y)
    _stamp(image, site_id, camera_id, at)
    return image, box
