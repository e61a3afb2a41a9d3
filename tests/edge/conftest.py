"""Fixtures of the edge tests: real models and photos from `../shared` (session-scoped, loaded
once), small generated drive-by videos, and site configs pointing at a temporary spool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config import SiteConfig, parse_site_config
from edge.drive_by import DriveBy, make_drive_by
from edge.evaluation import Annotation, load_annotations
from edge.recognition import OnnxPlateDetector, OnnxPlateReader


@pytest.fixture(scope="session")
def model_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def dev_photos(shared_dir: Path) -> list[Annotation]:
    return load_annotations(shared_dir / "data" / "openalpr-eu-dev")


@pytest.fixture(scope="session")
def detector(model_dir: Path) -> OnnxPlateDetector:
    return OnnxPlateDetector(model_dir / "yolov8n-license-plate-fastanpr-320-end2end.onnx")


@pytest.fixture(scope="session")
def reader(model_dir: Path) -> OnnxPlateReader:
    return OnnxPlateReader(
        model_dir / "cct_xs_v2_global.onnx", model_dir / "cct_xs_v2_global_plate_config.yaml"
    )


@pytest.fixture(scope="session")
def drive_by(tmp_path_factory: pytest.TempPathFactory, dev_photos: list[Annotation]) -> DriveBy:
    """Four vehicles (entering, leaving, entering, leaving), 640x360 at 10 fps, 13 s."""
    by_name = {a.image.name: a for a in dev_photos}
    chosen = [by_name[n] for n in ("eu1.jpg", "eu10.jpg", "eu2.jpg", "eu3.jpg")]
    return make_drive_by(chosen, tmp_path_factory.mktemp("video") / "drive.avi")


def site_dict(tmp_path: Path, source: str | int, bootstrap: str = "127.0.0.1:9") -> dict[str, Any]:
    return {
        "site_id": "test-site",
        "broker": {"bootstrap": bootstrap, "request_timeout_s": 2.0, "linger_s": 0.05},
        "spool": {"path": str(tmp_path / "spool.db"), "budget_bytes": 50_000_000},
        "metrics": {"port": 0},
        "cameras": [
            {
                "id": "cam-1",
                "source": source,
                "zone_id": "rotterdam",
                "entry_line": {"a": [0.0, 0.5], "b": [1.0, 0.5], "inside": "right"},
                "read_mode": "every_frame",
            }
        ],
    }


@pytest.fixture
def site_factory(tmp_path: Path) -> Any:
    def make(source: str | int, bootstrap: str = "127.0.0.1:9", **camera: Any) -> SiteConfig:
        data = site_dict(tmp_path, source, bootstrap)
        data["cameras"][0].update(camera)
        return parse_site_config(data)

    return make
