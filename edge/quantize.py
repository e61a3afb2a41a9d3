"""A site's own int8 plate detector: the fp32 detector quantized on what the agent's
detector is given at the site's cameras (`zes edge quantize`). Opt-in: the site file's
`models.detector` points at the file; the default stays fp32.

Why: detection is nearly all of the worker's CPU (onnxruntime's run was 5.6 of 6.4 s on
the small-plate clip), and the 320 detector costs 22.0 ms a call in fp32 and 11.3 ms as
int8 (QDQ, per-channel int8 weights, Conv only; one thread, AVX-512 VNNI). On the
benchmark's twelve 1080p25 conditions the agent's worker ran 1.6-2.0x faster with it, on
its drive-by 1.5x.

Its price is at night. Calibrated on day photos it lost a vehicle on the night clip (recall
0.9 -> 0.8), so it is calibrated on the views the agent hands the detector (dark views
already enhanced, regions and tiles at their real sizes), from clips by day and by night.
Even so, of four calibrations (other samples of the views) two equalled fp32 on the night
clips and two read a night vehicle in ten worse (exact 0.8 instead of 0.9 on night or
dense_night, once with a duplicate); by day every condition equalled fp32 (blur once
beat it). Hence the check before use: replay the site's own night clips with it (`zes
edge replay`) against the fp32 figures.

Only the convolutions are quantized: the end-to-end tail (box decoding, NMS) stays float.
Keeping the first convolution and the detection head in float as well was no better at
night (recall 0.8 once) and slower.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import CameraConfig
from edge.recognition import Box, Image, PlateDetector, PlateReader

DEFAULT_VIEWS = 120
"""Calibration views kept (a uniform sample of all the views the replay gave the detector)."""


@dataclass
class RecordingDetector:
    """A `PlateDetector` that passes every view on and keeps a uniform sample of them,
    letterboxed to the model's input as the detector itself does (reservoir sampling, so a
    long clip costs `keep` images of memory, not one per call)."""

    inner: PlateDetector
    input_size: int
    keep: int = DEFAULT_VIEWS
    seed: int = 0
    views: list[Image] = field(default_factory=list)
    seen: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def detect(self, frame: Image) -> list[Box]:
        self.seen += 1
        if len(self.views) < self.keep:
            self.views.append(letterboxed(frame, self.input_size))
        else:
            slot = self._random.randrange(self.seen)
            if slot < self.keep:
                self.views[slot] = letterboxed(frame, self.input_size)
        return self.inner.detect(frame)


def letterboxed(view: Image, size: int) -> Image:
    """`view` as the detector's input tensor (1 x 3 x size x size, RGB, 0..1, float32)."""
    from open_image_models.detection.core.yolo_v9.preprocess import preprocess

    tensor, _, _ = preprocess(view, size)
    return np.ascontiguousarray(tensor, dtype=np.float32)


def calibration_views(
    videos: Sequence[Path],
    camera: CameraConfig,
    detector: PlateDetector,
    reader: PlateReader,
    input_size: int,
    keep: int = DEFAULT_VIEWS,
) -> RecordingDetector:
    """Replay `videos` through the agent's path and keep a sample of the detector's views."""
    from edge.replay import run_clip

    recording = RecordingDetector(detector, input_size, keep)
    for video in videos:
        run_clip(video, camera.model_copy(update={"source": str(video)}), recording, reader)
    if not recording.views:
        raise ValueError("the clips gave the detector no view: nothing moved in them")
    return recording


def quantize_detector(source: Path, target: Path, views: Sequence[Image]) -> None:
    """Write `source` quantized to int8 at `target`, calibrated on `views` (input tensors)."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not source.is_file():
        raise FileNotFoundError(f"detector model {source} does not exist")
    if not views:
        raise ValueError("no calibration views")
    name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0]
    feeds = iter([{name.name: view} for view in views])

    class Views(CalibrationDataReader):  # type: ignore[misc]
        def get_next(self) -> dict[str, Any] | None:
            return next(feeds, None)

    target.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(source),
        str(target),
        Views(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
    )
