"""The Grafana dashboards as code: the checked-in JSON is what the generator makes, ids and uids
are unique, every panel and query asks the datasource variable (no fixed uid, so they import
into any Grafana), and every metric a query uses is one a zes process exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from edge.metrics import EdgeMetrics
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence_metrics import EvidenceStoreCollector
from enforcement.casework.metrics import IntakeMetrics
from enforcement.web.metrics import ReviewMetrics
from stream.metrics import StreamMetrics
from zes import dashboards

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GRAFANA = DEPLOY / "grafana"


def load(name: str) -> dict[str, Any]:
    data = json.loads((GRAFANA / "dashboards" / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_checked_in_files_are_what_the_generator_makes() -> None:
    assert dashboards.stale_files() == []
    expected = {spec.file for spec in dashboards.DASHBOARDS}
    assert expected == {"edge.json", "stream.json", "enforcement.json", "flows.json"}
    assert {p.name for p in (GRAFANA / "dashboards").glob("*.json")} == expected


def test_check_command_notices_a_hand_edit(tmp_path: Path) -> None:
    dashboards.write_files(tmp_path)
    assert dashboards.stale_files(tmp_path) == []
    edited = tmp_path / "grafana" / "dashboards" / "flows.json"
    edited.write_text(edited.read_text().replace("Logistics", "Logistic"), encoding="utf-8")
    assert dashboards.stale_files(tmp_path) == [edited]
    done = subprocess.run(
        [sys.executable, "-m", "zes", "dashboards", "generate", "--check"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 6 generated files are current")


def test_uids_titles_and_panel_ids_are_unique() -> None:
    boards = [load(spec.file) for spec in dashboards.DASHBOARDS]
    uids = [b["uid"] for b in boards]
    assert len(set(uids)) == len(uids) == 4
    assert len({b["title"] for b in boards}) == 4
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), board["uid"]
        for panel in board["panels"]:
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(set(refs)) == len(refs) and all(refs), panel["title"]
            assert panel["gridPos"]["w"] > 0 and panel["gridPos"]["h"] > 0


def provisioned_uid() -> str:
    path = GRAFANA / "provisioning" / "datasources" / "zes.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    (source,) = config["datasources"]
    assert source["type"] == "prometheus"
    uid = source["uid"]
    assert isinstance(uid, str)
    return uid


def datasource_refs(node: object, where: str = "") -> Iterator[tuple[str, object]]:
    """Every `datasource` value anywhere in a dashboard's JSON, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield where, value
            yield from datasource_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, f"{where}/{i}")


def test_dashboards_import_into_any_grafana() -> None:
    """No fixed datasource uid: every panel, query and variable asks the datasource variable,
    which Grafana's import dialog fills from `__inputs` and provisioning from the default."""
    provisioned = provisioned_uid()
    for spec in dashboards.DASHBOARDS:
        board = load(spec.file)
        assert provisioned not in json.dumps(board), spec.file
        (source,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
        assert source["query"] == "prometheus" and source["name"] == "datasource"
        (wanted,) = board["__inputs"]
        assert wanted["type"] == "datasource" and wanted["pluginId"] == "prometheus"
        assert source["current"]["value"] == f"${{{wanted['name']}}}"
        refs = list(datasource_refs(board))
        for where, ref in refs:
            assert ref == {"type": "prometheus", "uid": "${datasource}"}, (spec.file, where)
        panels = board["panels"]
        assert {f"/panels/{i}" for i in range(len(panels))} <= {w for w, _ in refs}
        for i, panel in enumerate(panels):
            assert panel["targets"], panel["title"]
            for j, target in enumerate(panel["targets"]):
                assert f"/panels/{i}/targets/{j}" in {w for w, _ in refs}
                assert target["expr"].strip()
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == "${datasource}"


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    path = GRAFANA / "provisioning" / "dashboards" / "zes.yml"
    (provider,) = yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == dashboards.GRAFANA_DASHBOARD_PATH


def test_variables_are_used_and_declared() -> None:
    for spec in dashboards.DASHBOARDS:
        board = load(spec.file)
        declared = {v["name"] for v in board["templating"]["list"]}
        used = {
            name
            for panel in board["panels"]
            for target in panel["targets"]
            for name in re.findall(r"\$(\w+)", target["expr"])
            if not name.startswith("__")
        }
        assert used | {"datasource"} == declared, spec.uid


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Names a registry exposes, including histogram and counter suffixes."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names.add(family.name)
    return names


def enforcement_registries(tmp_path: Path) -> list[CollectorRegistry]:
    """The intake's and the review app's real registries (the review app's reads a case
    database at scrape time: an empty migrated one here)."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    review = ReviewMetrics(session_factory(make_engine(url)), lambda: datetime.now(UTC))
    intake = IntakeMetrics()
    # Registered beside the intake's own metrics by `zes enforce intake`.
    intake.registry.register(EvidenceStoreCollector(session_factory(make_engine(url))))
    return [intake.registry, review.registry]


def test_every_queried_metric_is_exported(tmp_path: Path) -> None:
    known = exposed_names(EdgeMetrics().registry) | exposed_names(StreamMetrics().registry)
    for registry in enforcement_registries(tmp_path):
        known |= exposed_names(registry)
    known.add("up")
    for uid, title, query in dashboards.all_queries():
        for name in re.findall(r"\b(zes_[a-z0-9_]+)", query.expr):
            assert name in known, f"{uid} / {title}: {name} is exported by no process"


def test_metric_names_follow_the_conventions() -> None:
    for holder in (EdgeMetrics(), StreamMetrics()):
        for family in holder.registry.collect():
            assert family.name.startswith("zes_"), family.name
            if family.type == "histogram" and "duration" in family.name:
                assert family.name.endswith("_seconds"), family.name
        metrics = [m for m in vars(holder).values() if isinstance(m, MetricWrapperBase)]
        assert len(metrics) > 10
        for metric in metrics:
            labels = set(metric._labelnames)  # no public accessor in prometheus_client
            assert not labels & {"plate", "plate_raw", "passage_id", "case_key", "site_id"}, (
                metric._name
            )
