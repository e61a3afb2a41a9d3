"""Edge benchmark: this agent's pipeline vs. reading every frame, on a 1080p drive-by video.

Builds a 1080p25 drive-by video from the openalpr dev photos (`edge.drive_by`), re-encoded as
H.264 where the local OpenCV can write it, else MPEG-4 Part 2 (`encode`; the JSON says which),
then runs in the same process, one onnxruntime thread each, on the same frames read the way
the agent's capture reads a file (`Capture`, its own decoding thread):
(a) the agent's pipeline (`CameraWorker`: motion gate, ROI crop, detector at the configured
    small size, tracking, OCR once per N frames, vote) -> passages;
(b) the baseline: detect on every whole frame with the 640 detector and read every box, as
    fast-alpr's `ALPR.predict` does per frame (fast-alpr itself is used when installed,
    wrapped around the same model files; otherwise the same two calls are made directly);
    a vehicle's plate is the most frequent read within its visible frames.
Both are timed twice: `fps_per_core` counts the working thread only, as before;
`fps_per_core_with_decode` divides the frames by the whole process's CPU time, decoding
included, and `cameras_per_core` is that over the video's frame rate (25): how many such
cameras one core carries.

Then `conditions`: one 1080p entrance-view clip per hard condition (`edge.clips`: plates at
8% and 5% of the width, night/IR, motion blur, rain/JPEG, an occlusion by a bus, a queue
with an 8 s stop, two side by side, a car parked in view, and dense two-lane two-way traffic
by day, at dusk and at night) replayed through the agent's real
path (`edge.replay`, default site settings: whole frame, entry line at mid height) and
scored against its truth: vehicles, passages, recall, exact_rate, duplicates,
false_passages, direction_correct, first_read_latency_p50_s, fps_per_core, and with the
capture's decoding fps_per_core_with_decode and cameras_per_core_at_25fps (the clips are
MJPG at `--condition-fps`).

With `--steps`, also the step table of issue 12 on the dev photos and their harder variants
(`zes edge eval`): detection on the whole image at 320 (before), in the vehicle's region at
native resolution, then with the night enhancement before detection, upscaling and contrast
before OCR, each step on top of the one before - exact reads and detection recall per
variant and step (several minutes).

Prints one JSON object as its last line: frames/s per core for both, their ratio, passage
accuracy for both (O and 0 folded), the conditions, and peak RSS. Goals (issues 3, 12 and
27): ratio >= 5 at equal or better accuracy in every condition; >= 4 cameras per core on the
drive-by; recall >= 0.97 and exact >= 0.96 per condition; no duplicates and no false
passages; direction right for >= 0.98 of matched passages; first-read latency p50 <= 2.5 s.
Targets, not assertions.

    python -m benchmarks.edge [--seconds 30] [--fps 25] [--vehicles 10] [--steps]
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
from pathlib import Path
from typing import Any

import cv2

from edge.capture import Capture
from edge.config import CameraConfig, EntryLine
from edge.drive_by import DriveBy, make_drive_by
from edge.evaluation import load_annotations
from edge.plate_text import fold
from edge.recognition import OnnxPlateDetector, OnnxPlateReader, crop, session_options
from edge.worker import CameraWorker
from enforcement.settings import load_settings


def _frames(video: Path) -> Any:
    """The video's frames as the agent's capture reads a file (`Capture`, every_frame: its
    own thread decodes with OpenCV's FFmpeg backend), so the process CPU time around a loop
    over them includes decoding the way the agent pays for it."""
    capture = Capture("bench", str(video), "every_frame").start()
    try:
        while True:
            frame = capture.get(timeout=0.5)
            if frame is not None:
                yield frame
            elif capture.finished:
                return
    finally:
        capture.stop()


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

#: One speed measure switched off at a time: what each one buys (with --ablations).
ABLATIONS: dict[str, dict[str, Any]] = {
    "no_motion_gate": {"thresholds": {"motion_fraction": 0.0}},
    "detect_every_frame": {"thresholds": {"detect_every_n_frames": 1}},
    "ocr_every_frame": {"thresholds": {"ocr_every_n_frames": 1}},
    "no_roi": {"roi": None},
    "detector_640": {"detector_size": 640},
}


def run_pipeline(
    drive: DriveBy, models: Path, size: int, change: dict[str, Any] | None = None
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
        models / f"yolov8n-license-plate-fastanpr-{size}-end2end.onnx", conf_thresh=0.4
    )
    reader = OnnxPlateReader(
        models / "cct_xs_v2_global.onnx", models / "cct_xs_v2_global_plate_config.yaml"
    )
    worker = CameraWorker("bench", camera, detector, reader)
    passages = []
    cpu = 0.0
    frames = 0
    clock = CpuClock()
    clock.start()
    for frame in _frames(drive.video):
        start = time.thread_time()
        passages += [(frame.index, p) for p in worker.process(frame)]
        cpu += time.thread_time() - start
        frames += 1
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


def run_baseline(drive: DriveBy, models: Path, size: int = 640) -> dict[str, Any]:
    detector = OnnxPlateDetector(
        models / f"yolov8n-license-plate-fastanpr-{size}-end2end.onnx", conf_thresh=0.4
    )
    reader = OnnxPlateReader(
        models / "cct_xs_v2_global.onnx", models / "cct_xs_v2_global_plate_config.yaml"
    )
    alpr: Any = None
    try:  # pragma: no cover - fast-alpr is optional
        # Imported by name: fast-alpr is optional, and mypy must not need it either way.
        alpr = importlib.import_module("fast_alpr").ALPR(
            detector=_Detector(detector),
            ocr_model=None,
            ocr_device="cpu",
            ocr_sess_options=session_options(1),
            ocr_model_path=str(models / "cct_xs_v2_global.onnx"),
            ocr_config_path=str(models / "cct_xs_v2_global_plate_config.yaml"),
        )
    except ImportError:
        alpr = None
    reads: dict[int, list[str]] = {}
    cpu = 0.0
    frames = 0
    clock = CpuClock()
    clock.start()
    for frame in _frames(drive.video):
        start = time.thread_time()
        if alpr is not None:  # pragma: no cover
            texts = [r.ocr.text for r in alpr.predict(frame.image) if r.ocr is not None]
        else:
            boxes = detector.detect(frame.image)
            texts = [r.text for r in reader.read([crop(frame.image, b) for b in boxes])]
        cpu += time.thread_time() - start
        reads[frame.index] = texts
        frames += 1
    clock.stop()
    correct = 0
    for vehicle in drive.vehicles:
        seen = Counter(
            t for f in range(vehicle.first_frame, vehicle.last_frame + 1) for t in reads.get(f, [])
        )
        if seen and fold(seen.most_common(1)[0][0]) == fold(vehicle.plate):
            correct += 1
    return {
        "implementation": "fast_alpr.ALPR.predict" if alpr is not None else "detect+ocr per frame",
        "detector_size": size,
        "frames": frames,
        **_rates(frames, cpu, clock.process, drive.fps),
        "correct": correct,
        "accuracy": round(correct / len(drive.vehicles), 4),
    }


CONDITION_KEYS = (
    "vehicles", "passages", "recall", "exact_rate", "duplicates", "false_passages",
    "direction_correct", "first_read_latency_p50_s", "fps_per_core",
)  # fmt: skip

CODECS = ("avc1", "mp4v")
"""The drive-by is re-encoded to the first of these the local OpenCV can write: H.264 as a
camera sends it, else MPEG-4 Part 2 (the pip OpenCV wheels carry no H.264 encoder; decoding
MPEG-4 costs less than H.264, so the figure with decoding is then a little optimistic)."""


def encode(video: Path, codecs: tuple[str, ...] = CODECS) -> tuple[Path, str]:
    """`video` re-encoded with the first codec of `codecs` that OpenCV can write here (an
    .mp4 beside it); the codec used. The frames are the same, only their coding differs."""
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


def run_conditions(
    photos: list[Any], models: Path, tmp: Path, vehicles: int, fps: float, width: int, height: int
) -> dict[str, dict[str, Any]]:
    """Each hard condition's clip through the agent's real path, scored against its truth."""
    from edge.clips import CONDITIONS, make_clip
    from edge.replay import camera_for_replay, default_site, run_clip, score
    from edge.truth import read_truth

    detector = OnnxPlateDetector(models / "yolov8n-license-plate-fastanpr-320-end2end.onnx")
    reader = OnnxPlateReader(
        models / "cct_xs_v2_global.onnx", models / "cct_xs_v2_global_plate_config.yaml"
    )
    # The dev set holds several photos of some vehicles: one per plate, or the truth would
    # list one vehicle twice within the de-duplication window.
    distinct = list({a.plate: a for a in photos}.values())
    results: dict[str, dict[str, Any]] = {}
    for number, condition in enumerate(c for c in CONDITIONS if c != "standard"):
        # Different photos per condition, parked: one more (the parked car).
        count = vehicles + (1 if condition == "parked" else 0)
        chosen = [distinct[(number * 7 + i) % len(distinct)] for i in range(count)]
        clip = make_clip(
            chosen, tmp / f"{condition}.avi", condition, width=width, height=height, fps=fps
        )
        camera = camera_for_replay(default_site(clip.video, tmp), clip.video, None)
        started = time.process_time()  # worker and the capture's decoding thread
        made, frames, cpu = run_clip(clip.video, camera, detector, reader)
        process_s = time.process_time() - started
        scored = score(read_truth(clip.truth), made, frames, cpu)
        with_decode = frames / process_s if process_s > 0 else 0.0
        results[condition] = {k: scored[k] for k in CONDITION_KEYS} | {
            "fps_per_core_with_decode": round(with_decode, 2),
            "cameras_per_core_at_25fps": round(with_decode / 25.0, 2),
        }
        clip.video.unlink()
    return results


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

    detector = OnnxPlateDetector(models / "yolov8n-license-plate-fastanpr-320-end2end.onnx")
    reader = OnnxPlateReader(
        models / "cct_xs_v2_global.onnx", models / "cct_xs_v2_global_plate_config.yaml"
    )
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
        "--condition-fps", type=float, default=10.0, help="the condition clips' frame rate"
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
        pipeline = run_pipeline(drive, settings.models, args.size)
        baseline = run_baseline(drive, settings.models, args.baseline_size)
        ablations = {}
        if args.ablations:
            for name, change in ABLATIONS.items():
                run = run_pipeline(drive, settings.models, args.size, change)
                ablations[name] = {
                    k: run[k] for k in ("fps_per_core", "accuracy", "passages", "frames_detected")
                }
        conditions = {}
        if not args.no_conditions:
            conditions = run_conditions(
                photos, settings.models, Path(tmp), args.vehicles, args.condition_fps,
                args.width, args.height,
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
        "pipeline": pipeline,
        "baseline": baseline,
        "fps_per_core_ratio": round(pipeline["fps_per_core"] / baseline["fps_per_core"], 2),
        "fps_per_core_with_decode_ratio": round(
            pipeline["fps_per_core_with_decode"] / baseline["fps_per_core_with_decode"], 2
        ),
        **({"ablations": ablations} if ablations else {}),
        **({"conditions": conditions} if conditions else {}),
        **({"steps": steps} if steps else {}),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
