"""The edge agent: the whole site. Captures, one camera worker thread each (`edge.worker`),
the spool, the publisher thread, the supervisor and the metrics endpoint.

capture -> motion gate -> detect -> track -> vote -> passage -> spool -> Kafka.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import msgspec

from edge.capture import Capture
from edge.config import CameraConfig, SiteConfig, load_evidence_key
from edge.health import CameraHealth, assess, notify, read_time_sync, watchdog_interval_s
from edge.metrics import EdgeMetrics, MetricsServer
from edge.models import Models
from edge.publisher import Publisher
from edge.recognition import PlateDetector, PlateReader
from edge.spool import Spool
from edge.worker import CameraWorker
from enforcement.evidence_signing import sign_evidence
from enforcement.records import Evidence, Passage, TimeSync
from enforcement.settings import load_settings

log = logging.getLogger(__name__)


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
        # One settings load for the site: the log secret is the same for every camera.
        log_secret = load_settings().hash_secret.get_secret_value().encode()
        for camera in config.cameras:
            self.captures[camera.id] = Capture(
                camera.id, camera.source, camera.read_mode, camera.loop_file, self.metrics,
                max_fps=camera.max_fps,
            )  # fmt: skip
            self.workers[camera.id] = CameraWorker(
                config.site_id,
                camera,
                detector_for(camera),
                reader,
                self.metrics,
                self._spool,
                log_secret=log_secret,
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
