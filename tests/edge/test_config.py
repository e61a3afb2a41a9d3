"""Site files: a good one loads, a bad one reports every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import edge_app
from edge.config import SiteConfig, SiteConfigError, load_site_config, resolve_model_paths

GOOD = """
site_id: rotterdam-north-1
broker: {bootstrap: "127.0.0.1:9092"}
spool: {path: /var/lib/zes/spool.db, budget_bytes: 1000000000}
metrics: {port: 9108}
cameras:
  - id: cam-1
    source: rtsp://user:secret@10.0.0.5/stream1
    zone_id: rotterdam
    roi: [[0.1, 0.2], [0.9, 0.2], [0.9, 1.0], [0.1, 1.0]]
    entry_line: {a: [0.0, 0.6], b: [1.0, 0.6], inside: right}
    thresholds: {detector_conf: 0.35, ocr_every_n_frames: 2}
  - id: cam-2
    source: 0
    zone_id: rotterdam
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, GOOD))
    assert isinstance(config, SiteConfig)
    assert config.metrics.host == "127.0.0.1"
    assert config.broker.passages_topic == "passages"
    first, second = config.cameras
    assert first.thresholds.detector_conf == 0.35
    assert first.thresholds.min_vote_confidence == 0.8
    assert first.detector_size == 320
    assert second.source == 0
    assert second.roi is None
    with pytest.raises(ValueError, match="frozen"):
        config.site_id = "other"  # type: ignore[misc]


def test_every_field_has_a_description() -> None:
    from pydantic import BaseModel

    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            for candidate in (annotation, *getattr(annotation, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    walk(candidate)

    walk(SiteConfig)
    assert len(seen) >= 6


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = yaml.safe_load(GOOD)
    data["broker"]["bootstrap"] = "no-port"
    data["spool"]["budget_bytes"] = 5
    data["cameras"][0]["roi"] = [[0.1, 0.1], [0.2, 0.2]]
    data["cameras"][0]["thresholds"]["detector_conf"] = 3
    data["cameras"][0]["entry_line"]["inside"] = "up"
    data["cameras"][1]["id"] = "cam-1"
    data["cameras"][1]["colour"] = "red"
    data["cameras"][1]["detector_size"] = 300
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(write(tmp_path, yaml.safe_dump(data)))
    problems = caught.value.problems
    text = "\n".join(problems)
    for where in (
        "broker.bootstrap",
        "spool.budget_bytes",
        "cameras.0.roi",
        "cameras.0.thresholds.detector_conf",
        "cameras.0.entry_line.inside",
        "cameras.1.colour",
        "cameras.1.detector_size",
    ):
        assert where in text, where
    assert len(problems) >= 7
    assert "no-port" in text


def test_the_envelope_version_is_1_unless_the_site_says_2(tmp_path: Path) -> None:
    assert load_site_config(write(tmp_path, GOOD)).broker.envelope_version == 1
    data = yaml.safe_load(GOOD)
    data["broker"]["envelope_version"] = 2
    assert load_site_config(write(tmp_path, yaml.safe_dump(data))).broker.envelope_version == 2
    data["broker"]["envelope_version"] = 3
    with pytest.raises(SiteConfigError, match=r"broker\.envelope_version"):
        load_site_config(write(tmp_path, yaml.safe_dump(data)))


def test_duplicate_camera_ids_are_a_problem(tmp_path: Path) -> None:
    data = yaml.safe_load(GOOD)
    data["cameras"][1]["id"] = "cam-1"
    with pytest.raises(SiteConfigError, match="used twice"):
        load_site_config(write(tmp_path, yaml.safe_dump(data)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("site_id: [unclosed", "(yaml)"), ("- a list", "mapping"), ("site_id: x", "broker")],
)
def test_broken_files_give_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SiteConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_site_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="cannot read"):
        load_site_config(tmp_path / "absent.yaml")


def test_model_paths_default_to_the_model_folder(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, GOOD))
    models = config.models.model_copy(update={"dir": tmp_path})
    detector, ocr, ocr_config = resolve_model_paths(models, 416)
    assert detector == tmp_path / "yolov8n-license-plate-fastanpr-416-end2end.onnx"
    assert ocr.name == "cct_xs_v2_global.onnx"
    assert ocr_config.name.endswith("plate_config.yaml")


def test_check_config_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(edge_app, ["check-config", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ok")
    bad = write(tmp_path, GOOD.replace('"127.0.0.1:9092"', '"nowhere"').replace("cam-2", "cam-1"))
    result = runner.invoke(edge_app, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert "broker.bootstrap" in result.output
    assert "used twice" in result.output


def test_run_command_rejects_a_bad_config(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("zone_id: rotterdam", "zone_id: ''"))
    result = CliRunner().invoke(edge_app, ["run", "--config", str(bad)])
    assert result.exit_code == 2
    assert "cameras.0.zone_id" in result.output
    assert "cameras.1.zone_id" in result.output


def test_run_command_reports_missing_models(tmp_path: Path) -> None:
    text = GOOD.replace("/var/lib/zes/spool.db", str(tmp_path / "spool.db"))
    models = f"metrics: {{port: 0}}\nmodels: {{dir: {tmp_path}}}"
    text = text.replace("metrics: {port: 9108}", models)
    site = str(write(tmp_path, text))
    result = CliRunner().invoke(edge_app, ["run", "--config", site, "--dev"])
    assert result.exit_code == 2
    assert "cannot start" in result.output
    assert "does not exist" in result.output


def test_the_example_site_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "edge" / "site.example.yaml"
    config = load_site_config(example)
    assert config.cameras[0].entry_line is not None


def test_check_config_on_a_typo_reports_only_the_typo(tmp_path: Path) -> None:
    # Issue 26: a misspelt key in the only camera also gave "cameras: at least 1 item".
    typo = GOOD.split("  - id: cam-2")[0].replace("thresholds:", "tresholds:")
    result = CliRunner().invoke(edge_app, ["check-config", str(write(tmp_path, typo))])
    assert result.exit_code == 2
    problems = [line.strip() for line in result.output.splitlines()[1:] if line.strip()]
    assert problems == ["cameras.0.tresholds: Extra inputs are not permitted"]
    # An empty camera list is still a problem of its own.
    empty = write(tmp_path, GOOD.split("cameras:")[0] + "cameras: []\n")
    result = CliRunner().invoke(edge_app, ["check-config", str(empty)])
    assert result.exit_code == 2 and "cameras: " in result.output
