"""The edge agent: capture -> motion gate -> detect -> track -> vote -> passage -> spool -> Kafka.

One worker thread per camera runs the recognition loop; one publisher thread drains the spool.
Each stage that costs CPU is skipped whenever it cannot change the outcome:
- frames without motion in the region of interest are not detected on (unless a track is
  open: a vehicle waiting at the line must not time out and come back as a second passage);
- detection sees only the ROI's bounding crop at the smallest input size that kept accuracy;
- a track is read when it appears and then once per N frames, all due crops in one batch.

Privacy: plate text never reaches a log line or a metric label; logs carry a keyed hash.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import cv2
import msgspec
import numpy as np

from edge.capture import Capture, Frame
from edge.config import CameraConfig, SiteConfig, load_evidence_key, resolve_model_paths
from edge.health import CameraHealth, assess, notify, read_time_sync, watchdog_interval_s
from edge.metrics import EdgeMetrics, MetricsServer
from edge.passage_evidence import evidence_records, passage_images
from edge.publisher import Publisher
from edge.recognition import (
    Box,
    Image,
    OnnxPlateDetector,
    OnnxPlateReader,
    PlateDetector,
    PlateReader,
    crop,
    detect_in_regions,
    roi_rect,
    vehicle_region,
)
from edge.spool import Spool
from edge.tracking import FinishedTrack, PlateMemory, Tracker, TrackerParams, decide
from enforcement.evidence_signing import sign_evidence
from enforcement.plates import plate_hash
from enforcement.records import (
    AlternativeRead,
    CharChange,
    Evidence,
    EvidenceRef,
    Passage,
    TimeSync,
)
from enforcement.settings import load_settings

log = logging.getLogger(__name__)


class MotionGate:
    """Is anything moving inside the ROI, and where? Frame difference on a small grey copy.

    The copy is 160 px wide and area-averaged, which also averages sensor noise away (a
    night frame's per-pixel noise does not make a parked car "move")."""

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
        small = cv2.resize(image, (self.width, small_h), interpolation=cv2.INTER_AREA)
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


@dataclass(frozen=True, slots=True)
class BestFrame:
    """The evidence payload a track keeps for its most confident read."""

    image: Image
    at: datetime


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
            reads = self.reader.read([crop(image, r.box) for r in requests])
            if self.metrics:
                self.metrics.ocr_seconds.labels(cam).observe(time.perf_counter() - start)
                self.metrics.ocr_crops.labels(cam).inc(len(requests))
            payload = BestFrame(image, frame.at)
            for request, read in zip(requests, reads, strict=True):
                self.tracker.add_read(request.track_id, read, now, request.box, payload)
        delay = self.camera.thresholds.max_prediction_delay_s
        early = self.tracker.due_early(now, delay) if delay is not None else []
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
        return detect_in_regions(self.detector, image, regions, self.camera.roi, tile)

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
        if track.stationary and not track.published:
            # Parked (or a fragment of it): in view, never crossed, never travelled.
            self.tracks_stationary += 1
            if self.metrics:
                self.metrics.tracks_stationary.labels(cam).inc()
            return None
        verdict = decide(track, t.min_vote_confidence, self.line, t.correct_below_confidence)
        if verdict is None:
            self.tracks_unread += 1
            if self.metrics:
                self.metrics.tracks_unread.labels(cam).inc()
            log.info("camera %s: track of %d frames gave no readable text", cam, track.frames_seen)
            return None
        if track.frames_seen == 1 and verdict.confidence < t.min_vote_confidence:
            # One frame, one unsure read: as likely a sticker or a reflection as a plate
            # (on the occlusion clip, both such reads were of the passing bus). Counted and
            # logged as unread; a one-frame read the OCR is sure of is published, frames=1.
            self.tracks_unread += 1
            if self.metrics:
                self.metrics.tracks_unread.labels(cam).inc()
            log.info("camera %s: one-frame track with an unsure read: not a passage", cam)
            return None
        repeat = self.memory.seen(verdict.plate, track.first_seen, track.last_seen)
        if track.published:
            return None  # published early; its end only refreshes the plate memory
        if repeat:
            self.duplicates_merged += 1
            if self.metrics:
                self.metrics.duplicates_merged.labels(cam).inc()
            log.info(
                "camera %s: track of plate#%s merged into its passage of moments ago",
                cam, plate_hash(self.log_secret, verdict.plate, 12),
            )  # fmt: skip
            return None
        passage_id = uuid.uuid4()
        best = track.best_payload
        seen_at = best.at if best is not None else None
        refs: tuple[EvidenceRef, ...] = ()
        evidence: list[Evidence] = []
        if best is not None and track.best_box is not None:
            images = passage_images(best.image, track.best_box)
            refs, evidence = evidence_records(passage_id, best.at, images)
        passage = Passage(
            passage_id=passage_id,
            site_id=self.site_id,
            camera_id=cam,
            zone_id=self.camera.zone_id,
            direction=verdict.direction,
            plate=verdict.plate,
            plate_raw=verdict.plate_raw[:32],
            country=verdict.country,
            confidence=min(1.0, max(0.0, verdict.confidence)),
            char_confidences=tuple(min(1.0, max(0.0, c)) for c in verdict.char_confidences),
            alternatives=tuple(
                AlternativeRead(plate=p, confidence=min(1.0, c)) for p, c in verdict.alternatives
            ),
            frames=max(1, verdict.frames),
            low_confidence=verdict.low_confidence,
            seen_at=(seen_at or datetime.now(UTC)).astimezone(UTC),
            evidence=refs,
            changes=tuple(
                CharChange(at=i, read=a, used=b) for i, a, b in verdict.correction.changes
            ),
            plate_format=verdict.plate_format,
        )
        if self.metrics:
            self.metrics.passages.labels(cam, verdict.direction).inc()
            self.metrics.read_confidence.labels(cam).observe(verdict.confidence)
            if verdict.low_confidence:
                self.metrics.low_confidence.labels(cam).inc()
            if verdict.correction.changed:
                self.metrics.corrections.labels(cam).inc()
        log.info(
            "camera %s: passage %s plate#%s %s confidence %.2f frames %d%s%s",
            cam, passage_id, plate_hash(self.log_secret, verdict.plate, 12), verdict.direction,
            verdict.confidence, verdict.frames, " LOW" if verdict.low_confidence else "",
            " corrected" if verdict.correction.changed else "",
        )  # fmt: skip
        return passage, evidence


def _clip(region: Box, to: Box) -> Box:
    return Box(max(region.x1, to.x1), max(region.y1, to.y1), min(region.x2, to.x2),
               min(region.y2, to.y2))  # fmt: skip


class Models:
    """Detectors per input size and one shared reader (onnxruntime sessions are thread-safe)."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self._detectors: dict[tuple[int, float], PlateDetector] = {}
        self._reader: PlateReader | None = None

    def detector(self, camera: CameraConfig) -> PlateDetector:
        key = (camera.detector_size, camera.thresholds.detector_conf)
        if key not in self._detectors:
            m = self.config.models
            if m.detector_hub:
                model: object = m.detector_hub
            else:
                model = resolve_model_paths(m, camera.detector_size)[0]
            self._detectors[key] = OnnxPlateDetector(
                model,  # type: ignore[arg-type]
                conf_thresh=camera.thresholds.detector_conf,
                threads=m.threads,
            )
        return self._detectors[key]

    def reader(self) -> PlateReader:
        if self._reader is None:
            m = self.config.models
            if m.ocr_hub:
                self._reader = OnnxPlateReader(hub_model=m.ocr_hub, threads=m.threads)
            else:
                _, ocr, ocr_config = resolve_model_paths(m, 320)
                self._reader = OnnxPlateReader(ocr, ocr_config, threads=m.threads)
        return self._reader


class Agent:
    """The whole site: captures, workers, spool, publisher, metrics endpoint."""

    def __init__(
        self,
        config: SiteConfig,
        detector_for: Callable[[CameraConfig], PlateDetector] | None = None,
        reader: PlateReader | None = None,
        serve_metrics: bool = True,
    ) -> None:
        self.config = config
        self.metrics = EdgeMetrics()
        models = Models(config)
        detector_for = detector_for or models.detector
        reader = reader or models.reader()
        sp = config.spool
        self.spool = Spool(
            sp.path, sp.budget_bytes, min_free_bytes=sp.min_free_bytes,
            held_max_passages=sp.held_max_passages,
            held_max_evidence_bytes=sp.held_max_evidence_bytes, metrics=self.metrics,
        )  # fmt: skip
        self.publisher = Publisher(
            self.spool, config.broker, config.site_id, self.metrics,
            quarantine_after=sp.quarantine_after_failures,
        )  # fmt: skip
        self.evidence_key = load_evidence_key(config)
        if self.evidence_key is None:
            log.warning("no evidence_key_file: evidence images are sent unsigned")
        self.time_sync: TimeSync = "unknown"
        self._time_sync_read = 0.0
        self.captures: dict[str, Capture] = {}
        self.workers: dict[str, CameraWorker] = {}
        for camera in config.cameras:
            self.captures[camera.id] = Capture(
                camera.id, camera.source, camera.read_mode, camera.loop_file, self.metrics
            )
            self.workers[camera.id] = CameraWorker(
                config.site_id,
                camera,
                detector_for(camera),
                reader,
                self.metrics,
                self._spool,
                log_secret=load_settings().hash_secret.get_secret_value().encode(),
            )
        for capture in self.captures.values():
            capture.read_stall_s = config.health.read_stall_s
        self._threads: list[threading.Thread] = []
        self._thread_of: dict[str, threading.Thread] = {}
        self._supervisor: threading.Thread | None = None
        self._watchdog_s = watchdog_interval_s()
        self._stop = threading.Event()
        self.emitted: list[str] = []
        """Passage ids in the order they were spooled (for operators' counts and tests)."""
        self.server: MetricsServer | None = None
        if serve_metrics:
            self.server = MetricsServer(
                self.metrics, config.metrics.host, config.metrics.port, self.health
            )
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.stored_bytes)

    def _seal(self, passage: Passage, evidence: list[Evidence]) -> tuple[Passage, list[Evidence]]:
        """Stamp the clock's sync state on the passage and its evidence; name the site and
        camera on the evidence and sign it with the site's key (enforcement.evidence_signing)."""
        sync = self.time_sync
        sealed = []
        for item in evidence:
            item = msgspec.structs.replace(
                item, site_id=passage.site_id, camera_id=passage.camera_id, time_sync=sync
            )
            if self.evidence_key is not None:
                item = msgspec.structs.replace(
                    item, signature=sign_evidence(self.evidence_key, item)
                )
            sealed.append(item)
        return msgspec.structs.replace(passage, time_sync=sync), sealed

    def _spool(self, passage: Passage, evidence: list[Evidence]) -> None:
        """The workers' sink. Never raises: a track finished in the same call as this one
        must not be lost because this one could not be written (it is held instead)."""
        passage, evidence = self._seal(passage, evidence)
        try:
            self.spool.append(passage, evidence)  # counts and logs what it could not write
        except Exception as exc:  # a spool error (SQLite, I/O): hold it, never drop it
            log.exception("camera %s: spool write failed", passage.camera_id)
            self.spool.hold(passage, evidence, repr(exc))
        self.emitted.append(str(passage.passage_id))
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.stored_bytes)
        self.publisher.notify()

    def health(self) -> dict[str, object]:
        """/healthz: `ok` (200) or `unhealthy` / `stopping` (503), with the reasons."""
        now = time.monotonic()
        cameras = [
            CameraHealth(
                camera_id=cid, finished=c.finished, last_frame=c.last_frame_monotonic,
                started=c.started_monotonic,
                worker_alive=cid not in self._thread_of or self._thread_of[cid].is_alive(),
            )
            for cid, c in self.captures.items()
        ]  # fmt: skip
        started = self._supervisor is not None
        verdict = assess(
            now, self.config.health, cameras,
            publisher_alive=self.publisher.alive or not started,
            broker_unreachable_s=self.publisher.unreachable_for(),
            spool_bytes=self.spool.stored_bytes, spool_budget=self.spool.budget_bytes,
            held_passages=self.spool.held,
        )  # fmt: skip
        status = "stopping" if self._stop.is_set() else "ok" if verdict.ok else "unhealthy"
        self.metrics.healthy.set(1 if status == "ok" else 0)
        return {
            "status": status,
            "reasons": list(verdict.reasons),
            "cameras_up": {cid: c.up or c.finished for cid, c in self.captures.items()},
            "broker_connected": self.publisher.connected,
            "spool_passages": self.spool.depth(),
            "spool_held_passages": self.spool.held,
            "time_sync": self.time_sync,
        }

    def start(self) -> Agent:
        self._read_time_sync()
        self.publisher.start()
        for camera_id, capture in self.captures.items():
            capture.start()
            thread = threading.Thread(
                target=self._work, args=(camera_id,), name=f"worker-{camera_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
            self._thread_of[camera_id] = thread
        self._supervisor = threading.Thread(
            target=self._supervise, name="edge-supervisor", daemon=True
        )
        self._supervisor.start()
        notify("READY=1")
        return self

    def _read_time_sync(self) -> None:
        self.time_sync = read_time_sync()
        self._time_sync_read = time.monotonic()
        self.metrics.set_clock_sync(self.time_sync)

    def _supervise(self) -> None:
        """Restart a dead publisher, reconnect hung cameras, write held passages when disk
        space returns, refresh the clock state and gauges, and feed systemd's watchdog."""
        h = self.config.health
        last_ping = 0.0
        while not self._stop.wait(h.supervise_interval_s):
            try:
                self.supervise_once()
            except Exception:  # the supervisor itself must not die of one bad check
                log.exception("supervisor check failed")
            now = time.monotonic()
            if now - self._time_sync_read >= h.time_sync_check_s:
                self._read_time_sync()
            # The watchdog proves the process is not wedged: every worker and the publisher
            # run. A camera or broker outage is not fixed by a restart and does not stop it.
            due = self._watchdog_s is not None and now - last_ping >= self._watchdog_s
            if due and self._alive():
                notify("WATCHDOG=1")
                last_ping = now

    def _alive(self) -> bool:
        """Every worker thread (of a camera not finished) and the publisher run."""
        workers = all(t.is_alive() or self.captures[c].finished for c, t in self._thread_of.items())
        return workers and self.publisher.alive

    def supervise_once(self) -> None:
        self.publisher.restart()
        for capture in self.captures.values():
            capture.check_stall()
        if self.spool.held:
            self.spool.write_held()
            self.publisher.notify()
        self.metrics.spool_free_bytes.set(self.spool.free_bytes())
        self.metrics.broker_unreachable_seconds.set(self.publisher.unreachable_for())
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.stored_bytes)
        reasons = self.health()["reasons"]
        if isinstance(reasons, list) and reasons:
            notify("STATUS=" + "; ".join(str(r) for r in reasons)[:400])

    def _work(self, camera_id: str) -> None:
        capture, worker = self.captures[camera_id], self.workers[camera_id]
        live = capture.mode == "live"
        while not self._stop.is_set():
            frame = capture.get(timeout=0.5)
            if frame is None:
                if capture.finished:
                    worker.flush()
                    log.info("camera %s: source finished", camera_id)
                    return
                if live:
                    worker.expire()
                continue
            try:
                worker.process(frame)
            except Exception:  # one bad frame must not stop the camera
                log.exception("camera %s: frame %d failed", camera_id, frame.index)
        worker.flush()

    @property
    def sources_finished(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Stop capture, end every open track into the spool, then try to drain it briefly."""
        notify("STOPPING=1")
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        for capture in self.captures.values():
            capture.stop()
        for thread in self._threads:
            thread.join(timeout=30)
        self.publisher.stop()
        self.metrics.spool_depth.set(self.spool.depth())
        if self.server is not None:
            self.server.close()
        self.spool.close()

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then shut down cleanly (pending passages to the spool)."""
        stop = threading.Event()

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: shutting down", signum)
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        self.start()
        where = f"{self.server.host}:{self.server.port}" if self.server else "off"
        log.info("edge agent for site %s running; metrics on %s", self.config.site_id, where)
        while not stop.wait(1.0):
            pass
        self.stop()
