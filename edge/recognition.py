"""Plate detection and reading behind two small interfaces: what the agent runs per frame.

`PlateDetector` finds plate boxes in a frame, `PlateReader` reads a batch of plate crops.
The ONNX implementations wrap open-image-models and fast-plate-ocr with local model files and
one onnxruntime thread by default: on the edge box the cores belong to the cameras, and a
second intra-op thread only helps when a core is idle (toolchain notes).

Speed by construction lives here too: detection runs on the region-of-interest crop only
(fewer pixels to letterbox, and the plate is larger in the detector's input), and reading is
batched across every plate due in a frame. Measuring this on annotated stills lives in
`edge.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[Any]
"""A BGR frame or crop as OpenCV gives it (uint8, H x W x 3)."""

#: The OCR's region head names countries; the passage record wants ISO 3166 codes.
REGION_TO_COUNTRY: dict[str, str] = {
    "Netherlands": "NL", "Belgium": "BE", "Germany": "DE", "France": "FR",
    "Luxembourg": "LU", "United Kingdom": "GB", "Poland": "PL", "Spain": "ES",
    "Italy": "IT", "Austria": "AT", "Czech Republic": "CZ", "Denmark": "DK",
    "Sweden": "SE", "Norway": "NO", "Finland": "FI", "Ireland": "IE", "Portugal": "PT",
    "Switzerland": "CH", "Hungary": "HU", "Romania": "RO", "Bulgaria": "BG",
    "Slovakia": "SK", "Slovenia": "SI", "Croatia": "HR", "Lithuania": "LT",
    "Latvia": "LV", "Estonia": "EE", "Greece": "GR", "Ukraine": "UA", "Turkey": "TR",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Box:
    """A plate box in frame pixels (x2/y2 exclusive) with the detector's score."""

    x1: int
    y1: int
    x2: int
    y2: int
    confidence: float = 1.0

    @property
    def width(self) -> int:
        return max(0, self.x2 - self.x1)

    @property
    def height(self) -> int:
        return max(0, self.y2 - self.y1)

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy, self.confidence)


@dataclass(frozen=True, slots=True)
class Read:
    """One OCR read of one crop: text without padding and one probability per character."""

    text: str
    char_confidences: tuple[float, ...]
    country: str | None = None

    @property
    def confidence(self) -> float:
        """Mean character probability (0 for an empty read)."""
        if not self.char_confidences:
            return 0.0
        return sum(self.char_confidences) / len(self.char_confidences)


class PlateDetector(Protocol):
    def detect(self, frame: Image) -> list[Box]: ...


class PlateReader(Protocol):
    def read(self, crops: Sequence[Image]) -> list[Read]: ...


def session_options(threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class OnnxPlateDetector:
    """open-image-models' YOLO end2end backend on a local ONNX file (or a hub name)."""

    def __init__(self, model: Path | str, conf_thresh: float = 0.4, threads: int = 1) -> None:
        from open_image_models import create_detector

        local = Path(model)
        if isinstance(model, Path) or local.suffix == ".onnx":
            if not local.is_file():
                raise FileNotFoundError(f"detector model {local} does not exist")
            self._detector: Any = create_detector(
                local,
                backend="yolo_v9",
                class_labels=("License Plate",),
                conf_thresh=conf_thresh,
                providers=["CPUExecutionProvider"],
                sess_options=session_options(threads),
            )
        else:  # a hub name: downloads on first use (deployments with network only)
            self._detector = create_detector(
                str(model),
                conf_thresh=conf_thresh,
                providers=["CPUExecutionProvider"],
                sess_options=session_options(threads),
            )
        self.input_size = int(getattr(self._detector, "img_size", (0,))[0])

    def detect(self, frame: Image) -> list[Box]:
        boxes = []
        for result in self._detector.predict(frame):
            bb = result.bounding_box
            score = float(result.confidence)
            boxes.append(Box(int(bb.x1), int(bb.y1), int(bb.x2), int(bb.y2), score))
        return boxes


class OnnxPlateReader:
    """fast-plate-ocr with per-character probabilities and the region head's country."""

    def __init__(
        self,
        model: Path | None = None,
        config: Path | None = None,
        hub_model: str | None = None,
        threads: int = 1,
    ) -> None:
        from fast_plate_ocr import LicensePlateRecognizer

        if model is not None and config is not None:
            for path in (model, config):
                if not path.is_file():
                    raise FileNotFoundError(f"OCR model file {path} does not exist")
            self._ocr: Any = LicensePlateRecognizer(
                onnx_model_path=model,
                plate_config_path=config,
                device="cpu",
                sess_options=session_options(threads),
            )
        elif hub_model is not None:
            hub: Any = hub_model
            self._ocr = LicensePlateRecognizer(
                hub, device="cpu", sess_options=session_options(threads)
            )
        else:
            raise ValueError("give the OCR model and config files, or a hub model name")
        self._pad = self._ocr.config.pad_char
        self._rgb = self._ocr.config.image_color_mode == "rgb"

    def read(self, crops: Sequence[Image]) -> list[Read]:
        if not crops:
            return []
        # The recognizer expects RGB arrays for an RGB model; frames from OpenCV are BGR.
        images = [cv2.cvtColor(c, cv2.COLOR_BGR2RGB) if self._rgb else c for c in crops]
        predictions = self._ocr.run(images, return_confidence=True, remove_pad_char=False)
        reads = []
        for prediction in predictions:
            text = str(prediction.plate)
            raw_probs = prediction.char_probs
            probs = [] if raw_probs is None else [float(p) for p in raw_probs]
            # Keep characters that are not padding; a pad in the middle is a gap, not a char.
            kept = [(c, p) for c, p in zip(text, probs, strict=False) if c != self._pad]
            region = prediction.region
            reads.append(
                Read(
                    text="".join(c for c, _ in kept),
                    char_confidences=tuple(round(p, 4) for _, p in kept),
                    country=REGION_TO_COUNTRY.get(region) if region else None,
                )
            )
        return reads


def crop(frame: Image, box: Box, pad: float = 0.05) -> Image:
    """The box's pixels with a small margin, clipped to the frame (never empty)."""
    h, w = frame.shape[:2]
    mx, my = int(box.width * pad), int(box.height * pad)
    x1, y1 = max(0, box.x1 - mx), max(0, box.y1 - my)
    x2, y2 = min(w, box.x2 + mx), min(h, box.y2 + my)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((2, 2, 3), dtype=np.uint8)
    return frame[y1:y2, x1:x2]


def roi_rect(roi: Sequence[tuple[float, float]] | None, width: int, height: int) -> Box:
    """Bounding rectangle of the ROI polygon in pixels (the whole frame for None)."""
    if not roi:
        return Box(0, 0, width, height)
    xs = [p[0] * width for p in roi]
    ys = [p[1] * height for p in roi]
    return Box(
        max(0, int(min(xs))), max(0, int(min(ys))),
        min(width, int(np.ceil(max(xs)))), min(height, int(np.ceil(max(ys)))),
    )  # fmt: skip


def nms(boxes: Sequence[Box], max_iou: float = 0.4) -> list[Box]:
    """The most confident of every group of overlapping boxes (regions and tiles overlap)."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.confidence):
        if all(box.iou(k) <= max_iou and not _contains(k, box) for k in kept):
            kept.append(box)
    return kept


def _contains(outer: Box, inner: Box) -> bool:
    """`inner` lies (almost) inside `outer`: the same plate seen whole and cut by a tile."""
    ix = max(0, min(outer.x2, inner.x2) - max(outer.x1, inner.x1))
    iy = max(0, min(outer.y2, inner.y2) - max(outer.y1, inner.y1))
    return inner.area > 0 and ix * iy >= 0.7 * inner.area


def tiles(region: Box, tile_px: int, overlap: float = 0.4) -> list[Box]:
    """`region` cut into overlapping squares of at most `tile_px` (itself when it fits).

    The detector letterboxes its input to a small square (320): a whole 1080p frame shrinks
    a plate 6x, so one at 5% of the width is 16 px there and is missed; a tile shrinks it
    only tile_px/320 times. Tiles overlap by 40% (384 px of a 960 tile: more than the widest
    plate of a 1080p entrance view, ~330 px), so every plate is whole in one of them."""
    if region.width <= tile_px and region.height <= tile_px:
        return [region]
    step = max(1, int(tile_px * (1 - overlap)))
    out = []
    for y in _starts(region.y1, region.y2, tile_px, step):
        for x in _starts(region.x1, region.x2, tile_px, step):
            out.append(Box(x, y, min(region.x2, x + tile_px), min(region.y2, y + tile_px)))
    return out


def _starts(lo: int, hi: int, size: int, step: int) -> list[int]:
    if hi - lo <= size:
        return [lo]
    starts = list(range(lo, hi - size, step))
    starts.append(hi - size)
    return starts


def is_dark_or_ir(image: Image) -> bool:
    """A night or IR view: dark (mean level below DARK_MEAN) or without colour at all."""
    if image.ndim != 3 or image.size == 0:
        return False
    small = image[:: max(1, image.shape[0] // 64), :: max(1, image.shape[1] // 64)]
    hsv = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_BGR2HSV)
    return float(hsv[..., 2].mean()) < DARK_MEAN or float(hsv[..., 1].mean()) < 3.0


def enhance_for_detection(image: Image) -> Image:
    """A dark or IR view smoothed (sensor noise) and stretched to the full range.

    Measured on a night clip (grey, gamma 1.8, gain 0.6, noise sigma 10): the 320 detector
    found no plate on the raw region, nor after CLAHE or a gamma lift (they lift the noise
    too); after a Gaussian (sigma 1.5) and a 1-99 percentile stretch it found the plate and
    the OCR read it; on the 1080p night clip's moving regions sigma 1.5 found a plate in 18
    regions where sigma 0.8 (3x3) found 9 and a 5x5 median 11. Day views are left alone."""
    if not is_dark_or_ir(image):
        return image
    return denoise_and_stretch(image)


DENOISE_SIGMA = 1.5
"""The Gaussian's sigma in full-resolution pixels (see `enhance_for_detection`)."""


def denoise_and_stretch(image: Image, sigma: float = DENOISE_SIGMA) -> Image:
    """`image` smoothed (Gaussian, `sigma`: sensor noise; none below 0.5, where an area
    shrink has averaged it already) and its 1-99 percentiles stretched to the full range:
    the night enhancement of `enhance_for_detection`, always."""
    smooth = cv2.GaussianBlur(image, (0, 0), sigma) if sigma >= 0.5 else image
    step = max(1, int(np.sqrt(smooth.shape[0] * smooth.shape[1] / 40_000)))
    lo, hi = np.percentile(smooth[::step, ::step], (1, 99))
    scale = 255.0 / max(8.0, float(hi - lo))
    out: Image = cv2.convertScaleAbs(smooth, alpha=scale, beta=-float(lo) * scale)
    return out


def _detect_view(detector: PlateDetector, frame: Image, part: Box, enhance: bool) -> list[Box]:
    view = frame[part.y1 : part.y2, part.x1 : part.x2]
    if enhance and is_dark_or_ir(view):
        return [b.shifted(part.x1, part.y1) for b in _detect_dark(detector, view)]
    return [b.shifted(part.x1, part.y1) for b in detector.detect(view)]


def _detect_dark(detector: PlateDetector, view: Image) -> list[Box]:
    """`enhance_for_detection` at the detector's input size: the view is first shrunk
    (area-averaged, which also averages the sensor noise) to what the detector would shrink
    it to anyway, then blurred with the sigma scaled alike and stretched, and the boxes are
    scaled back. The same image the detector got before, at a fraction of the cost: blur
    and percentiles on the full-resolution view were 15 of 38 CPU seconds of a 20-vehicle
    1080p dense_night replay, as much as the detector itself."""
    size = int(getattr(detector, "input_size", 0))
    h, w = view.shape[:2]
    scale = size / max(h, w) if size > 0 else 1.0
    if scale >= 1.0:
        return detector.detect(denoise_and_stretch(view))
    small = cv2.resize(
        view, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    found = detector.detect(denoise_and_stretch(small, sigma=DENOISE_SIGMA * scale))
    sx, sy = w / small.shape[1], h / small.shape[0]
    return [
        Box(int(b.x1 * sx), int(b.y1 * sy), int(b.x2 * sx), int(b.y2 * sy), b.confidence)
        for b in found
    ]


class TilePasses(Protocol):
    """Which regions may have the second pass on tiles, and which such pass found nothing
    (a caller that keeps time uses it to back off from a region that keeps giving none)."""

    def allows(self, region: Box) -> bool: ...

    def fruitless(self, region: Box) -> None: ...


class TileBackoff:
    """`TilePasses` in frame time: a region overlapping one (IoU >= `MIN_IOU`) whose tile
    pass found nothing less than `wait_s` ago is not tiled again. Why: a vehicle whose plate
    the detector cannot find (dark, dirty, none) moves as one blob for seconds, and tiling
    it on every detection was most of the tile calls of the night clip (194 of its 343
    detector calls). Waiting 0.45 s: 301 calls, and the worker's frames per core up 11-21%
    on night, dense_night, dense_dusk, occlusion and blur with the same passages. A tile
    pass that finds a plate is never waited on: it is what keeps a small plate tracked."""

    MIN_IOU = 0.5

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self.now = 0.0
        self._fruitless: list[tuple[Box, float]] = []

    def at(self, now: float) -> TileBackoff:
        """This back-off at frame time `now` (what went fruitless before `wait_s` is forgotten)."""
        self.now = now
        self._fruitless = [(r, t) for r, t in self._fruitless if now - t < self.wait_s]
        return self

    def allows(self, region: Box) -> bool:
        return all(region.iou(r) < self.MIN_IOU for r, _ in self._fruitless)

    def fruitless(self, region: Box) -> None:
        self._fruitless.append((region, self.now))


def detect_in_regions(
    detector: PlateDetector,
    frame: Image,
    regions: Sequence[Box],
    roi: Sequence[tuple[float, float]] | None = None,
    tile_px: int | None = None,
    enhance: bool = True,
    tile_passes: TilePasses | None = None,
) -> list[Box]:
    """Detect at native resolution inside each region, whole, and again on tiles of
    `tile_px` when a region larger than that gave no plate (and `tile_passes`, if given,
    allows it); boxes in frame pixels, centres inside the ROI polygon, overlaps merged.
    With `enhance`, dark or IR views are enhanced first (`enhance_for_detection`)."""
    h, w = frame.shape[:2]
    boxes: list[Box] = []
    for region in regions:
        area = Box(max(0, region.x1), max(0, region.y1), min(w, region.x2), min(h, region.y2))
        if area.width < 8 or area.height < 8:
            continue
        found = _detect_view(detector, frame, area, enhance)
        if (
            not found
            and tile_px
            and max(area.width, area.height) > tile_px
            and (tile_passes is None or tile_passes.allows(area))
        ):
            # Motion but no plate: a second pass on tiles, where a small plate is larger.
            for part in tiles(area, tile_px):
                found += _detect_view(detector, frame, part, enhance)
            if not found and tile_passes is not None:
                tile_passes.fruitless(area)
        boxes += found
    if roi:
        polygon = np.array([(x * w, y * h) for x, y in roi], dtype=np.float32)
        boxes = [
            b for b in boxes if cv2.pointPolygonTest(polygon, b.center, measureDist=False) >= 0
        ]
    return nms(boxes)


OCR_MIN_HEIGHT = 40
"""`enhance_for_ocr` upscales crops lower than this (bicubic) before OCR. Measured and not
used by the agent: on the dev photos' variants (`benchmarks.edge --steps`) neither this nor
the contrast stretch changed an exact read of small8, small5 or night, and the stretch
gained one read on blur and lost one on skew20 (of 72). Kept for `zes edge eval --upscale
--contrast`, so the measurement can be repeated on a site's own stills."""
DARK_MEAN = 90.0
"""A crop darker than this (mean grey level) has its contrast stretched before OCR."""
GREY_SATURATION = 12.0
"""A crop with less mean colour saturation is an IR/greyscale image: contrast stretched too."""


def enhance_for_ocr(image: Image, upscale: bool = True, contrast: bool = True) -> Image:
    """What a plate crop needs before OCR: small ones upscaled, dark or IR ones given
    local contrast (CLAHE on the lightness channel). Other crops are returned as they are."""
    out = image
    h, w = out.shape[:2]
    if upscale and 0 < h < OCR_MIN_HEIGHT:
        scale = OCR_MIN_HEIGHT / h
        size = (max(1, round(w * scale)), OCR_MIN_HEIGHT)
        out = cv2.resize(out, size, interpolation=cv2.INTER_CUBIC)
    if contrast and out.ndim == 3 and out.shape[0] >= 4 and out.shape[1] >= 4:
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
        if float(hsv[..., 2].mean()) < DARK_MEAN or float(hsv[..., 1].mean()) < GREY_SATURATION:
            lab = cv2.cvtColor(out, cv2.COLOR_BGR2LAB)
            clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(2, 4))
            lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
            out = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return out


def vehicle_region(plate: Box, width: int, height: int) -> Box:
    """The region a vehicle around `plate` occupies: 2 plate widths to each side, 1.6 above,
    0.8 below (the shape of the generated vehicles and of a car's rear seen from behind)."""
    pw = max(8, plate.width)
    cx, cy = (plate.x1 + plate.x2) // 2, (plate.y1 + plate.y2) // 2
    return Box(
        max(0, cx - 2 * pw), max(0, int(cy - 1.6 * pw)),
        min(width, cx + 2 * pw), min(height, int(cy + 0.8 * pw)),
    )  # fmt: skip
