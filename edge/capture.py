"""Camera capture: one grabber thread per camera, reconnecting, never falling behind.

In `live` mode the grabber keeps only the newest frame: when recognition is slower than the
camera, older frames are overwritten (and counted as dropped), so the agent always works on
what the camera sees now instead of drifting minutes behind.

Every frame carries two times:
- `t`, the *frame time*: seconds on a monotonic clock, what tracking measures gaps in. For a
  file it is the position in the file (index / fps, continued across loops); for a stream the
  stream's own timestamps (CAP_PROP_POS_MSEC) mapped onto `time.monotonic`, re-anchored when
  they jump, or the monotonic arrival time when the stream has none. A wall-clock step (NTP
  on a box without an RTC battery) can therefore neither split nor merge a track.
- `at`, the wall time (UTC) of the capture instant, what a passage's `seen_at` says: the
  arrival time for a live source; for a file in `every_frame` mode the time the capture
  started plus `t`, so a replay sees the same frames and time-outs however fast it runs.

A camera's `max_fps` (12.5 by default) is how many frames a second are handed out; the
others are decoded, as the codec needs, but not converted to BGR (`Capture._passes_over`).

Problems never end the agent: an unreachable URL, a missing or corrupt file, or a camera that
stops sending gives a log line that says which, a `zes_edge_camera_errors_total{kind}` count
and `zes_edge_camera_up 0`, then a reconnect with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import cv2

from edge.metrics import EdgeMetrics
from edge.recognition import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    camera_id: str
    index: int
    at: datetime
    """Wall time (UTC) of the capture instant."""
    image: Image
    t: float | None = None
    """Frame time: seconds on a monotonic clock (None: use `at`, for hand-made frames)."""

    @property
    def time_s(self) -> float:
        """The frame time tracking uses: `t`, else `at` as a POSIX timestamp."""
        return self.t if self.t is not None else self.at.timestamp()


def _utc_now() -> datetime:
    return datetime.now(UTC)


STREAM_REANCHOR_S = 2.0
"""Stream timestamps that drift this far from the arrival clock (a camera restart, a wrap)
are re-anchored to it, so frame time stays monotonic and close to real elapsed time."""


def is_file_source(source: str | int) -> bool:
    return isinstance(source, str) and "://" not in source


SECRET_PARAMETERS: Final = frozenset({
    "password", "passwd", "pwd", "pass", "token", "key", "secret", "auth", "apikey",
    "api_key", "access_token", "sig", "signature", "credentials",
})  # fmt: skip
"""Parameter names (any case) whose values a log line never shows."""

_HOST = re.compile(r"[A-Za-z0-9._~%\-\[\]:]+(?=[/?#]|$)")
_PARAMETER = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&;#/?]*)")


def describe(source: str | int) -> str:
    """The source for a log line, without the credentials a camera URL may carry.

    Parsed, not split on the first `@`: a password may itself hold `@` or `/` (cameras are
    configured by hand), so the user info is everything before the *last* `@` that is
    followed by a host and then `/`, `?`, `#` or the end; it is replaced by `***`. When in
    doubt more is hidden, never less. Then every `name=value` after the host whose name is a
    secret (`SECRET_PARAMETERS`: password, pwd, pass, token, key, ...) keeps its name and
    loses its value, in the query and in path segments (`/user=admin&password=...`)."""
    if isinstance(source, int):
        return f"device {source}"
    if "://" not in source:
        return source
    scheme, rest = source.split("://", 1)
    for at in reversed([i for i, c in enumerate(rest) if c == "@"]):
        if _HOST.match(rest, at + 1):
            rest = "***@" + rest[at + 1 :]
            break

    def mask(match: re.Match[str]) -> str:
        if match.group("name").lower() in SECRET_PARAMETERS:
            return f"{match.group('name')}=***"
        return match.group(0)

    host_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return f"{scheme}://{rest[:host_end]}{_PARAMETER.sub(mask, rest[host_end:])}"


class Capture:
    """A camera's grabber thread; `get` hands out frames, `finished` after a file's end."""

    def __init__(
        self,
        camera_id: str,
        source: str | int,
        mode: Literal["live", "every_frame"] = "live",
        loop_file: bool = False,
        metrics: EdgeMetrics | None = None,
        timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        wall_clock: Callable[[], datetime] = _utc_now,
        max_fps: float | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.max_fps = max_fps
        """Hand out no more frames a second than this (None: every frame); see `_passes_over`."""
        self._last_handed_t: float | None = None
        self.frames_passed_over = 0
        """Frames decoded but not handed out (above `max_fps`)."""
        self.source = source
        self.mode = mode
        self.loop_file = loop_file
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.wall_clock = wall_clock
        self.started_at: datetime | None = None
        """Wall time when capture started: a file's frame `at` is this plus its `t`."""
        self._file_offset_s = 0.0  # frame time of a file's first frame (grows per loop)
        self._last_t = -1.0
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=8)
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.frames_dropped = 0
        self.errors: dict[str, int] = {}
        self.up = False
        self.read_stall_s: float | None = None
        """A live source whose read gives no frame this long is marked down and reopened by
        `check_stall` (None: never; the agent sets it from its health settings)."""
        self.last_frame_monotonic: float | None = None
        """`time.monotonic()` of the newest frame read (None before the first)."""
        self.started_monotonic: float | None = None
        self.stalls = 0

    # -- consumer side -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """The source ended for good (a file without loop) and every frame was handed out."""
        if not self._finished.is_set():
            return False
        if self.mode == "every_frame":
            return self._queue.empty()
        with self._cond:
            return self._newest is None

    def get(self, timeout: float = 0.5) -> Frame | None:
        if self.mode == "every_frame":
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                return None
        with self._cond:
            if self._newest is None:
                self._cond.wait(timeout)
            frame, self._newest = self._newest, None
            return frame

    def start(self) -> Capture:
        self.started_monotonic = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"capture-{self.camera_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 2)

    # -- grabber side --------------------------------------------------------------------------
    def _error(self, kind: str, message: str, *args: object) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self._set_up(False)
        if self.metrics:
            self.metrics.camera_errors.labels(self.camera_id, kind).inc()
        log.error("camera %s: " + message, self.camera_id, *args)

    def _set_up(self, up: bool) -> None:
        self.up = up
        if self.metrics:
            self.metrics.camera_up.labels(self.camera_id).set(1 if up else 0)

    def _open(self) -> Any:
        if isinstance(self.source, int):
            return cv2.VideoCapture(self.source)
        # One decoding thread per camera: FFmpeg's default (a thread per core) spends ~14%
        # more CPU on the same 1080p H.264 (7.1 -> 6.1 ms a frame, median of 4 alternating
        # runs), and an edge box carrying several cameras is parallel across them anyway.
        # One thread still decodes 1080p25 in real time with four fifths of a core to spare.
        threads = [cv2.CAP_PROP_N_THREADS, 1]
        if is_file_source(self.source):
            return cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, threads)
        ms = int(self.timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms, *threads]
        return cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)

    def _current(self) -> bool:
        """Is this thread still the camera's grabber? (A hung one was replaced.)"""
        return threading.current_thread() is self._thread

    def check_stall(self, now: float | None = None) -> bool:
        """Watchdog (called by the agent's supervisor): a live source that is up but has not
        given a frame for `read_stall_s` is hung in a read that never returns (RTSP without
        a timeout, a wedged USB device). Mark it down and start a fresh grabber; the hung
        thread leaves when its read returns, without handing out frames. True if it did."""
        if self.read_stall_s is None or self.mode != "live" or self._stop.is_set():
            return False
        if is_file_source(self.source) or self._thread is None or not self.up:
            return False
        now = time.monotonic() if now is None else now
        last = self.last_frame_monotonic or self.started_monotonic or now
        if now - last < self.read_stall_s:
            return False
        self.stalls += 1
        self._error("hang", "%s: no frame for %.0f s, the read hangs: reconnecting",
                    describe(self.source), now - last)  # fmt: skip
        self.last_frame_monotonic = now  # the fresh grabber gets its own full interval
        self._thread = threading.Thread(
            target=self._run, name=f"capture-{self.camera_id}", daemon=True
        )
        self._thread.start()
        return True

    def _run(self) -> None:
        attempt = 0
        self._set_up(False)
        while not self._stop.is_set():
            where = describe(self.source)
            if is_file_source(self.source) and not Path(str(self.source)).is_file():
                self._error("open", "video file %s does not exist", where)
            else:
                capture = self._open()
                if not capture.isOpened():
                    capture.release()
                    what = (
                        "corrupt or unreadable file"
                        if is_file_source(self.source)
                        else ("unreachable URL or device")
                    )
                    self._error("open", "cannot open %s (%s)", where, what)
                else:
                    count = self._pump(capture)
                    capture.release()
                    if not self._current():
                        return  # replaced by the watchdog while its read hung
                    if count > 0:
                        attempt = 0
                    if self._stop.is_set():
                        break
                    if is_file_source(self.source):
                        if count == 0:
                            self._error("read", "file %s has no decodable frame (corrupt)", where)
                        else:
                            log.info("camera %s: file ended after %d frames", self.camera_id, count)
                            if not self.loop_file:
                                self._set_up(False)
                                self._finished.set()
                                return
                            continue
                    else:
                        self._error("stall", "%s stopped sending after %d frames", where, count)
            delay = min(self.backoff_s[1], self.backoff_s[0] * 2**attempt)
            delay *= random.uniform(0.5, 1.5)
            attempt += 1
            self._stop.wait(delay)

    def _pump(self, capture: Any) -> int:
        """Read until the source ends or fails; return how many frames it gave."""
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 1.0 <= fps <= 240.0:
            fps = 25.0
        is_file = is_file_source(self.source)
        paced = is_file and self.mode == "live"
        if self.started_at is None:
            self.started_at = self.wall_clock()
        t0 = time.monotonic()
        anchor: tuple[float, float] | None = None  # (stream ms, monotonic s) of the anchor
        count = 0
        while not self._stop.is_set():
            # grab() decodes (the codec needs every frame); retrieve() converts the picture
            # to BGR, which only the frames handed out pay for (about 1 ms of a 1080p
            # frame's 3.6 ms in MPEG-4, 6.3 ms in H.264).
            if not capture.grab():
                if is_file:
                    self._file_offset_s += count / fps
                return count
            arrived = time.monotonic()
            if not self._current():
                return count  # a read that hung came back after the watchdog replaced it
            self.last_frame_monotonic = arrived
            if count == 0:
                self._set_up(True)
            if is_file:
                t = self._file_offset_s + count / fps
            else:
                pts = float(capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
                if pts > 0 and anchor is not None:
                    t = anchor[1] + (pts - anchor[0]) / 1000
                    if abs(t - arrived) > STREAM_REANCHOR_S or t <= self._last_t:
                        anchor, t = (pts, arrived), arrived
                else:
                    anchor = (pts, arrived) if pts > 0 else None
                    t = arrived
            t = max(t, self._last_t + 1e-6)  # strictly increasing, whatever the source does
            self._last_t = t
            if self._passes_over(t):  # decoded only
                self.frames_passed_over += 1
            else:
                ok, image = capture.retrieve()
                if not ok or image is None:
                    if is_file:
                        self._file_offset_s += count / fps
                    return count
                self._last_handed_t = t
                if is_file and self.mode == "every_frame":
                    at = self.started_at + timedelta(seconds=t)
                else:
                    at = self.wall_clock()
                self._hand_out(Frame(self.camera_id, count, at, image, t))
            count += 1
            self.frames_read += 1
            if self.metrics:
                self.metrics.frame_arrived(self.camera_id)
            if paced:
                self._pace(t0, count, fps)
        return count

    def _hand_out(self, frame: Frame) -> None:
        if self.mode == "every_frame":
            while not self._stop.is_set():
                try:
                    self._queue.put(frame, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        with self._cond:
            if self._newest is not None:
                self.frames_dropped += 1
                if self.metrics:
                    self.metrics.frames_dropped.labels(self.camera_id, "stale").inc()
            self._newest = frame
            self._cond.notify()

    def _pace(self, t0: float, count: int, fps: float) -> None:
        """A file in live mode plays at its own rate, like a camera would."""
        wait = t0 + count / fps - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)

    def _passes_over(self, t: float) -> bool:
        """Is the frame at frame time `t` above `max_fps`?

        A frame is handed out once 3/4 of the interval since the last one has passed, so a
        25 fps source gives 12.5 with the default, and an arrival jitter of up to a quarter
        interval does not halve the rate again."""
        if self.max_fps is None or self._last_handed_t is None:
            return False
        return t - self._last_handed_t < 0.75 / self.max_fps
