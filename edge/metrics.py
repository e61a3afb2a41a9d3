"""The edge agent's Prometheus metrics and its small HTTP endpoint (/metrics, /healthz).

One registry per agent (not the global default), so tests can run several agents in one
process. Names follow Prometheus conventions: the `zes_edge_` prefix (one namespace for every
zes process), the unit in the name, `_total` on counters, seconds for durations. Labels are
camera ids, directions and small fixed sets (drop reason, error kind), never a plate: a plate
as a label would be personal data in the monitoring stack and an unbounded series count.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)


class EdgeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        cam = ("camera",)
        self.frames_read = Counter(
            "zes_edge_frames_read_total", "Frames decoded from the camera.", cam, registry=r
        )
        self.frames_processed = Counter(
            "zes_edge_frames_processed_total",
            "Frames that went through detection.",
            cam,
            registry=r,
        )
        self.frames_dropped = Counter(
            "zes_edge_frames_dropped_total",
            "Frames not processed: stale (a newer frame arrived) or no motion in the ROI.",
            ("camera", "reason"),
            registry=r,
        )
        self.detect_seconds = Histogram(
            "zes_edge_detect_duration_seconds", "Plate detection time per frame.", cam,
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ocr_seconds = Histogram(
            "zes_edge_ocr_duration_seconds", "OCR time per batch of plate crops.", cam,
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ocr_crops = Counter(
            "zes_edge_ocr_crops_total", "Plate crops read by OCR.", cam, registry=r
        )
        self.passages = Counter(
            "zes_edge_passages_total", "Passages emitted.", ("camera", "direction"), registry=r
        )
        self.low_confidence = Counter(
            "zes_edge_passages_low_confidence_total", "Passages marked low-confidence.", cam,
            registry=r,
        )  # fmt: skip
        self.tracks_unread = Counter(
            "zes_edge_tracks_unread_total", "Tracks that ended without any readable text.", cam,
            registry=r,
        )  # fmt: skip
        self.tracks_stationary = Counter(
            "zes_edge_tracks_stationary_total",
            "Tracks of a vehicle standing in view that never crossed the entry line (no "
            "passage).", cam, registry=r,
        )  # fmt: skip
        self.duplicates_merged = Counter(
            "zes_edge_duplicates_merged_total",
            "Tracks whose plate was seen moments before at this camera (merged, no passage).",
            cam, registry=r,
        )  # fmt: skip
        self.corrections = Counter(
            "zes_edge_plate_corrections_total", "Voted reads changed by the sidecode rules.", cam,
            registry=r,
        )  # fmt: skip
        self.read_confidence = Histogram(
            "zes_edge_read_confidence_ratio", "Voted confidence per passage (0..1).", cam,
            buckets=(0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0), registry=r,
        )  # fmt: skip
        self.passage_latency = Histogram(
            "zes_edge_passage_latency_seconds",
            "Frame time from a vehicle's first sighting to its passage being made.", cam,
            buckets=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 60.0), registry=r,
        )  # fmt: skip
        self.spool_depth = Gauge(
            "zes_edge_spool_passages", "Passages in the spool, not yet acknowledged.", registry=r
        )
        self.spool_bytes = Gauge(
            "zes_edge_spool_bytes", "Bytes of passages and evidence in the spool.", registry=r
        )
        self.spool_refused = Counter(
            "zes_edge_spool_refused_passages_total",
            "Passages the spool could not write when they came (disk full or over budget): "
            "outcome=held (kept in memory until space returns) or lost (memory queue full).",
            ("outcome",), registry=r,
        )  # fmt: skip
        self.spool_held = Gauge(
            "zes_edge_spool_held_passages", "Passages held in memory, waiting for disk space.",
            registry=r,
        )  # fmt: skip
        self.spool_quarantined = Counter(
            "zes_edge_spool_quarantined_total",
            "Spooled rows moved to quarantine: the broker can never take them (too large, "
            "undecodable, old schema).", ("kind",), registry=r,
        )  # fmt: skip
        self.spool_evidence_dropped = Counter(
            "zes_edge_spool_evidence_dropped_total",
            "Evidence images not kept: near the spool budget or the free-disk reserve.",
            registry=r,
        )  # fmt: skip
        self.spool_free_bytes = Gauge(
            "zes_edge_spool_free_bytes", "Free disk on the spool's file system (statvfs).",
            registry=r,
        )  # fmt: skip
        self.evidence_published = Counter(
            "zes_edge_evidence_published_total", "Evidence images acknowledged by the broker.",
            registry=r,
        )  # fmt: skip
        self.publisher_up = Gauge(
            "zes_edge_publisher_up", "1 while the publisher thread runs.", registry=r
        )
        self.publisher_restarts = Counter(
            "zes_edge_publisher_restarts_total", "Publisher threads restarted by the supervisor.",
            registry=r,
        )  # fmt: skip
        self.broker_unreachable_seconds = Gauge(
            "zes_edge_broker_unreachable_seconds",
            "Seconds since the broker last acknowledged a send, while it does not (0 when up).",
            registry=r,
        )  # fmt: skip
        self.clock_sync = Gauge(
            "zes_edge_clock_sync_state",
            "1 for the edge clock's current sync state (timedatectl/chrony; unknown without).",
            ("state",), registry=r,
        )  # fmt: skip
        self.healthy = Gauge("zes_edge_healthy", "1 when /healthz answers 200.", registry=r)
        self.envelopes_sent = Counter(
            "zes_edge_envelopes_sent_total", "Envelope records acknowledged by the broker.",
            registry=r,
        )  # fmt: skip
        self.passages_published = Counter(
            "zes_edge_passages_published_total", "Passages acknowledged by the broker.", registry=r
        )
        self.publish_failures = Counter(
            "zes_edge_publish_failures_total", "Failed sends (the passages stay spooled).",
            registry=r,
        )  # fmt: skip
        self.broker_up = Gauge(
            "zes_edge_broker_up", "1 when the last send to the broker succeeded.", registry=r
        )
        self.camera_up = Gauge(
            "zes_edge_camera_up", "1 while the camera delivers frames.", cam, registry=r
        )
        self.camera_errors = Counter(
            "zes_edge_camera_errors_total", "Open failures, read failures and stalls.",
            ("camera", "kind"), registry=r,
        )  # fmt: skip
        self.last_frame_age = Gauge(
            "zes_edge_last_frame_age_seconds", "Seconds since the camera's last frame.", cam,
            registry=r,
        )  # fmt: skip
        self._last_frame: dict[str, float] = {}
        self._lock = threading.Lock()

    def set_clock_sync(self, state: str) -> None:
        """One-hot: the current state 1, the others 0 (an alert needs no absent series)."""
        for known in ("synchronized", "unsynchronized", "unknown"):
            self.clock_sync.labels(known).set(1 if known == state else 0)

    def frame_arrived(self, camera: str) -> None:
        with self._lock:
            self._last_frame[camera] = time.monotonic()
        self.frames_read.labels(camera).inc()

    def refresh(self) -> None:
        """Update the age gauges (called before each scrape)."""
        now = time.monotonic()
        with self._lock:
            ages = dict(self._last_frame)
        for camera, last in ages.items():
            self.last_frame_age.labels(camera).set(now - last)

    def exposition(self) -> bytes:
        self.refresh()
        return generate_latest(self.registry)


class MetricsServer:
    """/metrics for Prometheus, /healthz for the supervisor (200 ok, 503 not healthy)."""

    def __init__(
        self, metrics: EdgeMetrics, host: str, port: int, health: Callable[[], dict[str, object]]
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, status, kind = metrics.exposition(), 200, CONTENT_TYPE_LATEST
                elif self.path.startswith("/healthz"):
                    state = health()
                    status = 200 if state.get("status") == "ok" else 503
                    body, kind = json.dumps(state).encode(), "application/json"
                else:
                    body, status, kind = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every few seconds are not news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edge-metrics", daemon=True
        )
        outer._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
