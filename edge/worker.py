"""The camera worker: one camera's frames through motion gate, detection, tracking, reading
and voting to passages (`edge.passages` turns a finished track into one).

Each stage that costs CPU is skipped whenever it cannot change the outcome:
- frames without motion in the region of interest are not detected on (unless a track is
  open: a vehicle waiting at the line must not time out and come back as a second passage);
- detection sees only the regions that moved and the windows around open tracks, at the
  smallest detector input size that kept accuracy;
- a track is read when it appears and then once per N frames, all due crops in one batch.

Privacy: plate text never reaches a log line or a metric label; logs carry a keyed hash.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence

from edge.capture import Frame
from edge.config import CameraConfig
from edge.metrics import EdgeMetrics
from edge.motion import MotionGate, merge_regions
from edge.passages import (
    BestFrame,
    Rejection,
    count_passage,
    count_rejection,
    evidence_of,
    passage_log,
    passage_record,
    rejection,
    rejection_log,
    repeat_rejection,
)
from edge.plate_memory import PlateMemory
from edge.recognition import (
    Box,
    Image,
    PlateDetector,
    PlateReader,
    TileBackoff,
    crop,
    denoise_and_stretch,
    detect_in_regions,
    is_dark_or_ir,
    roi_rect,
    vehicle_region,
)
from edge.tracking import (
    FinishedTrack,
    Tracker,
    TrackerParams,
    TrackReading,
    read_track,
)
from enforcement.plates import plate_hash
from enforcement.records import Evidence, Passage

log = logging.getLogger(__name__)


class CameraWorker:
    """Recognition for one camera. `process` is synchronous so tests can drive it frame by frame.

    Where it detects (the speed lead and the small plates both come from here): at native
    resolution in the regions that moved and around where each open track should be now,
    never on the whole frame shrunk to the detector's input, except on the first frame and
    when motion is everywhere (then on tiles). A vehicle's region is a few plate widths
    wide, so its plate fills a useful share of the detector's input whatever its distance.
    """

    MAX_REGIONS = 6
    """More moving regions than this (rain, a lighting change): search the ROI in tiles."""

    TILE_RETRY_S = 0.45
    """A region whose tile pass found no plate is not tiled again for this long (frame
    time): about every third detection at the default rates, not every one."""

    def __init__(
        self,
        site_id: str,
        camera: CameraConfig,
        detector: PlateDetector,
        reader: PlateReader,
        metrics: EdgeMetrics | None = None,
        sink: Callable[[Passage, list[Evidence]], None] | None = None,
        log_secret: bytes | None = None,
    ) -> None:
        self.site_id = site_id
        # Log lines name a plate by its keyed hash; without the site's secret, a per-process
        # random one keeps them correlatable within this run and unreadable.
        self.log_secret = log_secret or secrets.token_bytes(32)
        self.camera = camera
        self.detector = detector
        self.reader = reader
        self.metrics = metrics
        self.sink = sink
        t = camera.thresholds
        line = camera.entry_line
        self.line = (line.a, line.b, line.inside) if line else None
        self.tracker: Tracker[BestFrame] = Tracker(
            TrackerParams(
                ocr_every_n_frames=t.ocr_every_n_frames,
                timeout_s=t.track_timeout_s,
                min_track_frames=t.min_track_frames,
                stationary_s=t.stationary_s,
            ),
            line=self.line,
        )
        self.memory = PlateMemory(t.dedup_window_s)
        self.gate = MotionGate(camera.roi, t.motion_fraction)
        self.tile_backoff = TileBackoff(self.TILE_RETRY_S)
        self.frames_processed = 0
        self.frames_skipped = 0
        self._last_processed: float | None = None
        self._since_processed = t.detect_every_n_frames  # the first frame is looked at
        self._clock_offset = 0.0  # frame time minus time.monotonic() at the last frame
        self.now_t = 0.0
        """Frame time of the frame being processed (the replay's publication time)."""
        self.tracks_unread = 0
        self.tracks_stationary = 0
        self.duplicates_merged = 0

    def process(self, frame: Frame) -> list[Passage]:
        """One frame through the pipeline; returns the passages made during it."""
        cam = self.camera.id
        image = frame.image
        now = frame.time_s
        self.now_t = now
        self._clock_offset = now - time.monotonic()
        h, w = image.shape[:2]
        self.tracker.frame_size = (w, h)
        moved = self.gate.moved(image)
        reason = None
        if not moved and not self._keepalive_due(now):
            reason = "no_motion"
        elif moved and self._since_processed + 1 < self.camera.thresholds.detect_every_n_frames:
            reason = "stride"
        if reason is not None:
            self._since_processed += 1
            self.frames_skipped += 1
            if self.metrics:
                self.metrics.frames_dropped.labels(cam, reason).inc()
            self.tracker.expire(now)
            return self._finish()
        self._since_processed = 0
        self.frames_processed += 1
        self._last_processed = now
        start = time.perf_counter()
        boxes = self._detect(image, now, moved)
        if self.metrics:
            self.metrics.frames_processed.labels(cam).inc()
            self.metrics.detect_seconds.labels(cam).observe(time.perf_counter() - start)
        moving = [self.gate.motion_at(b, w, h) for b in boxes]
        requests = self.tracker.update(now, boxes, moving=moving)
        if requests:
            start = time.perf_counter()
            # No upscaling or contrast stretch before OCR: measured on the dev photos'
            # variants (benchmarks.edge --steps), neither changed a single exact read of
            # small8/small5/night, and they cancel out on blur/skew20 (+1/-1 of 72).
            crops = [crop(image, r.box) for r in requests]
            if is_dark_or_ir(image):
                # In a dark or IR frame the OCR reads the crop denoised and stretched, as
                # the detector's view is. Measured on 20-vehicle clips (1080p, 10 fps):
                # exact 0.85 -> 0.95 on dense_night and on night (leaving plates read from
                # the raw noisy crop as M0BVHMK4 and BRK099A became right); dense_dusk and
                # another 20 vehicles at dense_night and dense_dusk unchanged (1.0).
                crops = [denoise_and_stretch(c) for c in crops]
            reads = self.reader.read(crops)
            if self.metrics:
                self.metrics.ocr_seconds.labels(cam).observe(time.perf_counter() - start)
                self.metrics.ocr_crops.labels(cam).inc(len(requests))
            payload = BestFrame(image, frame.at)
            for request, read in zip(requests, reads, strict=True):
                self.tracker.add_read(request.track_id, read, now, request.box, payload)
        early = self.tracker.due_early(now, self.camera.thresholds.max_prediction_delay_s)
        return self._finish(early)

    def _detect(self, image: Image, now: float, moved: bool) -> list[Box]:
        h, w = image.shape[:2]
        roi = roi_rect(self.camera.roi, w, h)
        tile = self.camera.thresholds.detect_tile_px
        windows = [vehicle_region(b, w, h) for b in self.tracker.predicted_boxes(now)]
        motion = self.gate.regions(w, h) if moved else []
        if moved and self.gate.changed is None:  # first frame: nothing to compare with yet
            regions = [roi]
        else:
            # A vehicle's region is a few plate widths wide, so however near the vehicle,
            # its plate fills a fair share of the detector input.
            regions = merge_regions([_clip(r, roi) for r in motion + windows])
            regions = [r for r in regions if r.width >= 8 and r.height >= 8]
            if len(regions) > self.MAX_REGIONS:  # motion everywhere (rain, light)
                regions = [roi]
        # A region larger than a tile that gave no plate is searched again in tiles: a far
        # plate in a large blob (two vehicles side by side) shrinks below what the
        # detector finds when the blob is searched whole.
        return detect_in_regions(
            self.detector,
            image,
            regions,
            self.camera.roi,
            tile,
            tile_passes=self.tile_backoff.at(now),
        )

    def _keepalive_due(self, at: float) -> bool:
        """With open tracks and a still ROI, detect a few times per track timeout anyway.

        A vehicle waiting at the line makes no motion; without these detections its track
        would time out and the same vehicle would come back as a second passage when it
        drives on. Three looks per timeout keep it alive at a third of the frame cost, and
        they look only around the tracks.
        """
        if self.tracker.active == 0:
            return False
        if self._last_processed is None:
            return True
        interval = self.camera.thresholds.track_timeout_s / 3
        return at - self._last_processed >= interval

    def expire(self, now: float | None = None) -> list[Passage]:
        """End tracks that timed out while no frame arrived (a live camera went quiet).
        `now` is frame time; None = the monotonic clock carried on from the last frame."""
        self.tracker.expire(time.monotonic() + self._clock_offset if now is None else now)
        return self._finish()

    def flush(self) -> list[Passage]:
        """End every open track (end of file, shutdown) so no vehicle is lost."""
        self.tracker.end_all()
        return self._finish()

    def _finish(self, early: Sequence[FinishedTrack[BestFrame]] = ()) -> list[Passage]:
        passages = []
        for track in [*early, *self.tracker.finished()]:
            made = self._passage(track)
            if made is None:
                continue
            passage, evidence = made
            passages.append(passage)
            if self.sink is not None:
                self.sink(passage, evidence)
        return passages

    def _passage(self, track: FinishedTrack[BestFrame]) -> tuple[Passage, list[Evidence]] | None:
        cam = self.camera.id
        t = self.camera.thresholds
        reading = None
        if not track.stationary or track.published:
            reading = read_track(
                track, t.min_vote_confidence, self.line, t.correct_below_confidence
            )
        why = rejection(track, reading, t.min_vote_confidence)
        if why is None and reading is not None:
            repeat = self.memory.seen(reading.plate, track.first_seen, track.last_seen)
            why = repeat_rejection(track, repeat)
        if why is not None or reading is None:
            self._rejected(why or "unread", track, reading)
            return None
        passage_id = uuid.uuid4()
        refs, evidence = evidence_of(passage_id, track)
        best = track.best_payload
        passage = passage_record(
            reading,
            passage_id=passage_id,
            site_id=self.site_id,
            camera_id=cam,
            zone_id=self.camera.zone_id,
            seen_at=best.at if best is not None else None,
            evidence=refs,
        )
        count_passage(self.metrics, cam, reading)
        if self.metrics:
            # From the vehicle's first sighting to now, both in frame time.
            latency = max(0.0, self.now_t - track.first_seen)
            self.metrics.passage_latency.labels(cam).observe(latency)
        log.info("%s", passage_log(cam, passage, self._plate_ref(reading.plate)))
        return passage, evidence

    def _rejected(
        self, why: Rejection, track: FinishedTrack[BestFrame], reading: TrackReading | None
    ) -> None:
        if why == "stationary":
            self.tracks_stationary += 1
        elif why in ("unread", "unsure_single_read"):
            self.tracks_unread += 1
        elif why == "merged":
            self.duplicates_merged += 1
        count_rejection(self.metrics, self.camera.id, why)
        ref = self._plate_ref(reading.plate) if reading is not None else ""
        line = rejection_log(self.camera.id, why, track, ref)
        if line is not None:
            log.info("%s", line)

    def _plate_ref(self, plate: str) -> str:
        return plate_hash(self.log_secret, plate, 12)


def _clip(region: Box, to: Box) -> Box:
    return Box(max(region.x1, to.x1), max(region.y1, to.y1), min(region.x2, to.x2),
               min(region.y2, to.y2))  # fmt: skip
