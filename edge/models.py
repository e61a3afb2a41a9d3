"""The site's models: detectors per input size and one shared reader, loaded once."""

from __future__ import annotations

from edge.config import CameraConfig, SiteConfig, resolve_model_paths
from edge.recognition import OnnxPlateDetector, OnnxPlateReader, PlateDetector, PlateReader


class Models:
    """Detectors per input size and one shared reader (onnxruntime sessions are thread-safe)."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self._detectors: dict[tuple[int, float], PlateDetector] = {}
        self._reader: PlateReader | None = None

    def detector(self, camera: CameraConfig) -> PlateDetector:
        key = (camera.detector_size, camera.thresholds.detector_conf)
        if key not in self._detectors:
            m = self.config.models
            if m.detector_hub:
                model: object = m.detector_hub
            else:
                model = resolve_model_paths(m, camera.detector_size)[0]
            self._detectors[key] = OnnxPlateDetector(
                model,  # type: ignore[arg-type]
                conf_thresh=camera.thresholds.detector_conf,
                threads=m.threads,
            )
        return self._detectors[key]

    def reader(self) -> PlateReader:
        if self._reader is None:
            m = self.config.models
            if m.ocr_hub:
                self._reader = OnnxPlateReader(hub_model=m.ocr_hub, threads=m.threads)
            else:
                _, ocr, ocr_config = resolve_model_paths(m, 320)
                self._reader = OnnxPlateReader(ocr, ocr_config, threads=m.threads)
        return self._reader
