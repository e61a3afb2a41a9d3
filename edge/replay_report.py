"""The site engineer's report of a replay: `vehicles.csv` and `index.html` in one folder.

One row per truth vehicle (its passage, `exact` or `misread`, or `missed`), one per further
passage of a vehicle (`duplicate`) and one per passage that matches no vehicle (`false`), in
the order of the clip. Each row shows the truth's plate and window, what the passage read
(raw and corrected, the characters the correction changed), its confidence, frames,
direction and latency; the HTML page adds each passage's plate crop and overview, and for a
missed vehicle the sharpest frame of its window, so one look says what a camera gets wrong.
The plates in it are the test clip's, in a folder the engineer chose: it is a tool for
setting up a camera, never run on live traffic.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2

from edge.passage_evidence import OVERVIEW_MAX_WIDTH, jpeg
from edge.plate_text import fold
from edge.recognition import Image
from edge.replay import MadePassage, Matching
from edge.truth import TruthVehicle

Status = Literal["exact", "misread", "missed", "duplicate", "false"]

COLUMNS = (
    "status", "truth_plate", "truth_first_s", "truth_last_s", "truth_direction", "plate_raw",
    "plate", "changed", "confidence", "frames", "direction", "direction_right", "latency_s",
    "clip_s", "passage_id", "images",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReportRow:
    status: Status
    truth: TruthVehicle | None
    made: MadePassage | None
    images: tuple[str, ...] = ()
    """Image files relative to the report folder."""

    def cells(self) -> dict[str, str]:
        t, m = self.truth, self.made
        p = m.passage if m is not None else None
        changed = " ".join(f"{c.at + 1}:{c.read}>{c.used}" for c in p.changes) if p else ""
        return {
            "status": self.status,
            "truth_plate": t.plate if t else "",
            "truth_first_s": f"{t.first_s:.2f}" if t else "",
            "truth_last_s": f"{t.last_s:.2f}" if t else "",
            "truth_direction": t.direction if t else "",
            "plate_raw": p.plate_raw if p else "",
            "plate": p.plate if p else "",
            "changed": changed,
            "confidence": f"{p.confidence:.3f}" if p else "",
            "frames": str(p.frames) if p else "",
            "direction": p.direction if p else "",
            "direction_right": ""
            if not (p and t)
            else "yes"
            if p.direction == t.direction
            else "no",
            "latency_s": f"{m.made_s - t.first_s:.2f}" if m and t else "",
            "clip_s": f"{m.clip_s:.2f}" if m else "",
            "passage_id": str(p.passage_id) if p else "",
            "images": " ".join(self.images),
        }


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def report_rows(truth: Sequence[TruthVehicle], matching: Matching) -> list[ReportRow]:
    """The rows in clip order: each vehicle's, then its duplicates; false passages between."""
    rows: list[tuple[float, int, ReportRow]] = []
    for i, vehicle in enumerate(truth):
        items = matching.by_vehicle.get(i, [])
        if not items:
            rows.append((vehicle.first_s, 0, ReportRow("missed", vehicle, None)))
            continue
        first, *more = items
        status: Status = "exact" if fold(first.passage.plate) == fold(vehicle.plate) else "misread"
        rows.append((vehicle.first_s, 0, ReportRow(status, vehicle, first)))
        rows += [(vehicle.first_s, 1, ReportRow("duplicate", vehicle, m)) for m in more]
    rows += [(m.clip_s, 2, ReportRow("false", None, m)) for m in matching.false]
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


def sharpest_frames(video: Path, windows: dict[int, tuple[float, float]]) -> dict[int, Image]:
    """For each window (seconds), the frame in it with the most detail (variance of the
    Laplacian of a small grey copy): where a missed vehicle was best to see."""
    best: dict[int, tuple[float, Image]] = {}
    if not windows:
        return {}
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            at = index / fps
            index += 1
            inside = [k for k, (a, b) in windows.items() if a <= at <= b]
            if not inside:
                continue
            small = cv2.resize(image, (320, max(1, image.shape[0] * 320 // image.shape[1])))
            sharpness = float(cv2.Laplacian(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 6).var())
            for k in inside:
                if k not in best or sharpness > best[k][0]:
                    best[k] = (sharpness, image)
    finally:
        capture.release()
    return {k: image for k, (_, image) in best.items()}


def write_report(
    folder: Path,
    video: Path,
    truth: Sequence[TruthVehicle],
    matching: Matching,
    summary: dict[str, Any],
) -> list[ReportRow]:
    """Write `vehicles.csv`, `index.html` and the images under `img/`; return the rows."""
    images = folder / "img"
    images.mkdir(parents=True, exist_ok=True)
    rows = report_rows(truth, matching)
    missed = {
        n: (row.truth.first_s, row.truth.last_s)
        for n, row in enumerate(rows)
        if row.status == "missed" and row.truth is not None
    }
    frames = sharpest_frames(video, missed)
    done: list[ReportRow] = []
    for n, row in enumerate(rows):
        names: list[str] = []
        if row.made is not None:
            for item in row.made.evidence:
                name = f"img/{row.made.passage.passage_id}-{item.kind}.jpg"
                (folder / name).write_bytes(item.data)
                names.append(name)
        elif n in frames:
            name = f"img/missed-{n:04d}.jpg"
            (folder / name).write_bytes(jpeg(frames[n], OVERVIEW_MAX_WIDTH))
            names.append(name)
        done.append(ReportRow(row.status, row.truth, row.made, tuple(names)))
    with (folder / "vehicles.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(row.cells() for row in done)
    (folder / "index.html").write_text(_page(video, done, summary), encoding="utf-8")
    return done


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
td.num { text-align: right; }
tr.exact td.status { background: #d9f2d9; }
tr.misread td.status, tr.duplicate td.status { background: #fde9c8; }
tr.missed td.status, tr.false td.status { background: #f8d0d0; }
img { max-height: 160px; margin-right: 4px; }
"""


def _page(video: Path, rows: Sequence[ReportRow], summary: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS if c != "images")
    body = []
    for row in rows:
        cells = row.cells()
        tds = "".join(
            f'<td class="{"num" if c in NUMERIC else c}">{html.escape(cells[c])}</td>'
            for c in COLUMNS
            if c != "images"
        )
        pictures = "".join(
            f'<a href="{ref}"><img src="{ref}" alt="{ref}"></a>'
            for ref in (html.escape(name) for name in row.images)
        )
        body.append(f'<tr class="{row.status}">{tds}<td>{pictures}</td></tr>')
    counts = html.escape(json.dumps(summary))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Replay of {html.escape(video.name)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>Replay of {html.escape(video.name)}</h1><p><code>{counts}</code></p>"
        f"<table><thead><tr>{head}<th>images</th></tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></body></html>\n"
    )


NUMERIC = frozenset(
    {"truth_first_s", "truth_last_s", "confidence", "frames", "latency_s", "clip_s"}
)
