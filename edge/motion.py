"""The motion gate: is anything moving inside the region of interest, and where?

The camera worker detects only where the image moved (and around its open tracks); frames
without motion are not detected on at all. This module is that first, cheap look.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.recognition import Box, Image


class MotionGate:
    """Is anything moving inside the ROI, and where? Frame difference on a small grey copy.

    The copy is 160 px wide and area-averaged, which also averages sensor noise away (a
    night frame's per-pixel noise does not make a parked car "move"). It averages every
    third or fourth row only: of a 1080p frame, 12 x 3 pixels a point instead of 12 x 12
    (noise sigma 10 -> 1.7 levels before the blur, the threshold is at least 6), at a
    quarter of the cost (1.38 -> 0.32 ms a frame, the gate's whole cost)."""

    def __init__(
        self, roi: Sequence[tuple[float, float]] | None, fraction: float, width: int = 160
    ) -> None:
        self.roi = roi
        self.fraction = fraction
        self.width = width
        self._previous: Image | None = None
        self._mask: Image | None = None
        self.changed: Image | None = None
        """Pixels of the small copy that changed since the previous frame (None: first)."""

    def moved(self, image: Image) -> bool:
        h, w = image.shape[:2]
        small_h = max(1, round(h * self.width / w))
        rows = max(1, h // (small_h * 3))
        small = cv2.resize(image[::rows], (self.width, small_h), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._mask is None or self._mask.shape != grey.shape:
            mask = np.zeros_like(grey)
            if self.roi:
                points = np.array([(x * self.width, y * small_h) for x, y in self.roi], np.int32)
                cv2.fillPoly(mask, [points], 255)
            else:
                mask[:] = 255
            self._mask = mask
            self._previous = None
        mask = self._mask
        previous, self._previous = self._previous, grey
        if previous is None:
            self.changed = None
            return True
        # A change of 20 grey levels is motion by day; a dark (night, IR) scene has less
        # contrast to change, so the threshold follows its brightness (at least 6: the
        # small copy's noise stays under 1 level even at sigma 10 on the full frame).
        threshold = max(6.0, min(20.0, float(grey.mean()) / 5))
        changed = (cv2.absdiff(grey, previous) > threshold) & (mask > 0)
        self.changed = changed
        if self.fraction <= 0:
            return True
        inside = max(1, int(np.count_nonzero(mask)))
        return bool(np.count_nonzero(changed) / inside >= self.fraction)

    def regions(self, width: int, height: int, min_pixels: int = 3) -> list[Box]:
        """Boxes (frame pixels) around the moving blobs of the last frame, a margin added."""
        if self.changed is None:
            return []
        blobs = cv2.dilate(self.changed.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
        sx = width / self.changed.shape[1]
        sy = height / self.changed.shape[0]
        found = []
        for x, y, w, h, area in stats[1:count]:
            if area < min_pixels:
                continue
            mx, my = 0.15 * w + 1, 0.15 * h + 1  # the blob's edges lag the vehicle's
            found.append(
                Box(
                    max(0, int((x - mx) * sx)), max(0, int((y - my) * sy)),
                    min(width, int((x + w + mx) * sx)), min(height, int((y + h + my) * sy)),
                )
            )  # fmt: skip
        return found

    def motion_at(self, box: Box, width: int, height: int) -> bool | None:
        """Did the image change around `box` since the previous frame (None: first frame)?"""
        if self.changed is None:
            return None
        sx = self.changed.shape[1] / width
        sy = self.changed.shape[0] / height
        mx, my = box.width * 0.5, box.height
        x1, y1 = max(0, int((box.x1 - mx) * sx)), max(0, int((box.y1 - my) * sy))
        x2, y2 = int((box.x2 + mx) * sx) + 1, int((box.y2 + my) * sy) + 1
        return bool(np.count_nonzero(self.changed[y1:y2, x1:x2]))


def merge_regions(regions: Sequence[Box]) -> list[Box]:
    """Overlapping regions merged into their bounding box, until none overlap."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for region in merged:
            for i, other in enumerate(out):
                if region.iou(other) > 0 or _overlaps(region, other):
                    out[i] = Box(
                        min(region.x1, other.x1), min(region.y1, other.y1),
                        max(region.x2, other.x2), max(region.y2, other.y2),
                    )  # fmt: skip
                    changed = True
                    break
            else:
                out.append(region)
        merged = out
    return merged


def _overlaps(a: Box, b: Box) -> bool:
    return a.x1 < b.x2 and b.x1 < a.x2 and a.y1 < b.y2 and b.y1 < a.y2
