"""`zes edge ...`: run the agent, check a site file, evaluate recognition on annotated stills."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer

from edge.config import (
    DEFAULT_DETECTOR_SIZE,
    ModelsConfig,
    SiteConfigError,
    load_site_config,
    resolve_model_paths,
)
from edge.spool import Spool

F = TypeVar("F", bound=Callable[..., object])


def sentences(command: F) -> F:
    """The command's docstring with each paragraph on one line, so `--help` and the command
    list wrap it at the terminal's width, never at the source's line breaks."""
    doc = inspect.cleandoc(command.__doc__ or "")
    command.__doc__ = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))
    return command


edge_app = typer.Typer(
    name="edge",
    help="The camera agent: capture, recognition, one passage per vehicle, store-and-forward.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _site_file(path: Path) -> Path:
    """A usage error in one line (`zes: error: ...`) when the site file cannot be a file; the
    problems inside a site file are listed all at once by `_problems`."""
    if path.is_dir():
        raise IsADirectoryError(f"site file {path} is a directory, not a file")
    if not path.exists():
        raise FileNotFoundError(f"site file {path} does not exist")
    return path


def _problems(exc: SiteConfigError) -> None:
    print(str(exc), file=sys.stderr)
    raise typer.Exit(2)


@edge_app.command("check-config")
@sentences
def check_config(file: Path = typer.Argument(..., help="Site YAML file.")) -> None:
    """Validate a site file.

    Every problem is printed at once, one line each, and the exit status is 2; a good file
    prints `ok` with the site and its number of cameras."""
    try:
        config = load_site_config(_site_file(file))
    except SiteConfigError as exc:
        _problems(exc)
    print(f"ok: site {config.site_id}, {len(config.cameras)} camera(s)")


@edge_app.command("run")
@sentences
def run(
    config_file: Path = typer.Option(..., "--config", help="Site YAML file."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at debug level."),
    dev: bool = typer.Option(
        False, "--dev", help="Allow the development secrets (on one machine, never at a site)."
    ),
) -> None:
    """Run the agent until SIGTERM or SIGINT.

    On a signal it stops capturing, ends every open track into the spool and drains the
    spool to the broker for a moment before it exits."""
    from edge.agent import Agent
    from enforcement.settings import load_settings, require_keys

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _site_file(config_file)
    try:
        config = load_site_config(config_file)  # a site file's own mistakes first
        require_keys("the edge agent", [load_settings().hash_key], dev=dev)
        agent = Agent(config)
    except SiteConfigError as exc:
        _problems(exc)
    except (OSError, sqlite3.Error) as exc:  # a model missing, the port taken, spool unwritable
        print(f"zes edge: cannot start: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    agent.run_forever()


@edge_app.command("eval")
@sentences
def eval_command(
    folder: Path = typer.Argument(..., help="Folder of NAME.jpg + NAME.txt (openalpr format)."),
    detector_size: int = typer.Option(DEFAULT_DETECTOR_SIZE, help="Detector input size."),
    model_dir: Path | None = typer.Option(None, help="Model folder (default: settings)."),
    threads: int = typer.Option(1, help="How many onnxruntime threads each model uses."),
    variant: str = typer.Option(
        "none",
        help="Degrade each photo first: none, small8, small5, night, blur, jpeg20, skew20, "
        "occluded (edge.variants).",
    ),
    detect: str = typer.Option(
        "whole",
        help="How to detect: whole (the image shrunk to the detector's input), tiles "
        "(tiles at native resolution) or region (native resolution around the vehicle, as "
        "the agent's motion regions do).",
    ),
    upscale: bool = typer.Option(False, help="Upscale small plate crops before reading them."),
    contrast: bool = typer.Option(
        False, help="Stretch the contrast of dark or infrared crops before reading them."
    ),
    night_detect: bool = typer.Option(
        False, help="Smooth and stretch dark or IR views before detection."
    ),
) -> None:
    """Detect and read every annotated still photo and score the reads.

    The last line is one JSON object: exact reads, reads with O and 0 folded, character
    error rate, detection recall and milliseconds per image."""
    from edge.evaluation import evaluate
    from edge.recognition import OnnxPlateDetector, OnnxPlateReader

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    try:
        detector_path, ocr, ocr_config = resolve_model_paths(
            ModelsConfig(dir=model_dir), detector_size
        )
    except SiteConfigError as exc:
        _problems(exc)
    detector = OnnxPlateDetector(detector_path, threads=threads)
    reader = OnnxPlateReader(ocr, ocr_config, threads=threads)
    try:
        result = evaluate(
            folder, detector, reader, variant, detect, upscale, contrast, night_detect=night_detect
        )
    except ValueError as exc:
        print(f"zes edge eval: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    result["detector_size"] = detector_size
    print(json.dumps(result, sort_keys=True))


@edge_app.command("replay")
@sentences
def replay_command(
    video: Path = typer.Argument(..., help="The clip (any file OpenCV reads)."),
    truth: Path = typer.Option(
        ...,
        "--truth",
        help="The truth: a CSV file with the header plate,first_s,last_s,direction, one row "
        "per vehicle (the seconds from the clip's start while it is in view, entering or "
        "leaving), as `zes edge drive-by` writes it.",
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="Site YAML: its camera's ROI, entry line, thresholds, models."
    ),
    camera: str | None = typer.Option(
        None, "--camera", help="Camera id in the site file (needed when it has several)."
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Folder for the report: vehicles.csv and index.html with the images.",
    ),
) -> None:
    """Play a clip through the agent's real path and compare its passages with the truth.

    The path is the agent's own: capture in frame time, region of interest, motion gate,
    detection, OCR, tracking, voting, correction and direction. Passages are kept in
    memory; nothing is sent or spooled.

    Without --config the whole frame is the region of interest and the entry line is the
    horizontal middle of the frame with the lower half inside (a vehicle approaching the
    camera enters). A passage matches a truth vehicle when its best frame lies in that
    vehicle's window (1 s margin each side) and, among those, its plate is the nearest.
    The last line is one JSON object: vehicles, passages, matched, exact, duplicates,
    false_passages, missed, direction_correct, recall, precision, exact_rate,
    first_read_latency_p50_s, fps_per_core.

    With --report DIR it also writes DIR/vehicles.csv (one row per vehicle, duplicate and
    false passage, with its status exact, misread, missed, duplicate or false) and
    DIR/index.html, which shows each passage's plate crop and overview and each missed
    vehicle's sharpest frame.
    """
    from edge.replay import replay_clip
    from edge.replay_report import write_report

    logging.basicConfig(level=logging.WARNING)
    try:
        site = load_site_config(config_file) if config_file is not None else None
        replayed = replay_clip(video, truth, site, camera)
        if report is not None:
            write_report(report, video, replayed.truth, replayed.matching, replayed.summary)
        result = replayed.summary
    except SiteConfigError as exc:
        _problems(exc)
    except (OSError, ValueError) as exc:
        print(f"zes edge replay: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(json.dumps(result))


@edge_app.command("drive-by")
@sentences
def drive_by_command(
    out: Path = typer.Argument(..., help="Video file to write (.avi); truth goes next to it."),
    count: int = typer.Option(
        4, min=1, help="How many vehicles: one per dev photo, in name order."
    ),
    photos: Path | None = typer.Option(None, help="Annotated photo folder (default: settings)."),
    width: int = typer.Option(640, help="Frame width in pixels."),
    height: int = typer.Option(360, help="Frame height in pixels."),
    fps: float = typer.Option(10.0, help="Frames per second."),
) -> None:
    """Make a drive-by test video from annotated still photos.

    Its truth goes next to it as a CSV file (plate,first_s,last_s,direction), which
    `zes edge replay --truth` reads."""
    from edge.drive_by import make_drive_by
    from edge.evaluation import load_annotations
    from enforcement.settings import load_settings

    folder = photos
    if folder is None:
        data = load_settings().data
        if data is None:
            raise FileNotFoundError("no data folder: give --photos or set ZES_DATA_DIR")
        folder = data / "openalpr-eu-dev"
    items = load_annotations(folder)[:count]
    if not items:
        raise FileNotFoundError(f"no annotated photos in {folder}")
    made = make_drive_by(items, out, width=width, height=height, fps=fps)
    print(f"{made.video}: {made.frames} frames, {len(made.vehicles)} vehicles; truth {made.truth}")


@edge_app.command("quantize")
@sentences
def quantize_command(
    videos: list[Path] = typer.Argument(
        ..., help="Clips from the site's cameras, by day and by night."
    ),
    out: Path = typer.Option(..., "--out", help="The int8 detector ONNX file to write."),
    config_file: Path | None = typer.Option(
        None, "--config", help="Site YAML: its camera's ROI, thresholds and models."
    ),
    camera: str | None = typer.Option(
        None, "--camera", help="Camera id in the site file (needed when it has several)."
    ),
    views: int = typer.Option(
        120, min=8, max=2000, help="How many of the detector's views calibrate the model."
    ),
) -> None:
    """Make an int8 plate detector for a site, calibrated on its cameras' own footage.

    The clips are played through the agent's real path (region of interest, motion gate,
    night enhancement, regions and tiles), and a uniform sample of the views its fp32
    detector is given calibrates the int8 copy. It costs about half as much a call (22.0
    -> 11.3 ms for the 320 model on one AVX-512 core), but it can read a night vehicle in
    ten worse than the fp32 detector: give clips by day and by night, and check it before
    use. Point the site file's models.detector at the file and run `zes edge replay` on
    night and day clips with their truth, against the fp32 figures; keep fp32 where it
    reads worse."""
    import tempfile

    from edge.models import Models
    from edge.quantize import calibration_views, quantize_detector
    from edge.replay import camera_for_replay, default_site

    logging.basicConfig(level=logging.WARNING)
    try:
        for video in videos:
            if not video.is_file():
                raise FileNotFoundError(f"video file {video} does not exist")
        with tempfile.TemporaryDirectory(prefix="zes-quantize-") as tmp:
            site = (
                load_site_config(config_file)
                if config_file is not None
                else default_site(videos[0], Path(tmp))
            )
            chosen = camera_for_replay(site, videos[0], camera)
            if site.models.detector_hub:
                raise ValueError("the site uses a hub detector: give models.detector a file")
            source = resolve_model_paths(site.models, chosen.detector_size)[0]
            models = Models(site)
            recording = calibration_views(
                videos, chosen, models.detector(chosen), models.reader(),
                chosen.detector_size, views,
            )  # fmt: skip
            quantize_detector(source, out, recording.views)
    except SiteConfigError as exc:
        _problems(exc)
    except (OSError, ValueError) as exc:
        print(f"zes edge quantize: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(
        json.dumps(
            {"detector": str(source), "out": str(out), "views_seen": recording.seen,
             "views_used": len(recording.views)}
        )
    )  # fmt: skip


spool_app = typer.Typer(
    name="spool",
    help="The site's spool: what waits for the broker, and the quarantine of rows it can never "
    "take (too large, undecodable, an old schema). Safe while the agent runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
edge_app.add_typer(spool_app)


def _open_spool(config_file: Path) -> Spool:
    try:
        config = load_site_config(config_file)
    except SiteConfigError as exc:
        _problems(exc)
    if not config.spool.path.is_file():
        print(f"zes edge spool: no spool at {config.spool.path}", file=sys.stderr)
        raise typer.Exit(2)
    return Spool(config.spool.path, config.spool.budget_bytes)


def _chosen(spool: Spool, seqs: list[int], every: bool) -> list[int]:
    known = {row.seq for row in spool.quarantined()}
    if every:
        return sorted(known)
    if not seqs:
        print("zes edge spool: name quarantined rows by their seq, or --all", file=sys.stderr)
        raise typer.Exit(2)
    unknown = sorted(set(seqs) - known)
    if unknown:
        print(f"zes edge spool: not in quarantine: {unknown}", file=sys.stderr)
        raise typer.Exit(2)
    return seqs


@spool_app.command("list")
@sentences
def spool_list(
    config_file: Path = typer.Option(..., "--config", help="Site YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line."),
) -> None:
    """What waits in the spool, and each quarantined row with why (never its content)."""
    spool = _open_spool(config_file)
    rows = spool.quarantined()
    summary = {
        "passages": spool.depth(),
        "evidence": spool.evidence_depth(),
        "stored_bytes": spool.stored_bytes,
        "quarantined": len(rows),
    }
    spool.close()
    if as_json:
        for row in rows:
            print(
                json.dumps({**dataclasses.asdict(row), "quarantined_at": _utc(row.quarantined_at)})
            )
        print(json.dumps(summary))
        return
    for row in rows:
        print(f"{row.seq:>6} {row.kind:<8} {row.passage_id} {row.camera_id or '-':<12} "
              f"{row.size:>9} B  {_utc(row.quarantined_at)}  {row.reason}")  # fmt: skip
    print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))


def _utc(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


@spool_app.command("requeue")
@sentences
def spool_requeue(
    seqs: list[int] = typer.Argument(None, help="Quarantined rows (seq from `list`)."),
    config_file: Path = typer.Option(..., "--config", help="Site YAML file."),
    every: bool = typer.Option(False, "--all", help="Take every quarantined row."),
) -> None:
    """Put quarantined rows back in line.

    Do this after fixing the cause, for example the broker's size limit."""
    spool = _open_spool(config_file)
    count = spool.requeue(_chosen(spool, seqs or [], every))
    spool.close()
    print(f"requeued {count} row(s)")


@spool_app.command("drop")
@sentences
def spool_drop(
    seqs: list[int] = typer.Argument(None, help="Quarantined rows (seq from `list`)."),
    config_file: Path = typer.Option(..., "--config", help="Site YAML file."),
    every: bool = typer.Option(False, "--all", help="Take every quarantined row."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete quarantined rows for good.

    The passage or image is lost: that is an operator's call."""
    spool = _open_spool(config_file)
    chosen = _chosen(spool, seqs or [], every)
    if not yes and not typer.confirm(f"Delete {len(chosen)} quarantined row(s) for good?"):
        spool.close()
        raise typer.Exit(1)
    count = spool.drop(chosen)
    spool.close()
    print(f"dropped {count} row(s)")
