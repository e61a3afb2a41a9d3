"""Edge benchmark: this agent's pipeline vs. fast-alpr reading every frame, on 1080p25 H.264.

Builds a 1080p25 drive-by video from the openalpr dev photos (`edge.drive_by`), encoded as
an IP camera sends it (`encode`: H.264 High, no B-frames, a key frame every 2 s, capped at
8 Mbit/s, via PyAV's libx264; MPEG-4 Part 2 via OpenCV where PyAV is missing: the JSON says
which), then runs in the same process, one onnxruntime thread each, on the frames read the
way the agent's capture reads a file (`Capture`, its own decoding thread):
(a) the agent's pipeline (`CameraWorker` behind a capture that hands out at most the
    camera's `max_fps`: motion gate, ROI crop, detector at the configured small size,
    tracking, OCR once per N frames, vote) -> passages;
(b) the baseline: detect on every whole frame with the 640 detector and read every box, as
    fast-alpr's `ALPR.predict` does per frame (fast-alpr itself is used when installed,
    wrapped around the same model files; otherwise the same two calls are made directly);
    a vehicle's plate is the most frequent read within its visible frames.
Both are timed twice: `fps_per_core` counts the working thread only; `fps_per_core_with_decode`
divides the video's frames by the whole process's CPU time, decoding included, and
`cameras_per_core` is that over the video's frame rate (25): how many such cameras one core
carries.

Then `conditions`: one entrance-view clip per hard condition (`edge.clips`: plates at 8% and
5% of the width, night/IR, motion blur, rain/JPEG, an occlusion by a bus, a queue with an 8 s
stop, two side by side, a car parked in view, and dense two-lane two-way traffic by day, at
dusk and at night), at `--condition-fps` (25) and encoded like the drive-by, replayed
through the agent's real path (`edge.replay`, default site settings: whole frame, entry line
at mid height) and scored against its truth: vehicles, passages, recall, exact_rate,
duplicates, false_passages, direction_correct, first_read_latency_p50_s, fps_per_core, and
with decoding fps_per_core_with_decode and cameras_per_core_at_25fps. Each condition also
runs the baseline (reading one frame in `--baseline-every`, 5, all decoded; its CPU for the
others estimated, it costs the same on every frame) for its exact_rate and rates, and the
ratios. `worst` names each target's worst condition.

With `--steps`, also the step table of issue 12 on the dev photos and their harder variants
(`zes edge eval`): detection on the whole image at 320 (before), in the vehicle's region at
native resolution, then with the night enhancement before detection, upscaling and contrast
before OCR, each step on top of the one before - exact reads and detection recall per
variant and step (several minutes).

Prints one JSON object as its last line. Goals (issues 3, 12 and 27): ratio >= 5 at equal or
better accuracy in every condition; >= 4 cameras per core on the drive-by; recall >= 0.97
and exact >= 0.96 per condition; no duplicates and no false passages; direction right for
>= 0.98 of matched passages; first-read latency p50 <= 2.5 s. Targets, not assertions.
It is one module because it is one run printing one JSON object: its parts exist only to be
measured beside each other, on the same clips, in the same process.

With `--int8`, the agent runs with a 320 detector quantized as `zes edge quantize` makes it,
calibrated on two clips of its own (not the conditions'); the baseline stays fast-alpr as
shipped, and the JSON's `detector` says which the agent used.

    python -m benchmarks.edge [--seconds 30] [--vehicles 10] [--only night,dense] [--steps]
                              [--int8]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge.capture import Capture
from edge.config import CameraConfig, EntryLine, ModelsConfig, resolve_model_paths
from edge.drive_by import DriveBy, make_drive_by
from edge.evaluation import load_annotations
from edge.plate_text import fold
from edge.recognition import OnnxPlateDetector, OnnxPlateReader, crop, session_options
from edge.worker import CameraWorker
from enforcement.settings import load_settings


def _frames(video: Path, max_fps: float | None = None) -> Any:
    """The video's frames as the agent's capture reads a file (`Capture`, every_frame: its
    own thread decodes with OpenCV's FFmpeg backend; at most `max_fps` handed out), so the
    process CPU time around a loop over them includes decoding the way the agent pays for it."""
    capture = Capture("bench", str(video), "every_frame", max_fps=max_fps).start()
    try:
        while True:
            frame = capture.get(timeout=0.5)
            if frame is not None:
                yield frame
            elif capture.finished:
                return
    finally:
        capture.stop()


def model_files(models: Path, size: int = 320) -> tuple[Path, Path, Path]:
    """The `size` detector, the OCR model and its config in `models`, named as the agent
    names them (`edge.config.resolve_model_paths`)."""
    return resolve_model_paths(ModelsConfig(dir=models), size)


def _reader(models: Path) -> OnnxPlateReader:
    _, ocr, config = model_files(models)
    return OnnxPlateReader(ocr, config)


class CpuClock:
    """CPU seconds of this thread (the worker's) and of the whole process (worker, decoding
    and everything else), between `start` and `stop`."""

    def __init__(self) -> None:
        self.process = self._process0 = 0.0

    def start(self) -> None:
        self._process0 = time.process_time()

    def stop(self) -> None:
        self.process = time.process_time() - self._process0


def _rates(frames: int, worker_s: float, process_s: float, fps: float) -> dict[str, Any]:
    with_decode = frames / process_s if process_s > 0 else 0.0
    return {
        "cpu_s": round(worker_s, 2),
        "fps_per_core": round(frames / worker_s, 2) if worker_s > 0 else None,
        "cpu_s_with_decode": round(process_s, 2),
        "fps_per_core_with_decode": round(with_decode, 2),
        "cameras_per_core": round(with_decode / fps, 2),
    }


ROI = ((0.25, 0.05), (0.8, 0.05), (0.8, 1.0), (0.25, 1.0))

ABLATION_KEYS = (
    "fps_per_core", "fps_per_core_with_decode", "cameras_per_core", "accuracy", "passages",
    "frames_detected",
)  # fmt: skip

#: One speed measure switched off at a time: what each one buys (with --ablations).
ABLATIONS: dict[str, dict[str, Any]] = {
    "every_frame": {"max_fps": None},
    "no_motion_gate": {"thresholds": {"motion_fraction": 0.0}},
    "detect_every_frame": {"thresholds": {"detect_every_n_frames": 1}},
    "ocr_every_frame": {"thresholds": {"ocr_every_n_frames": 1}},
    "no_roi": {"roi": None},
    "detector_640": {"detector_size": 640},
}


def run_pipeline(
    drive: DriveBy,
    models: Path,
    size: int,
    change: dict[str, Any] | None = None,
    detector_file: Path | None = None,
) -> dict[str, Any]:
    change = change or {}
    spec: dict[str, Any] = {
        "id": "bench",
        "source": str(drive.video),
        "zone_id": "bench",
        "roi": ROI,
        "entry_line": EntryLine(a=(0.0, 0.5), b=(1.0, 0.5), inside="right"),
        "detector_size": size,
        "thresholds": {"ocr_every_n_frames": 3, **change.get("thresholds", {})},
        "read_mode": "every_frame",
    }
    spec.update({k: v for k, v in change.items() if k != "thresholds"})
    camera = CameraConfig.model_validate(spec)
    size = camera.detector_size
    detector = OnnxPlateDetector(
        detector_file or model_files(models, size)[0],
        conf_thresh=0.4,
    )
    reader = _reader(models)
    worker = CameraWorker("bench", camera, detector, reader)
    passages = []
    cpu = 0.0
    looked_at = 0
    clock = CpuClock()
    clock.start()
    for frame in _frames(drive.video, camera.max_fps):
        start = time.thread_time()
        passages += [(frame.index, p) for p in worker.process(frame)]
        cpu += time.thread_time() - start
        looked_at += 1
    # Rates count the video's frames: what one camera sends, whatever the agent looks at.
    frames = drive.frames
    start = time.thread_time()
    passages += [(frames, p) for p in worker.flush()]
    cpu += time.thread_time() - start
    clock.stop()
    correct = 0
    matched: set[int] = set()
    for _, passage in passages:
        for i, vehicle in enumerate(drive.vehicles):
            if i in matched:
                continue
            if fold(passage.plate_raw) == fold(vehicle.plate) or fold(passage.plate) == fold(
                vehicle.plate
            ):
                matched.add(i)
                correct += 1
                break
    return {
        "frames": frames,
        "frames_looked_at": looked_at,
        **_rates(frames, cpu, clock.process, drive.fps),
        "passages": len(passages),
        "correct": correct,
        "accuracy": round(correct / len(drive.vehicles), 4),
        "frames_detected": worker.frames_processed,
        "frames_skipped": worker.frames_skipped,
        "directions_right": sum(
            1
            for _, p in passages
            for v in drive.vehicles
            if fold(p.plate_raw) == fold(v.plate) and p.direction == v.direction
        ),
    }


class _Detector:
    """The detector as fast-alpr's `BaseDetector` (used only when fast-alpr is installed)."""

    def __init__(self, inner: OnnxPlateDetector) -> None:
        self.inner = inner

    def predict(self, frame: Any) -> Any:
        return self.inner._detector.predict(frame)


@dataclass
class FastAlprRun:
    """fast-alpr's reads of one video: (frame time s, texts) for each frame it read."""

    implementation: str
    reads: list[tuple[float, list[str]]]
    frames: int
    every: int
    worker_s: float
    process_s: float

    def rates(self, fps: float) -> dict[str, Any]:
        """Its rates per core. With `every` > 1 it read one frame in `every` (decoding all
        of them): its CPU for the frames it skipped is estimated as `every - 1` times what
        it spent, since `ALPR.predict` costs the same on every frame (detection on the whole
        frame, then one OCR per plate found)."""
        extra = (self.every - 1) * self.worker_s
        return {"sampled_every": self.every} | _rates(
            self.frames, self.worker_s + extra, self.process_s + extra, fps
        )


def run_fast_alpr(video: Path, models: Path, size: int = 640, every: int = 1) -> FastAlprRun:
    """The baseline on `video`: detect on every whole frame with the `size` detector and
    read every box, as fast-alpr's `ALPR.predict` does per frame (fast-alpr itself when
    installed, wrapped around the same model files; otherwise the same two calls directly);
    every frame decoded, one in `every` read."""
    detector = OnnxPlateDetector(model_files(models, size)[0], conf_thresh=0.4)
    reader = _reader(models)
    alpr: Any = None
    try:  # pragma: no cover - fast-alpr is optional
        # Imported by name: fast-alpr is optional, and mypy must not need it either way.
        alpr = importlib.import_module("fast_alpr").ALPR(
            detector=_Detector(detector),
            ocr_model=None,
            ocr_device="cpu",
            ocr_sess_options=session_options(1),
            ocr_model_path=str(model_files(models)[1]),
            ocr_config_path=str(model_files(models)[2]),
        )
    except ImportError:
        alpr = None
    reads: list[tuple[float, list[str]]] = []
    cpu = 0.0
    frames = 0
    clock = CpuClock()
    clock.start()
    for frame in _frames(video):
        frames += 1
        if (frames - 1) % every:
            continue
        start = time.thread_time()
        if alpr is not None:  # pragma: no cover
            texts = [r.ocr.text for r in alpr.predict(frame.image) if r.ocr is not None]
        else:
            boxes = detector.detect(frame.image)
            texts = [r.text for r in reader.read([crop(frame.image, b) for b in boxes])]
        cpu += time.thread_time() - start
        reads.append((frame.time_s, texts))
    clock.stop()
    implementation = "fast_alpr.ALPR.predict" if alpr is not None else "detect+ocr per frame"
    return FastAlprRun(implementation, reads, frames, every, cpu, clock.process)


def fast_alpr_correct(run: FastAlprRun, windows: list[tuple[str, float, float]]) -> int:
    """Vehicles (plate, first and last second in view) whose most frequent read by the
    baseline within their window is their plate (O and 0 folded)."""
    correct = 0
    for plate, first_s, last_s in windows:
        seen = Counter(t for at, texts in run.reads if first_s <= at <= last_s for t in texts)
        if seen and fold(seen.most_common(1)[0][0]) == fold(plate):
            correct += 1
    return correct


def run_baseline(drive: DriveBy, models: Path, size: int = 640) -> dict[str, Any]:
    run = run_fast_alpr(drive.video, models, size)
    # Frame times are index / fps, so a vehicle's frames are its seconds in view.
    windows = [
        (v.plate, v.first_frame / drive.fps - 1e-6, v.last_frame / drive.fps + 1e-6)
        for v in drive.vehicles
    ]
    correct = fast_alpr_correct(run, windows)
    return {
        "implementation": run.implementation,
        "detector_size": size,
        "frames": run.frames,
        **run.rates(drive.fps),
        "correct": correct,
        "accuracy": round(correct / len(drive.vehicles), 4),
    }


CONDITION_KEYS = (
    "vehicles", "passages", "recall", "exact_rate", "duplicates", "false_passages",
    "direction_correct", "first_read_latency_p50_s", "fps_per_core",
)  # fmt: skip

CODECS = ("avc1", "mp4v")
"""Codecs OpenCV may write, when PyAV is not installed: H.264 as a camera sends it, else
MPEG-4 Part 2 (the pip OpenCV wheels carry no H.264 encoder; decoding MPEG-4 costs less than
H.264, so the figure with decoding is then optimistic)."""

GOP_S = 2.0
"""A key frame every 2 s, as entrance cameras are usually set (and ONVIF's default GOP)."""


def encode(video: Path, codecs: tuple[str, ...] = CODECS) -> tuple[Path, str]:
    """`video` re-encoded as a camera sends it (an .mp4 beside it); the codec used.

    With PyAV (a dev dependency: its wheel carries libx264) that is H.264 High profile,
    yuv420p, CABAC and the deblocking filter on, no B-frames and a key frame every `GOP_S`:
    what an IP camera's main stream decodes like. Without it, the first of `codecs` that
    OpenCV can write here. The frames are the same, only their coding differs."""
    try:
        av = importlib.import_module("av")
    except ImportError:
        return _encode_opencv(video, codecs)
    source = cv2.VideoCapture(str(video))
    fps = source.get(cv2.CAP_PROP_FPS) or 25.0
    out = video.with_name(f"{video.stem}-h264.mp4")
    try:
        with av.open(str(out), "w") as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.width = int(source.get(cv2.CAP_PROP_FRAME_WIDTH))
            stream.height = int(source.get(cv2.CAP_PROP_FRAME_HEIGHT))
            stream.pix_fmt = "yuv420p"
            stream.options = {
                "preset": "superfast", "crf": "23", "maxrate": "8M", "bufsize": "8M", "bf": "0",
                "g": str(round(fps * GOP_S)), "profile": "high",
            }  # fmt: skip
            while True:
                ok, image = source.read()
                if not ok:
                    break
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    finally:
        source.release()
    return out, "h264"


def _encode_opencv(video: Path, codecs: tuple[str, ...]) -> tuple[Path, str]:
    source = cv2.VideoCapture(str(video))
    fps = source.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    try:
        for codec in codecs:
            out = video.with_name(f"{video.stem}-{codec}.mp4")
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*codec), fps, size)
            if not writer.isOpened():
                continue
            try:
                source.set(cv2.CAP_PROP_POS_FRAMES, 0)
                while True:
                    ok, image = source.read()
                    if not ok:
                        break
                    writer.write(image)
            finally:
                writer.release()
            return out, codec
    finally:
        source.release()
    raise OSError(f"OpenCV here can write none of {', '.join(codecs)}")


BASELINE_KEYS = ("sampled_every", "fps_per_core", "fps_per_core_with_decode")


def run_conditions(
    photos: list[Any],
    models: Path,
    tmp: Path,
    vehicles: int,
    fps: float,
    width: int,
    height: int,
    baseline_every: int = 5,
    only: tuple[str, ...] = (),
    detector_file: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Each hard condition's clip, encoded as a camera sends it (`encode`), through the
    agent's real path and through the baseline, scored against its truth."""
    from edge.clips import CONDITIONS, make_clip
    from edge.replay import camera_for_replay, default_site, run_clip, score
    from edge.truth import read_truth

    detector = OnnxPlateDetector(detector_file or model_files(models, 320)[0])
    reader = _reader(models)
    # The dev set holds several photos of some vehicles: one per plate, or the truth would
    # list one vehicle twice within the de-duplication window.
    distinct = list({a.plate: a for a in photos}.values())
    results: dict[str, dict[str, Any]] = {}
    for number, condition in enumerate(c for c in CONDITIONS if c != "standard"):
        if only and condition not in only:
            continue
        # Different photos per condition, parked: one more (the parked car).
        count = vehicles + (1 if condition == "parked" else 0)
        chosen = [distinct[(number * 7 + i) % len(distinct)] for i in range(count)]
        clip = make_clip(
            chosen, tmp / f"{condition}.avi", condition, width=width, height=height, fps=fps
        )
        video, codec = encode(clip.video)
        clip.video.unlink()
        truth = read_truth(clip.truth)
        camera = camera_for_replay(default_site(video, tmp), video, None)
        started = time.process_time()  # worker and the capture's decoding thread
        made, frames, cpu = run_clip(video, camera, detector, reader)
        process_s = time.process_time() - started
        scored = score(truth, made, frames, cpu)
        with_decode = frames / process_s if process_s > 0 else 0.0
        baseline = run_fast_alpr(video, models, every=baseline_every)
        base_rates = baseline.rates(fps)
        base_correct = fast_alpr_correct(baseline, [(v.plate, v.first_s, v.last_s) for v in truth])
        results[condition] = {k: scored[k] for k in CONDITION_KEYS} | {
            "codec": codec,
            "fps": fps,
            "fps_per_core_with_decode": round(with_decode, 2),
            "cameras_per_core_at_25fps": round(with_decode / 25.0, 2),
            "baseline": {
                "exact_rate": round(base_correct / len(truth), 4) if truth else 1.0,
                **{k: base_rates[k] for k in BASELINE_KEYS},
            },
            "ratio": _ratio(scored["fps_per_core"], base_rates["fps_per_core"]),
            "ratio_with_decode": _ratio(with_decode, base_rates["fps_per_core_with_decode"]),
        }
        video.unlink()
    return results


def make_int8_detector(
    photos: list[Any], models: Path, tmp: Path, fps: float, width: int, height: int
) -> tuple[Path, dict[str, Any]]:
    """`zes edge quantize` as a site engineer runs it: the 320 detector calibrated on two
    clips of its own (dense traffic by day, small plates at night), built from the dev
    photos in another order and with another seed than the conditions, so no benchmark
    clip is among them."""
    from edge.clips import make_clip
    from edge.quantize import calibration_views, quantize_detector
    from edge.replay import camera_for_replay, default_site

    distinct = list({a.plate: a for a in photos}.values())
    videos = []
    for name, condition, night, first in (("day", "dense", False, 3), ("night", "small8", True, 5)):
        chosen = [distinct[(first + 5 * i) % len(distinct)] for i in range(8)]
        clip = make_clip(
            chosen, tmp / f"calibration-{name}.avi", condition, width=width, height=height,
            fps=fps, night=night, seed=97,
        )  # fmt: skip
        video, _ = encode(clip.video)
        clip.video.unlink()
        videos.append(video)
    source = model_files(models, 320)[0]
    camera = camera_for_replay(default_site(videos[0], tmp), videos[0], None)
    reader = _reader(models)
    recording = calibration_views(videos, camera, OnnxPlateDetector(source), reader, 320)
    target = tmp / "detector-320-int8.onnx"
    quantize_detector(source, target, recording.views)
    for video in videos:
        video.unlink()
    return target, {
        "calibration": "dense by day + small8 at night, 8 vehicles each, seed 97",
        "views_seen": recording.seen,
        "views_used": len(recording.views),
    }


def worst(conditions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each target's worst condition and its figure: what the note's table starts from."""

    def low(key: str, of: Any = None) -> dict[str, Any]:
        pick = of or (lambda c: c[key])
        name = min(conditions, key=lambda n: pick(conditions[n]) or 0.0)
        return {"condition": name, "value": pick(conditions[name])}

    slowest = max(conditions, key=lambda n: conditions[n]["first_read_latency_p50_s"] or 0.0)
    return {
        "recall": low("recall"),
        "exact_rate": low("exact_rate"),
        "direction_correct": low("direction_correct"),
        "ratio": low("ratio"),
        "ratio_with_decode": low("ratio_with_decode"),
        "exact_minus_baseline": low(
            "", lambda c: round(c["exact_rate"] - c["baseline"]["exact_rate"], 4)
        ),
        "first_read_latency_p50_s": {
            "condition": slowest,
            "value": conditions[slowest]["first_read_latency_p50_s"],
        },
        "duplicates": sum(c["duplicates"] for c in conditions.values()),
        "false_passages": sum(c["false_passages"] for c in conditions.values()),
    }


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 2) if ours and theirs else None


STEPS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("whole_320", {"detect": "whole"}),
    ("region", {"detect": "region"}),
    ("region+night_detect", {"detect": "region", "night_detect": True}),
    ("+upscale", {"detect": "region", "night_detect": True, "upscale": True}),
    ("+contrast", {"detect": "region", "night_detect": True, "upscale": True, "contrast": True}),
)
VARIANTS = ("none", "small8", "small5", "night", "blur", "jpeg20", "skew20", "occluded")


def run_steps(folder: Path, models: Path) -> dict[str, dict[str, Any]]:
    from edge.evaluation import evaluate

    detector = OnnxPlateDetector(model_files(models, 320)[0])
    reader = _reader(models)
    table: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        row = {}
        for name, options in STEPS:
            result = evaluate(folder, detector, reader, variant=variant, **options)
            row[name] = {k: result[k] for k in ("exact", "exact_folded", "detect_recall_iou30")} | {
                "ms": result["ms_per_image_median"]
            }
        table[variant] = row
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=25.0, help="the drive-by's frame rate")
    parser.add_argument(
        "--condition-fps", type=float, default=25.0, help="the condition clips' frame rate"
    )
    parser.add_argument(
        "--baseline-every",
        type=int,
        default=5,
        help="on the condition clips the baseline reads one frame in N (all decoded) and its "
        "CPU for the others is estimated (it costs the same on every frame)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated conditions to run (default: all)"
    )
    parser.add_argument("--vehicles", type=int, default=10, help="vehicles per condition")
    parser.add_argument("--no-conditions", action="store_true", help="skip the conditions")
    parser.add_argument("--steps", action="store_true", help="also the eval step table")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--size", type=int, default=320, help="pipeline detector size")
    parser.add_argument("--baseline-size", type=int, default=640)
    parser.add_argument(
        "--ablations", action="store_true", help="also run with each speed measure off"
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="run the agent with a 320 detector quantized by `zes edge quantize` on two "
        "calibration clips of its own (the baseline stays fast-alpr as shipped)",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.models is None or settings.data is None:
        print(
            "no model/data folder: set ZES_SHARED_DIR or ZES_MODEL_DIR/ZES_DATA_DIR",
            file=sys.stderr,
        )
        return 2
    photos = load_annotations(settings.data / "openalpr-eu-dev")
    pass_s, gap_s = 2.0, 1.0
    count = max(1, int(args.seconds / (pass_s + gap_s)) + 1)
    with tempfile.TemporaryDirectory(prefix="zes-edge-bench-") as tmp:
        started = time.perf_counter()
        drive = make_drive_by(
            photos[:count]
            if count <= len(photos)
            else (photos * (count // len(photos) + 1))[:count],
            Path(tmp) / "drive.avi",
            width=args.width,
            height=args.height,
            fps=args.fps,
            pass_s=pass_s,
            gap_s=gap_s,
            plate_width=0.08,
        )
        encoded, codec = encode(drive.video)
        drive = dataclasses.replace(drive, video=encoded)
        build_s = time.perf_counter() - started
        detector_file: Path | None = None
        int8: dict[str, Any] = {}
        if args.int8:
            detector_file, int8 = make_int8_detector(
                photos, settings.models, Path(tmp), args.condition_fps, args.width, args.height
            )
        pipeline = run_pipeline(drive, settings.models, args.size, None, detector_file)
        baseline = run_baseline(drive, settings.models, args.baseline_size)
        ablations = {}
        if args.ablations:
            for name, change in ABLATIONS.items():
                run = run_pipeline(drive, settings.models, args.size, change, detector_file)
                ablations[name] = {k: run[k] for k in ABLATION_KEYS}
        conditions = {}
        if not args.no_conditions:
            conditions = run_conditions(
                photos, settings.models, Path(tmp), args.vehicles, args.condition_fps,
                args.width, args.height, args.baseline_every,
                tuple(c for c in args.only.split(",") if c), detector_file,
            )  # fmt: skip
    steps = run_steps(settings.data / "openalpr-eu-dev", settings.models) if args.steps else {}
    result = {
        "video": {
            "seconds": round(drive.frames / drive.fps, 1),
            "frames": drive.frames,
            "size": f"{drive.width}x{drive.height}",
            "fps": drive.fps,
            "codec": codec,
            "vehicles": len(drive.vehicles),
            "build_s": round(build_s, 1),
        },
        "detector": {"size": args.size, "precision": "int8" if args.int8 else "fp32", **int8},
        "pipeline": pipeline,
        "baseline": baseline,
        "fps_per_core_ratio": round(pipeline["fps_per_core"] / baseline["fps_per_core"], 2),
        "fps_per_core_with_decode_ratio": round(
            pipeline["fps_per_core_with_decode"] / baseline["fps_per_core_with_decode"], 2
        ),
        **({"ablations": ablations} if ablations else {}),
        **({"conditions": conditions} if conditions else {}),
        **({"worst": worst(conditions)} if conditions else {}),
        **({"steps": steps} if steps else {}),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
