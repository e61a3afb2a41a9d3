"""`zes edge ...`: run the agent, check a site file, evaluate recognition on annotated stills."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from pathlib import Path

import typer

from edge.config import (
    DEFAULT_DETECTOR_SIZE,
    ModelsConfig,
    SiteConfigError,
    load_site_config,
    resolve_model_paths,
)

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
def check_config(file: Path = typer.Argument(..., help="Site YAML file.")) -> None:
    """Validate a site file; print every problem at once (exit 2) or `ok`."""
    try:
        config = load_site_config(_site_file(file))
    except SiteConfigError as exc:
        _problems(exc)
    print(f"ok: site {config.site_id}, {len(config.cameras)} camera(s)")


@edge_app.command("run")
def run(
    config_file: Path = typer.Option(..., "--config", help="Site YAML file."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    dev: bool = typer.Option(False, "--dev", help="Allow development secrets (one machine only)."),
) -> None:
    """Run the agent until SIGTERM/SIGINT."""
    from edge.agent import Agent
    from enforcement.settings import load_settings, require_keys

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _site_file(config_file)
    require_keys("the edge agent", [load_settings().hash_key], dev=dev)
    try:
        config = load_site_config(config_file)
        agent = Agent(config)
    except SiteConfigError as exc:
        _problems(exc)
    except (OSError, sqlite3.Error) as exc:  # a model missing, the port taken, spool unwritable
        print(f"zes edge: cannot start: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    agent.run_forever()


@edge_app.command("eval")
def eval_command(
    folder: Path = typer.Argument(..., help="Folder of NAME.jpg + NAME.txt (openalpr format)."),
    detector_size: int = typer.Option(DEFAULT_DETECTOR_SIZE, help="Detector input size."),
    model_dir: Path | None = typer.Option(None, help="Model folder (default: settings)."),
    threads: int = typer.Option(1, help="onnxruntime threads per model."),
) -> None:
    """Detect and read every annotated image; the last line is one JSON object."""
    from edge.recognition import OnnxPlateDetector, OnnxPlateReader, evaluate

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
    result = evaluate(folder, detector, reader)
    result["detector_size"] = detector_size
    print(json.dumps(result, sort_keys=True))


@edge_app.command("drive-by")
def drive_by_command(
    out: Path = typer.Argument(..., help="Video file to write (.avi); truth goes next to it."),
    count: int = typer.Option(4, min=1, help="Vehicles (dev photos, in name order)."),
    photos: Path | None = typer.Option(None, help="Annotated photo folder (default: settings)."),
    width: int = typer.Option(640),
    height: int = typer.Option(360),
    fps: float = typer.Option(10.0),
) -> None:
    """Make a drive-by test video from annotated stills, with a ground-truth JSON file."""
    from edge.drive_by import make_drive_by
    from edge.recognition import load_annotations
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
