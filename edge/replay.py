"""`zes edge replay`: a clip through the agent's real path, compared with its truth.

The agent's path, unchanged: `Capture` reads the file in `every_frame` mode (frame time from
the file position, so a replay takes the same decisions however fast the box is), and one
`CameraWorker` runs motion gate, ROI, detection, OCR, tracking, voting, correction and
direction. Only the sink differs: passages are kept in memory instead of being spooled.

Matching. A passage's time is the frame time of its best read (clip seconds). It matches a
truth vehicle when that time lies in the vehicle's window widened by `MATCH_MARGIN_S` on each
side; among the vehicles it could match, the one whose plate is nearest (edit distance, O/0
folded), then the one whose window is nearest in time. A passage matching none is a false
passage; a second passage of a vehicle already matched is a duplicate.

Figures (the last line of the command, one JSON object):
- `recall` = matched / vehicles, `precision` = (passages - false - duplicates) / passages;
- `exact` = matched vehicles whose first passage's plate equals the truth (O/0 folded, as the
  dev labels write O for zero), `exact_rate` = exact / vehicles;
- `direction_correct` = share of matched vehicles whose first passage has the right direction;
- `first_read_latency_p50_s` = median, over matched vehicles, of the frame time at which the
  passage was made minus the vehicle's first_s;
- `fps_per_core` = frames / CPU seconds of the worker thread (decoding is the capture
  thread's and is not counted, as in the benchmark).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.capture import Capture
from edge.config import CameraConfig, SiteConfig, parse_site_config
from edge.models import Models
from edge.plate_text import edit_distance, fold
from edge.recognition import PlateDetector, PlateReader
from edge.truth import TruthVehicle, read_truth
from edge.worker import CameraWorker
from enforcement.records import Evidence, Passage

MATCH_MARGIN_S = 1.0
"""A passage may fall this far outside its vehicle's window (the truth's first/last second
is rounded, and a plate may be read a frame before the vehicle counts as in view)."""

REPLAY_KEYS = (
    "vehicles", "passages", "matched", "exact", "duplicates", "false_passages", "missed",
    "direction_correct", "recall", "precision", "exact_rate", "first_read_latency_p50_s",
    "fps_per_core",
)  # fmt: skip

DEFAULT_CAMERA: dict[str, Any] = {
    "id": "replay",
    "zone_id": "replay",
    "roi": None,
    "entry_line": {"a": [0.0, 0.5], "b": [1.0, 0.5], "inside": "right"},
}
"""Without a site file: the whole frame, the entry line across the middle, the lower half
inside (a vehicle approaching the camera enters)."""


@dataclass(frozen=True, slots=True)
class MadePassage:
    passage: Passage
    clip_s: float
    """Frame time of the best read, seconds from the clip's start."""
    made_s: float
    """Frame time at which the worker made it."""
    evidence: tuple[Evidence, ...] = ()
    """Its images (plate crop, overview), for the report."""


@dataclass(frozen=True, slots=True)
class Matching:
    """Which passages belong to which truth vehicle (in the order they were made)."""

    by_vehicle: dict[int, list[MadePassage]]
    """Truth index -> its passages; the first is the vehicle's passage, others duplicates."""
    false: list[MadePassage]
    """Passages that match no vehicle."""


def default_site(video: Path, spool_dir: Path) -> SiteConfig:
    return parse_site_config(
        {
            "site_id": "replay",
            "broker": {"bootstrap": "127.0.0.1:9"},
            "spool": {"path": str(spool_dir / "unused.db")},
            "cameras": [{**DEFAULT_CAMERA, "source": str(video)}],
        },
        "replay defaults",
    )


def camera_for_replay(site: SiteConfig, video: Path, camera_id: str | None) -> CameraConfig:
    """The site's camera (by id, or the only one) reading `video` frame by frame."""
    if camera_id is None:
        if len(site.cameras) != 1:
            ids = ", ".join(c.id for c in site.cameras)
            raise ValueError(f"the site has {len(site.cameras)} cameras ({ids}): give --camera")
        camera = site.cameras[0]
    else:
        found = [c for c in site.cameras if c.id == camera_id]
        if not found:
            raise ValueError(f"no camera {camera_id!r} in the site file")
        camera = found[0]
    return camera.model_copy(
        update={"source": str(video), "read_mode": "every_frame", "loop_file": False}
    )


def run_clip(
    video: Path,
    camera: CameraConfig,
    detector: PlateDetector,
    reader: PlateReader,
    site_id: str = "replay",
    capture: Capture | None = None,
) -> tuple[list[MadePassage], int, float]:
    """Play `video` through one worker; (passages, the video's frames, worker CPU seconds).

    The frames are all the video's, also those the capture passed over (`max_fps`): a
    rate per core is what one camera costs, whatever share of its frames is looked at."""
    if not video.is_file():
        raise FileNotFoundError(f"video file {video} does not exist")
    made: list[tuple[Passage, float, tuple[Evidence, ...]]] = []
    worker: CameraWorker

    def sink(passage: Passage, evidence: list[Evidence]) -> None:
        made.append((passage, worker.now_t, tuple(evidence)))

    worker = CameraWorker(site_id, camera, detector, reader, sink=sink)
    capture = capture or Capture(camera.id, str(video), "every_frame", max_fps=camera.max_fps)
    capture.start()
    frames = 0
    cpu = 0.0
    try:
        while True:
            frame = capture.get(timeout=0.5)
            if frame is None:
                if capture.finished or (capture.errors and not capture.up and frames == 0):
                    break
                continue
            start = time.thread_time()
            worker.process(frame)
            cpu += time.thread_time() - start
            frames += 1
        start = time.thread_time()
        worker.flush()
        cpu += time.thread_time() - start
    finally:
        capture.stop()
    if frames == 0:
        raise ValueError(f"{video}: no decodable frame (corrupt or not a video)")
    frames = capture.frames_read  # every frame decoded, also those passed over
    origin = capture.started_at
    out = []
    for passage, made_s, evidence in made:
        clip_s = (passage.seen_at - origin).total_seconds() if origin else made_s
        out.append(MadePassage(passage, clip_s, made_s, evidence))
    return out, frames, cpu


def match(truth: list[TruthVehicle], made: list[MadePassage]) -> Matching:
    """Each passage to its truth vehicle, or to none (the module docstring says how)."""
    by_vehicle: dict[int, list[MadePassage]] = {}
    false: list[MadePassage] = []
    for item in sorted(made, key=lambda m: m.made_s):
        candidates = [
            i
            for i, v in enumerate(truth)
            if v.first_s - MATCH_MARGIN_S <= item.clip_s <= v.last_s + MATCH_MARGIN_S
        ]
        if not candidates:
            false.append(item)
            continue
        plate = fold(item.passage.plate)

        def rank(i: int, plate: str = plate, at: float = item.clip_s) -> tuple[int, float]:
            v = truth[i]
            middle = (v.first_s + v.last_s) / 2
            return (edit_distance(plate, fold(v.plate)), abs(at - middle))

        by_vehicle.setdefault(min(candidates, key=rank), []).append(item)
    return Matching(by_vehicle, false)


def score(
    truth: list[TruthVehicle], made: list[MadePassage], frames: int, cpu_s: float
) -> dict[str, Any]:
    """Compare passages with the truth (the module docstring says how)."""
    matching = match(truth, made)
    by_vehicle = matching.by_vehicle
    false_passages = len(matching.false)
    matched = len(by_vehicle)
    duplicates = sum(len(items) - 1 for items in by_vehicle.values())
    exact = sum(
        1 for i, items in by_vehicle.items() if fold(items[0].passage.plate) == fold(truth[i].plate)
    )
    right_way = sum(
        1 for i, items in by_vehicle.items() if items[0].passage.direction == truth[i].direction
    )
    latencies = [items[0].made_s - truth[i].first_s for i, items in by_vehicle.items()]
    vehicles, passages = len(truth), len(made)
    return {
        "vehicles": vehicles,
        "passages": passages,
        "matched": matched,
        "exact": exact,
        "duplicates": duplicates,
        "false_passages": false_passages,
        "missed": vehicles - matched,
        "direction_correct": round(right_way / matched, 4) if matched else 0.0,
        "recall": round(matched / vehicles, 4) if vehicles else 1.0,
        "precision": round((passages - false_passages - duplicates) / passages, 4)
        if passages
        else 1.0,
        "exact_rate": round(exact / vehicles, 4) if vehicles else 1.0,
        "first_read_latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "fps_per_core": round(frames / cpu_s, 1) if cpu_s > 0 else None,
    }


@dataclass(frozen=True, slots=True)
class Replayed:
    """One clip replayed: its truth, what matched what, and the figures."""

    truth: list[TruthVehicle]
    matching: Matching
    summary: dict[str, Any]


def replay_clip(
    video: Path,
    truth_csv: Path,
    site: SiteConfig | None = None,
    camera_id: str | None = None,
    detector: PlateDetector | None = None,
    reader: PlateReader | None = None,
) -> Replayed:
    """Replay one clip against its truth (`edge.replay_report` writes the report of it)."""
    truth = read_truth(truth_csv)
    with tempfile.TemporaryDirectory(prefix="zes-replay-") as tmp:
        site = site or default_site(video, Path(tmp))
        camera = camera_for_replay(site, video, camera_id)
        models = Models(site)
        detector = detector or models.detector(camera)
        reader = reader or models.reader()
        made, frames, cpu = run_clip(video, camera, detector, reader, site.site_id)
    return Replayed(truth, match(truth, made), score(truth, made, frames, cpu))


def replay(
    video: Path,
    truth_csv: Path,
    site: SiteConfig | None = None,
    camera_id: str | None = None,
    detector: PlateDetector | None = None,
    reader: PlateReader | None = None,
) -> dict[str, Any]:
    """The `zes edge replay` figures for one clip and its truth."""
    return replay_clip(video, truth_csv, site, camera_id, detector, reader).summary
