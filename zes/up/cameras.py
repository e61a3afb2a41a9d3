"""The simulated cameras of `zes up`: passages of register plates (3% unknown ones) with their
evidence, published once a second exactly as an edge site publishes them.

Each passage gets an overview frame (a synthetic vehicle front with the plate on a Dutch
yellow plate, site, camera and time stamped; a register vehicle in its registered colour and
a shape for its kind) and the plate crop of it, as `Evidence` records
on the evidence topic (key: passage id) sent before the envelopes that reference them, so the
review app shows both images on every demo case.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from enforcement.records import Evidence, Passage, encode_envelope, encode_evidence
from enforcement.zones import default_catalog

if TYPE_CHECKING:
    from zes.up.vehicle_images import VehicleLook

SITE_ID = "up-sim"
ENVELOPE_PASSAGES = 50
"""Passages per envelope at most, as the edge packs them."""


class SimulatedCameras(threading.Thread):
    def __init__(
        self, bootstrap: str, zone_id: str, plates: Sequence[str], rate: float, seed: int,
        *, passages_topic: str = "passages", evidence_topic: str = "evidence",
    ) -> None:  # fmt: skip
        super().__init__(name="zes-up-cameras", daemon=True)
        self.bootstrap, self.zone_id = bootstrap, zone_id
        found = default_catalog().get(zone_id)
        self.zone_name = found.name if found is not None else zone_id
        """Stamped on the frames beside site, camera and local time."""
        self.passages_topic, self.evidence_topic = passages_topic, evidence_topic
        self.plates, self.rate = list(plates), rate
        # A demo fleet knows how each of its vehicles looks (zes.up.fixtures.DemoFleet).
        self.looks: Mapping[str, VehicleLook] = getattr(plates, "looks", {})
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.sent = 0
        """Passages published (acknowledged by the broker)."""
        self.evidence_sent = 0
        self.error: str | None = None

    def passage(self, now: datetime) -> tuple[Passage, list[Evidence]]:
        """One passage of a random register plate (or an unknown one), with its evidence."""
        from edge.passage_evidence import evidence_records, passage_images
        from zes.up.vehicle_images import render_passage

        rng = self.rng
        known = rng.random() > 0.03
        plate = rng.choice(self.plates) if known else f"ZZ{rng.randrange(9999):04d}"
        camera_id = f"sim-{rng.randrange(2) + 1}"
        passage_id = uuid.uuid4()
        frame, box = render_passage(
            plate,
            site_id=SITE_ID,
            camera_id=camera_id,
            at=now,
            rng=rng,
            look=self.looks.get(plate),
            zone=self.zone_name,
        )
        refs, evidence = evidence_records(passage_id, now, passage_images(frame, box))
        passage = Passage(
            passage_id=passage_id,
            site_id=SITE_ID,
            camera_id=camera_id,
            zone_id=self.zone_id,
            direction="entering" if rng.random() < 0.6 else "leaving",
            plate=plate,
            plate_raw=plate,
            country="NL",
            confidence=0.97,
            frames=5,
            seen_at=now,
            evidence=refs,
        )
        return passage, evidence

    def publish(self, producer: Any, count: int) -> None:
        """`count` passages: their evidence first (a consumer that sees a passage finds its
        images already sent, as the edge's publisher orders them), then the envelopes."""
        now = datetime.now(UTC)
        by_camera: dict[str, list[Passage]] = {}
        futures = []
        for _ in range(count):
            if self.stopping.is_set():  # what was drawn is sent; the rest is not drawn
                break
            passage, evidence = self.passage(now)
            by_camera.setdefault(passage.camera_id, []).append(passage)
            for item in evidence:
                value = encode_evidence(item)
                key = str(item.passage_id).encode()
                futures.append(producer.send(self.evidence_topic, key=key, value=value))
        for camera_id, passages in by_camera.items():
            for i in range(0, len(passages), ENVELOPE_PASSAGES):
                chunk = passages[i : i + ENVELOPE_PASSAGES]
                body = encode_envelope(chunk, site_id=SITE_ID, camera_id=camera_id)
                key = f"{SITE_ID}/{camera_id}".encode()
                futures.append(producer.send(self.passages_topic, key=key, value=body))
        producer.flush(10)
        for future in futures:
            future.get(timeout=10)
        self.sent += sum(len(passages) for passages in by_camera.values())
        self.evidence_sent += sum(len(p.evidence) for ps in by_camera.values() for p in ps)

    def run(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20)
        started = time.monotonic()
        try:
            while not self.stopping.wait(1.0):
                # Paced by the clock, not by the loop: drawing and sending a second's batch
                # took 0.2-0.4 s here, and a fixed count per loop fell to 16 passages/s.
                due = int(self.rate * (time.monotonic() - started)) - self.sent
                count = min(due, max(1, round(2 * self.rate)))  # a burst of 2 s at the most
                if count > 0:
                    self.publish(producer, count)
        except Exception as exc:  # reported by the supervisor, never a silent stop
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            producer.close(timeout=1)
