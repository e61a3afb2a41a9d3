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

import hashlib
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
from enforcement.evidence_seal import seal_evidence
from enforcement.plates import plate_hash
from enforcement.records import (
    AlternativeRead,
    Evidence,
    EvidenceKind,
    EvidenceRef,
    Passage,
    TimeSync,
)
from enforcement.settings import load_settings

log = logging.getLogger(__name__)

OVERVIEW_MAX_WIDTH = 1280
JPEG_QUALITY = 85


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


def _jpeg(image: Image, max_width: int | None = None) -> bytes:
    if max_width is not None and image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, (max_width, max(1, round(image.shape[0] * scale))))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())


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
        refs: list[EvidenceRef] = []
        evidence: list[Evidence] = []
        best = track.best_payload
        if best is not None and track.best_box is not None:
            images: tuple[tuple[EvidenceKind, bytes], ...] = (
                ("plate_crop", _jpeg(crop(best.image, track.best_box, pad=0.15))),
                ("overview", _jpeg(best.image, OVERVIEW_MAX_WIDTH)),
            )
            for kind, data in images:
                digest = hashlib.sha256(data).hexdigest()
                refs.append(EvidenceRef(kind=kind, sha256=digest, size=len(data)))
                evidence.append(
                    Evidence(
                        passage_id=passage_id,
                        kind=kind,
                        sha256=digest,
                        captured_at=best.at,
                        data=data,
                    )
                )
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
            evidence=tuple(refs),
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
        camera on the evidence and sign it with the site's key (enforcement.evidence_seal)."""
        sync = self.time_sync
        sealed = []
        for item in evidence:
            item = msgspec.structs.replace(
                item, site_id=passage.site_id, camera_id=passage.camera_id, time_sync=sync
            )
            if self.evidence_key is not None:
                item = msgspec.structs.replace(
                    item, signature=seal_evidence(self.evidence_key, item)
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
        self.metrics.broker_down_seconds.set(self.publisher.unreachable_for())
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
