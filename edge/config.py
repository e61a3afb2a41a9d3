"""One YAML file per site: what the edge agent needs to know, validated before anything runs.

Geometry (region of interest, entry line) is given in *fractions* of the frame (0..1, origin
top-left, y down), not pixels, so a camera can change resolution without a config edit and the
same file works for the small test videos and a 1080p stream.

`load_site_config` reports every problem at once (one `path: message` line each), because a
site engineer fixing a file on a roadside cabinet should not have to iterate one error at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from enforcement.settings import load_settings
from enforcement.yaml_files import read_mapping

#: Detector input sizes for which an exported model exists in `../shared/models`.
DetectorSize = Literal[320, 384, 416, 512, 640]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]

DEFAULT_DETECTOR_SIZE: DetectorSize = 320
"""Smallest size that kept every dev-set plate found and read (see models README and eval)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntryLine(_Model):
    """A line across the road; crossing it towards `inside` is entering the zone."""

    a: Point = Field(description="First point (x, y) as fractions of the frame.")
    b: Point = Field(description="Second point (x, y) as fractions of the frame.")
    inside: Literal["left", "right"] = Field(
        description="Which side of the line, walking from a to b in the image (y down), "
        "is inside the zone."
    )

    @model_validator(mode="after")
    def _distinct(self) -> EntryLine:
        if self.a == self.b:
            raise ValueError("entry line points a and b must differ")
        return self


class Thresholds(_Model):
    detector_conf: float = Field(
        0.4, ge=0.05, le=1.0, description="Minimum detector score for a plate box."
    )
    min_vote_confidence: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="A passage whose voted read is less certain is published low_confidence.",
    )
    ocr_every_n_frames: int = Field(
        3, ge=1, le=100, description="Read a track's plate once per this many processed frames."
    )
    detect_every_n_frames: int = Field(
        2,
        ge=1,
        le=10,
        description="Detect on one frame in N that pass the motion gate: a tracked plate "
        "moves predictably between them, and detection is the dominant cost.",
    )
    track_timeout_s: float = Field(
        2.0,
        gt=0.0,
        le=30.0,
        description="A track unseen this long in frame time has left: it ends. The default "
        "outlasts a 1.5 s occlusion (a bus passing in front).",
    )
    dedup_window_s: float = Field(
        30.0,
        ge=0.0,
        le=3600.0,
        description="A track whose plate equals (after look-alike folding) one seen at this "
        "camera less than this long before is the same vehicle (hidden, queued, stopped): "
        "its reads merge into that passage instead of making a second one.",
    )
    stationary_s: float = Field(
        6.0,
        gt=0.0,
        le=3600.0,
        description="A track that stood this long without crossing the entry line or "
        "travelling is a parked vehicle: no passage.",
    )
    max_prediction_delay_s: float | None = Field(
        2.0,
        gt=0.0,
        le=60.0,
        description="A track's passage is published as soon as it crossed the entry line and "
        "its last three reads agree with the vote, without waiting for it to end (still one "
        "passage per vehicle); a track that has not crossed is published this long after it "
        "appeared once its vote is stable (a vehicle queued before the line). None: such a "
        "track only when it ends.",
    )
    correct_below_confidence: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="The Dutch look-alike correction may change only characters the OCR was "
        "less sure of than this.",
    )
    detect_tile_px: int = Field(
        960,
        ge=160,
        le=4096,
        description="Regions larger than this (several vehicles in one moving blob, the "
        "first frame, motion everywhere) are searched in overlapping tiles of this size at "
        "native resolution, so a small plate is not shrunk below what the detector finds.",
    )
    min_track_frames: int = Field(
        2, ge=1, le=100, description="Tracks seen in fewer frames are noise, not vehicles."
    )
    motion_fraction: float = Field(
        0.003,
        ge=0.0,
        le=1.0,
        description="Share of ROI pixels that must change for a frame to be processed "
        "(0 processes every frame).",
    )


class CameraConfig(_Model):
    id: Ident = Field(description="Camera id, unique within the site.")
    source: str | int = Field(
        description="RTSP/HTTP URL, a video file path, or a local device number."
    )
    zone_id: Ident = Field(description="The ZE-zone this camera guards.")
    roi: tuple[Point, ...] | None = Field(
        None,
        description="Region of interest polygon (>= 3 points, fractions); None = whole frame.",
    )
    entry_line: EntryLine | None = Field(
        None, description="Line whose crossing gives direction; None = direction unknown."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Tuning knobs.")
    detector_size: DetectorSize = Field(
        DEFAULT_DETECTOR_SIZE, description="Detector input size (square, pixels)."
    )
    read_mode: Literal["live", "every_frame"] = Field(
        "live",
        description="live: keep only the newest frame (real cameras); every_frame: process "
        "every frame of a file at its own rate, time from the frame index (tests, replays).",
    )
    loop_file: bool = Field(False, description="Reopen a file source when it ends.")
    max_fps: float | None = Field(
        12.5,
        gt=0.0,
        le=240.0,
        description="The agent looks at no more frames a second than this; the others are "
        "decoded (a video codec needs every frame) but neither converted nor analysed. "
        "Half a 25 fps stream tracks and reads as well as every frame (the 10 fps test "
        "clips keep recall 1.0) at about half the cost. None: every frame.",
    )

    @field_validator("roi")
    @classmethod
    def _polygon(cls, roi: tuple[tuple[float, float], ...] | None) -> object:
        if roi is not None:
            if len(roi) < 3:
                raise ValueError("a region of interest needs at least 3 points")
            if _polygon_area(roi) < 1e-4:
                raise ValueError("the region of interest has (almost) no area")
        return roi

    @field_validator("source")
    @classmethod
    def _source(cls, source: str | int) -> object:
        if isinstance(source, int) and source < 0:
            raise ValueError("a device number is >= 0")
        if isinstance(source, str) and not source.strip():
            raise ValueError("source must not be empty")
        return source


class BrokerConfig(_Model):
    bootstrap: str = Field(description="Kafka bootstrap servers, host:port[,host:port].")
    passages_topic: str = Field("passages", min_length=1, description="Envelope topic.")
    evidence_topic: str = Field("evidence", min_length=1, description="Evidence image topic.")
    max_envelope_passages: int = Field(
        50, ge=1, le=1000, description="At most this many passages per envelope record."
    )
    envelope_version: Literal[1, 2] = Field(
        1,
        description="Envelope encoding: 1 (JSON objects) or 2 (JSON rows, which halves the "
        "stream's decode time). Switch a site to 2 once every stream worker runs a release "
        "that reads it (this one does).",
    )
    max_envelope_bytes: int = Field(
        256_000, ge=2048, le=900_000, description="At most this many bytes per envelope record."
    )
    linger_s: float = Field(
        0.2, ge=0.0, le=10.0, description="Wait this long for more passages to fill an envelope."
    )
    request_timeout_s: float = Field(
        5.0, gt=0.0, le=120.0, description="Give up on one send after this; it stays spooled."
    )
    max_record_bytes: int = Field(
        1_048_576,
        ge=65_536,
        le=16_777_216,
        description="The broker's record size limit (message.max.bytes): a spooled row above "
        "it can never be sent and goes to quarantine instead of blocking the spool.",
    )
    max_batch_bytes: int = Field(
        1_000_000,
        ge=2048,
        le=64_000_000,
        description="At most this many bytes per send (passages and evidence alike), so one "
        "send fits a thin uplink's request timeout after an outage.",
    )
    max_batch_evidence: int = Field(
        8, ge=1, le=1000, description="At most this many evidence images per send."
    )

    @field_validator("bootstrap")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for host in value.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{host.strip()!r} is not host:port")
        return value


class SpoolConfig(_Model):
    path: Path = Field(description="SQLite spool file (created if absent).")
    budget_bytes: int = Field(
        2_000_000_000, ge=100_000, description="Disk budget for passages and evidence bytes."
    )
    min_free_bytes: int = Field(
        50_000_000,
        ge=0,
        description="Free disk (statvfs) to keep on the spool's file system: below it new rows "
        "are held in memory, not written, until space returns.",
    )
    held_max_passages: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Passages held in memory while the disk is full or the budget reached "
        "(each is counted and logged; beyond this they are refused and counted as lost).",
    )
    held_max_evidence_bytes: int = Field(
        32_000_000,
        ge=0,
        description="Evidence bytes held in memory with them; images beyond it are dropped "
        "(counted), the passages kept.",
    )
    quarantine_after_failures: int = Field(
        3,
        ge=1,
        le=100,
        description="A row the broker rejected this many times for a reason retrying cannot "
        "fix moves to the quarantine table (`zes edge spool list|requeue|drop`).",
    )


class HealthConfig(_Model):
    camera_stale_s: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="/healthz fails when a live camera gave no frame this long.",
    )
    broker_down_s: float = Field(
        300.0,
        gt=0.0,
        le=86_400.0,
        description="/healthz fails when the broker has been unreachable this long.",
    )
    spool_high_water: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="/healthz fails when the spool holds more than this share of its budget.",
    )
    read_stall_s: float = Field(
        10.0,
        gt=0.0,
        le=600.0,
        description="A live camera whose read returns no frame this long is marked down and "
        "reconnected (a hung read never ends by itself).",
    )
    supervise_interval_s: float = Field(
        1.0, gt=0.0, le=60.0, description="How often the supervisor checks threads and cameras."
    )
    time_sync_check_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="How often the clock's sync state is read."
    )


class MetricsConfig(_Model):
    host: str = Field("127.0.0.1", description="Address of the metrics/health endpoint.")
    port: int = Field(9108, ge=0, le=65535, description="Port; 0 picks a free one.")


class ModelsConfig(_Model):
    dir: Path | None = Field(None, description="Model folder; default: settings (ZES_MODEL_DIR).")
    detector: Path | None = Field(
        None, description="Detector ONNX; default: the fastanpr export of the camera's size."
    )
    ocr: Path | None = Field(None, description="OCR ONNX; default: cct_xs_v2_global.onnx.")
    ocr_config: Path | None = Field(None, description="OCR plate config YAML.")
    detector_hub: str | None = Field(
        None, description="Hub detector name instead of a file (downloads on first use)."
    )
    ocr_hub: str | None = Field(
        None, description="Hub OCR model name instead of files (downloads on first use)."
    )
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per model.")


class SiteConfig(_Model):
    site_id: Ident = Field(description="Site id (a zone entrance with one or more cameras).")
    broker: BrokerConfig = Field(description="Where passages and evidence go.")
    spool: SpoolConfig = Field(description="Durable local spool.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus.")
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Plate models.")
    health: HealthConfig = Field(
        default_factory=HealthConfig, description="Health, supervision and watchdogs."
    )
    evidence_key_file: Path | None = Field(
        None,
        description="File holding the site's evidence signing key (hex or base64 of >= 32 "
        "random bytes, e.g. `openssl rand -hex 32`, readable by the agent only); the same key "
        "goes to the case intake (ZES_CASES_EVIDENCE_KEYS). None: evidence is unsigned.",
    )
    cameras: tuple[CameraConfig, ...] = Field(min_length=1, description="Cameras at the site.")

    @field_validator("cameras")
    @classmethod
    def _unique(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        seen: set[str] = set()
        for camera in cameras:
            if camera.id in seen:
                raise ValueError(f"camera id {camera.id!r} is used twice")
            seen.add(camera.id)
        return cameras


class SiteConfigError(ValueError):
    """A site file with problems; `problems` holds one `path: message` line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _polygon_area(points: tuple[tuple[float, float], ...]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def _problems(exc: ValidationError) -> list[str]:
    """One line per real problem. Pydantic checks a list's length after dropping the items
    that failed, so one camera with a typo also reported "cameras: at least 1 item": a
    length error on a list whose own items have errors is a consequence, not a problem."""
    errors = exc.errors()
    failed_inside = [e["loc"] for e in errors if e["type"] != "too_short"]
    lines = []
    for error in errors:
        loc = error["loc"]
        if error["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed_inside
        ):
            continue
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return lines


def parse_site_config(data: object, source: str = "site config") -> SiteConfig:
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise SiteConfigError(source, _problems(exc)) from None


def load_site_config(path: Path | str) -> SiteConfig:
    """Read and validate a site file; raise `SiteConfigError` listing every problem."""
    path = Path(path)
    data = read_mapping(path, SiteConfigError)
    return parse_site_config(data, str(path))


def resolve_model_paths(models: ModelsConfig, detector_size: int) -> tuple[Path, Path, Path]:
    """Detector, OCR and OCR-config paths: explicit ones, else in the model folder."""
    folder = models.dir or load_settings().models
    if folder is None and (models.detector is None or models.ocr is None):
        raise SiteConfigError(
            "models", ["models.dir: no model folder (set it, or ZES_MODEL_DIR / ZES_SHARED_DIR)"]
        )
    base = folder or Path()
    detector = models.detector or base / (
        f"yolov8n-license-plate-fastanpr-{detector_size}-end2end.onnx"
    )
    ocr = models.ocr or base / "cct_xs_v2_global.onnx"
    ocr_config = models.ocr_config or base / "cct_xs_v2_global_plate_config.yaml"
    return detector, ocr, ocr_config


def load_evidence_key(config: SiteConfig) -> bytes | None:
    """The site's evidence signing key from its key file (None without one)."""
    from enforcement.keys import KeyFormatError, decode_key

    if config.evidence_key_file is None:
        return None
    where = str(config.evidence_key_file)
    try:
        return decode_key(config.evidence_key_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteConfigError(where, [f"evidence_key_file: cannot read: {exc.strerror}"]) from None
    except KeyFormatError as exc:
        raise SiteConfigError(where, [f"evidence_key_file: {exc}"]) from None
