"""Which way a vehicle went: the side of the entry line it came from and went to.

Pure geometry in frame fractions (0..1, image coordinates, y down). The entry line is two
points and the side (`left` or `right` of a->b) that is inside the zone.
"""

from __future__ import annotations

import math
from typing import Literal

from enforcement.records import Direction

PointF = tuple[float, float]
Line = tuple[PointF, PointF, Literal["left", "right"]]


def side_of_line(point: PointF, a: PointF, b: PointF) -> Literal["left", "right", "on"]:
    """Which side of the line a->b `point` lies on, in image coordinates (y down)."""
    cross = (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])
    if abs(cross) < 1e-9:
        return "on"
    return "right" if cross > 0 else "left"


def crossed(first: PointF, last: PointF, line: Line) -> bool:
    start, end = side_of_line(first, line[0], line[1]), side_of_line(last, line[0], line[1])
    return "on" not in (start, end) and start != end


MIN_MOTION_TOWARDS_LINE = 0.03
"""Least movement across the line's direction (frame fractions) that gives a direction to a
track that did not cross it: a split half or a vehicle first seen past the line."""


def direction(first: PointF, last: PointF, line: Line | None) -> Direction:
    """entering / leaving when the track crossed the line; else from its motion vector across
    the line (towards the inside is entering) when it moved enough; else unknown."""
    if line is None:
        return "unknown"
    a, b, inside = line
    start, end = side_of_line(first, a, b), side_of_line(last, a, b)
    if "on" not in (start, end) and start != end:
        return "entering" if end == inside else "leaving"
    # The unit normal of a->b pointing to its right side (image coordinates, y down).
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    towards_right = (last[0] - first[0]) * nx + (last[1] - first[1]) * ny
    if abs(towards_right) < MIN_MOTION_TOWARDS_LINE:
        return "unknown"
    to_inside = towards_right if inside == "right" else -towards_right
    return "entering" if to_inside > 0 else "leaving"
