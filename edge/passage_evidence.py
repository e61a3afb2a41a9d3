"""The evidence a passage carries, as the edge publishes it: a plate crop and an overview as
JPEG, an `EvidenceRef` (kind, SHA-256, size) on the passage and an `Evidence` record per image
(the bytes travel in the evidence topic, keyed by passage id). One place, so the simulated
cameras of `zes up` publish exactly what a roadside camera does.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import cv2

from edge.recognition import Box, Image, crop
from enforcement.records import Evidence, EvidenceKind, EvidenceRef

OVERVIEW_MAX_WIDTH = 1280
JPEG_QUALITY = 85
PLATE_CROP_PAD = 0.15
"""Margin around the plate box in the crop, as a fraction of the box (reviewers want the
plate's border and a little of the car around it)."""


def jpeg(image: Image, max_width: int | None = None) -> bytes:
    """The image as JPEG, scaled down to `max_width` when wider."""
    if max_width is not None and image.shape[1] > max_width:
        scale = max_width / image.shape[1]
        image = cv2.resize(image, (max_width, max(1, round(image.shape[0] * scale))))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())


def passage_images(frame: Image, plate: Box) -> tuple[tuple[EvidenceKind, bytes], ...]:
    """The two images of a passage from its best frame and the plate's box in it."""
    return (
        ("plate_crop", jpeg(crop(frame, plate, pad=PLATE_CROP_PAD))),
        ("overview", jpeg(frame, OVERVIEW_MAX_WIDTH)),
    )


def evidence_records(
    passage_id: uuid.UUID,
    captured_at: datetime,
    images: tuple[tuple[EvidenceKind, bytes], ...],
) -> tuple[tuple[EvidenceRef, ...], list[Evidence]]:
    """The references for the passage and the evidence records that carry the bytes."""
    refs: list[EvidenceRef] = []
    evidence: list[Evidence] = []
    for kind, data in images:
        digest = hashlib.sha256(data).hexdigest()
        refs.append(EvidenceRef(kind=kind, sha256=digest, size=len(data)))
        record = Evidence(
            passage_id=passage_id, kind=kind, sha256=digest, captured_at=captured_at, data=data
        )
        evidence.append(record)
    return tuple(refs), evidence
