"""Which plates a camera has seen moments ago: one vehicle, one passage, however many tracks."""

from __future__ import annotations

from enforcement.plate_formats import MIN_PLATE_LENGTH
from enforcement.plates import fold_lookalikes


class PlateMemory:
    """Per camera: when each plate (folded by look-alikes) was last seen, in frame time.

    A vehicle hidden by a bus, queued or stopped comes back as a second track; when its
    plate folds equal to one seen within `window_s` it is the same vehicle, and its reads
    merge into the passage already made instead of making a second one."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last: dict[str, float] = {}

    def seen(self, plate: str, first_seen: float, last_seen: float) -> bool:
        """Record a track of `plate`; True when the plate was seen within the window before."""
        key = fold_lookalikes(plate)
        previous = self._last.get(key)
        if previous is None and len(key) >= MIN_PLATE_LENGTH:
            # A part of a plate seen moments ago (a one-frame read of "PD72" while PD722BF
            # passed, in dense traffic at dusk) is that vehicle, not another.
            previous = max(
                (v for k, v in self._last.items() if key in k and k != key), default=None
            )
        self._last[key] = max(last_seen, previous or last_seen)
        if len(self._last) > 4096:  # a long quiet spell: forget what is outside the window
            self._last = {k: v for k, v in self._last.items() if last_seen - v <= self.window_s}
        return previous is not None and first_seen - previous <= self.window_s
