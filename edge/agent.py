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
import numpy as np

from edge.capture import Capture, Frame
from edge.config import CameraConfig, SiteConfig, resolve_model_paths
from edge.metrics import EdgeMetrics, MetricsServer
from edge.passage_evidence import evidence_records, passage_images
from edge.publisher import Publisher
from edge.recognition import (
    Image,
    OnnxPlateDetector,
    OnnxPlateReader,
    PlateDetector,
    PlateReader,
    crop,
    detect_in_roi,
)
from edge.spool import Spool
from edge.tracking import FinishedTrack, Tracker, TrackerParams, decide
from enforcement.plates import plate_hash
from enforcement.records import AlternativeRead, Evidence, EvidenceRef, Passage
from enforcement.settings import load_settings

log = logging.getLogger(__name__)


class MotionGate:
    """Is anything moving inside the ROI? Frame difference on a small grey copy."""

    def __init__(
        self, roi: Sequence[tuple[float, float]] | None, fraction: float, width: int = 160
    ) -> None:
        self.roi = roi
        self.fraction = fraction
        self.width = width
        self._previous: Image | None = None
        self._mask: Image | None = None

    def moved(self, image: Image) -> bool:
        if self.fraction <= 0:
            return True
        h, w = image.shape[:2]
        small_h = max(1, round(h * self.width / w))
        grey = cv2.cvtColor(cv2.resize(image, (self.width, small_h)), cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey, (5, 5), 0)
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
            return True
        changed = (cv2.absdiff(grey, previous) > 20) & (mask > 0)
        inside = max(1, int(np.count_nonzero(mask)))
        return bool(np.count_nonzero(changed) / inside >= self.fraction)


@dataclass(frozen=True, slots=True)
class BestFrame:
    """The evidence payload a track keeps for its most confident read."""

    image: Image
    at: datetime


class CameraWorker:
    """Recognition for one camera. `process` is synchronous so tests can drive it frame by frame."""

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
        self.tracker: Tracker[BestFrame] = Tracker(
            TrackerParams(
                ocr_every_n_frames=t.ocr_every_n_frames,
                timeout_s=t.track_timeout_s,
                min_track_frames=t.min_track_frames,
            )
        )
        self.gate = MotionGate(camera.roi, t.motion_fraction)
        line = camera.entry_line
        self.line = (line.a, line.b, line.inside) if line else None
        self.frames_processed = 0
        self.frames_skipped = 0
        self._last_processed: datetime | None = None
        self._since_processed = t.detect_every_n_frames  # the first frame is looked at
        self.tracks_unread = 0

    def process(self, frame: Frame) -> list[Passage]:
        """One frame through the pipeline; returns the passages of tracks that ended."""
        cam = self.camera.id
        image = frame.image
        self.tracker.frame_size = (image.shape[1], image.shape[0])
        moved = self.gate.moved(image)
        reason = None
        if not moved and not self._keepalive_due(frame.at):
            reason = "no_motion"
        elif self._since_processed + 1 < self.camera.thresholds.detect_every_n_frames:
            reason = "stride"
        if reason is not None:
            self._since_processed += 1
            self.frames_skipped += 1
            if self.metrics:
                self.metrics.frames_dropped.labels(cam, reason).inc()
            self.tracker.expire(frame.at)
            return self._finish()
        self._since_processed = 0
        self.frames_processed += 1
        self._last_processed = frame.at
        start = time.perf_counter()
        boxes = detect_in_roi(self.detector, image, self.camera.roi)
        if self.metrics:
            self.metrics.frames_processed.labels(cam).inc()
            self.metrics.detect_seconds.labels(cam).observe(time.perf_counter() - start)
        requests = self.tracker.update(frame.at, boxes)
        if requests:
            start = time.perf_counter()
            reads = self.reader.read([crop(image, r.box) for r in requests])
            if self.metrics:
                self.metrics.ocr_seconds.labels(cam).observe(time.perf_counter() - start)
                self.metrics.ocr_crops.labels(cam).inc(len(requests))
            payload = BestFrame(image, frame.at)
            for request, read in zip(requests, reads, strict=True):
                self.tracker.add_read(request.track_id, read, frame.at, request.box, payload)
        return self._finish()

    def _keepalive_due(self, at: datetime) -> bool:
        """With open tracks and a still ROI, detect a few times per track timeout anyway.

        A vehicle waiting at the line makes no motion; without these detections its track
        would time out and the same vehicle would come back as a second passage when it
        drives on. Three looks per timeout keep it alive at a third of the frame cost.
        """
        if self.tracker.active == 0:
            return False
        if self._last_processed is None:
            return True
        interval = self.camera.thresholds.track_timeout_s / 3
        return (at - self._last_processed).total_seconds() >= interval

    def expire(self, now: datetime) -> list[Passage]:
        """End tracks that timed out while no frame arrived (a live camera went quiet)."""
        self.tracker.expire(now)
        return self._finish()

    def flush(self) -> list[Passage]:
        """End every open track (end of file, shutdown) so no vehicle is lost."""
        self.tracker.end_all()
        return self._finish()

    def _finish(self) -> list[Passage]:
        passages = []
        for track in self.tracker.finished():
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
        verdict = decide(track, self.camera.thresholds.min_vote_confidence, self.line)
        if verdict is None:
            self.tracks_unread += 1
            if self.metrics:
                self.metrics.tracks_unread.labels(cam).inc()
            log.info("camera %s: track of %d frames gave no readable text", cam, track.frames_seen)
            return None
        passage_id = uuid.uuid4()
        seen_at = track.best_at or track.last_seen
        refs: tuple[EvidenceRef, ...] = ()
        evidence: list[Evidence] = []
        best = track.best_payload
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
            seen_at=seen_at.astimezone(UTC),
            evidence=refs,
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
        self.spool = Spool(config.spool.path, config.spool.budget_bytes)
        self.publisher = Publisher(self.spool, config.broker, config.site_id, self.metrics)
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
        self._threads: list[threading.Thread] = []
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

    def _spool(self, passage: Passage, evidence: list[Evidence]) -> None:
        result = self.spool.append(passage, evidence)
        self.emitted.append(str(passage.passage_id))
        if not result.stored:
            self.metrics.spool_refused.inc()
        if result.evidence_dropped:
            self.metrics.spool_evidence_dropped.inc(result.evidence_dropped)
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.stored_bytes)
        self.publisher.notify()

    def health(self) -> dict[str, object]:
        cameras = {cid: c.up or c.finished for cid, c in self.captures.items()}
        alive = all(t.is_alive() for t in self._threads) if self._threads else True
        return {
            "status": "ok" if alive and not self._stop.is_set() else "stopping",
            "cameras_up": cameras,
            "broker_connected": self.publisher.connected,
            "spool_passages": self.spool.depth(),
        }

    def start(self) -> Agent:
        self.publisher.start()
        for camera_id, capture in self.captures.items():
            capture.start()
            thread = threading.Thread(
                target=self._work, args=(camera_id,), name=f"worker-{camera_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

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
                    worker.expire(datetime.now(UTC))
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
        self._stop.set()
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
