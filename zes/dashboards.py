"""Grafana dashboards as code: Edge, Stream, Enforcement and Logistics flows.

Every panel is declared here as data (`PanelSpec`: title, unit, PromQL queries) and turned into
Grafana JSON with grafana-foundation-sdk; `zes dashboards generate` writes the JSON and the file
provisioning under `deploy/grafana/`, and `--check` fails when the checked-in files differ from
what this module produces (CI runs it through the tests, so nobody hand-edits the JSON).

Each query also names the process that exports its series (`source`) and whether a healthy
process of that kind always has the series (`always`): the Prometheus-backed test uses both to
demand data wherever a running process should have produced it.

Dimensions of the flows dashboard are listed once (`FLOW_DIMENSIONS`), so adding an `area`
label to `zes_flow_entries_total` later (a part of a zone, a ring road) is one more entry
there and one more variable, not a rewrite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE_UID = "zes-prometheus"
"""The uid of the datasource *we* provision (compose, k8s); the dashboards never name it."""
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_INPUT = "DS_PROMETHEUS"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
"""Every panel, query and variable asks the dashboard's datasource variable, so the JSON
imports into any Grafana: file provisioning picks the default Prometheus datasource for the
variable, Grafana's import dialog asks for one (`__inputs`), and a viewer can switch."""
RATE = "$__rate_interval"
"""Grafana's own range for rate(): at least four scrape intervals, so no gaps at any zoom."""

Source = Literal["edge", "stream", "intake", "review"]
"""Which kind of process exports a query's series (= the Prometheus job `zes-<source>`)."""

FLOW_DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("vehicle_class", "vehicle class"),
    ("fuel_group", "fuel group"),
    ("emission_class", "emission class"),
)
"""Labels of `zes_flow_entries_total` the flows dashboard breaks entries down by."""


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str
    source: Source
    always: bool = True
    """False for series that exist only after an event (a drop, a dead letter, a reject)."""


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12
    stacked: bool = False


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    label: str
    query: str
    """A `label_values(...)` query; every panel query matches it with `=~"$name"`."""


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    uid: str
    file: str
    title: str
    description: str
    panels: tuple[PanelSpec, ...]
    variables: tuple[Variable, ...] = ()


def _q(expr: str, legend: str, source: Source, always: bool = True) -> Query:
    return Query(" ".join(expr.split()), legend, source, always)


# -- Edge ------------------------------------------------------------------------------------
_CAM = '{camera=~"$camera"}'

EDGE = DashboardSpec(
    uid="zes-edge",
    file="edge.json",
    title="zes / Edge agents",
    description="Cameras at the zone entrances: frames, recognition, spool and broker.",
    variables=(Variable("camera", "Camera", "label_values(zes_edge_camera_up, camera)"),),
    panels=(
        PanelSpec(
            "Camera up",
            "1 while the camera delivers frames; 0 after a failed open, read or stall.",
            "none",
            (_q(f"zes_edge_camera_up{_CAM}", "{{camera}}", "edge"),),
            kind="stat",
            width=8,
        ),
        PanelSpec(
            "Seconds since last frame",
            "A live camera should stay under a second; growth means a stalled stream.",
            "s",
            (_q(f"zes_edge_last_frame_age_seconds{_CAM}", "{{camera}}", "edge"),),
            kind="stat",
            width=8,
        ),
        PanelSpec(
            "Broker connection",
            "1 when the edge agent's last send to the broker succeeded.",
            "none",
            (_q("zes_edge_broker_up", "{{instance}}", "edge"),),
            kind="stat",
            width=8,
        ),
        PanelSpec(
            "Frames per second",
            "Frames decoded from each camera, and frames that went through detection.",
            "fps",
            (
                _q(
                    f"sum by (camera) (rate(zes_edge_frames_read_total{_CAM}[{RATE}]))",
                    "{{camera}} read",
                    "edge",
                ),
                _q(
                    f"sum by (camera) (rate(zes_edge_frames_processed_total{_CAM}[{RATE}]))",
                    "{{camera}} processed",
                    "edge",
                ),
            ),
        ),
        PanelSpec(
            "Dropped frames per second",
            "stale: a newer frame arrived first (the agent is behind); motion: nothing moved in "
            "the region of interest (expected on an empty road).",
            "fps",
            (
                _q(
                    f"sum by (camera, reason) (rate(zes_edge_frames_dropped_total{_CAM}[{RATE}]))",
                    "{{camera}} {{reason}}",
                    "edge",
                    always=False,
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Detection and OCR latency (p95)",
            "Per frame for detection, per batch of crops for OCR.",
            "s",
            (
                _q(
                    "histogram_quantile(0.95, sum by (camera, le) "
                    f"(rate(zes_edge_detect_duration_seconds_bucket{_CAM}[{RATE}])))",
                    "{{camera}} detect",
                    "edge",
                ),
                _q(
                    "histogram_quantile(0.95, sum by (camera, le) "
                    f"(rate(zes_edge_ocr_duration_seconds_bucket{_CAM}[{RATE}])))",
                    "{{camera}} ocr",
                    "edge",
                    always=False,
                ),
            ),
        ),
        PanelSpec(
            "Read confidence",
            "Median voted confidence per passage, and the share published as low-confidence "
            "(never fined automatically).",
            "percentunit",
            (
                _q(
                    "histogram_quantile(0.5, sum by (camera, le) "
                    f"(rate(zes_edge_read_confidence_ratio_bucket{_CAM}[{RATE}])))",
                    "{{camera}} median",
                    "edge",
                    always=False,
                ),
                _q(
                    f"sum by (camera) (rate(zes_edge_passages_low_confidence_total{_CAM}[{RATE}]))"
                    f" / sum by (camera) (rate(zes_edge_passages_total{_CAM}[{RATE}]))",
                    "{{camera}} low-confidence share",
                    "edge",
                    always=False,
                ),
            ),
        ),
        PanelSpec(
            "Passages per minute",
            "One passage per vehicle pass, by camera and direction.",
            "none",
            (
                _q(
                    "60 * sum by (camera, direction) "
                    f"(rate(zes_edge_passages_total{_CAM}[{RATE}]))",
                    "{{camera}} {{direction}}",
                    "edge",
                    always=False,
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Spool",
            "Passages stored on the site's disk and not yet acknowledged by the broker. It "
            "grows while the broker is unreachable and drains afterwards.",
            "none",
            (
                _q("zes_edge_spool_passages", "{{instance}} passages", "edge"),
                _q(
                    f"rate(zes_edge_publish_failures_total[{RATE}])",
                    "{{instance}} failed sends/s",
                    "edge",
                ),
            ),
        ),
        PanelSpec(
            "Spool bytes",
            "Passages and evidence images on disk; evidence gives way first near the budget.",
            "bytes",
            (_q("zes_edge_spool_bytes", "{{instance}}", "edge"),),
        ),
    ),
)

# -- Stream ----------------------------------------------------------------------------------
_ZONE = '{zone=~"$zone"}'

STREAM = DashboardSpec(
    uid="zes-stream",
    file="stream.json",
    title="zes / Stream workers",
    description="Passage decisions: throughput by outcome, register lookups, lag, dead letters.",
    variables=(Variable("zone", "Zone", "label_values(zes_stream_passages_total, zone)"),),
    panels=(
        PanelSpec(
            "Passages decided per second, by outcome",
            "allowed leaves only counters; violation and undetermined go to the review queue; "
            "out_of_scope is a foreign plate.",
            "ops",
            (
                _q(
                    f"sum by (outcome) (rate(zes_stream_passages_total{_ZONE}[{RATE}]))",
                    "{{outcome}}",
                    "stream",
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Records to the violations topic per second",
            "first=true opens a case; later sightings of the same plate, zone and day add to it.",
            "ops",
            (
                _q(
                    f"sum by (decision, first) (rate(zes_stream_violation_records_total[{RATE}]))",
                    "{{decision}} first={{first}}",
                    "stream",
                ),
            ),
        ),
        PanelSpec(
            "Batch size",
            "Passages per decided batch (median and p95): big batches under load are the point.",
            "none",
            (
                _q(
                    "histogram_quantile(0.5, sum by (le) "
                    f"(rate(zes_stream_batch_passages_bucket[{RATE}])))",
                    "p50",
                    "stream",
                ),
                _q(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(zes_stream_batch_passages_bucket[{RATE}])))",
                    "p95",
                    "stream",
                ),
            ),
        ),
        PanelSpec(
            "Register lookup latency",
            "One Redis round trip per batch (vehicles and exemptions).",
            "s",
            (
                _q(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(zes_stream_register_lookup_seconds_bucket[{RATE}])))",
                    "p99",
                    "stream",
                ),
                _q(
                    "histogram_quantile(0.5, sum by (le) "
                    f"(rate(zes_stream_register_lookup_seconds_bucket[{RATE}])))",
                    "p50",
                    "stream",
                ),
            ),
        ),
        PanelSpec(
            "Decision lag",
            "From capture at the camera to the decision, oldest passage per camera and batch.",
            "s",
            (
                _q(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(zes_stream_decision_lag_seconds_bucket[{RATE}])))",
                    "p99",
                    "stream",
                ),
                _q(
                    "histogram_quantile(0.5, sum by (le) "
                    f"(rate(zes_stream_decision_lag_seconds_bucket[{RATE}])))",
                    "p50",
                    "stream",
                ),
            ),
        ),
        PanelSpec(
            "Consumer lag",
            "Records behind the fetch high-watermark, and the same in seconds at the current "
            "consumption rate.",
            "none",
            (
                _q(
                    "sum by (topic) (zes_stream_consumer_lag_records)",
                    "{{topic}} records",
                    "stream",
                ),
                _q(
                    "sum(zes_stream_consumer_lag_records) / "
                    f"clamp_min(sum(rate(zes_stream_records_total[{RATE}])), 0.001)",
                    "seconds behind",
                    "stream",
                ),
            ),
        ),
        PanelSpec(
            "Dead letters per minute",
            "Malformed records or passages, by reason: each needs a look.",
            "none",
            (
                _q(
                    f"60 * sum by (reason) (rate(zes_stream_dead_letters_total[{RATE}]))",
                    "{{reason}}",
                    "stream",
                    always=False,
                ),
            ),
        ),
        PanelSpec(
            "Register",
            "1 when Redis answered; while 0, batches are held (nothing decided, nothing acked).",
            "none",
            (
                _q("min(zes_stream_register_up)", "register up", "stream"),
                _q(
                    f"sum(rate(zes_stream_register_retries_total[{RATE}]))",
                    "retries/s",
                    "stream",
                ),
            ),
        ),
    ),
)

# -- Enforcement -----------------------------------------------------------------------------
ENFORCEMENT = DashboardSpec(
    uid="zes-enforcement",
    file="enforcement.json",
    title="zes / Enforcement",
    description="Case intake, the review queue, officers' decisions and exports to CJIB.",
    variables=(Variable("zone", "Zone", "label_values(zes_review_queue_cases, zone)"),),
    panels=(
        PanelSpec(
            "Review queue",
            "Cases by zone and status.",
            "none",
            (
                _q(
                    f"sum by (zone, status) (zes_review_queue_cases{_ZONE})",
                    "{{zone}} {{status}}",
                    "review",
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Oldest open case",
            "Age of the oldest case still waiting for a decision, per zone.",
            "s",
            (
                _q(
                    f"max by (zone) (zes_review_oldest_open_case_age_seconds{_ZONE})",
                    "{{zone}}",
                    "review",
                ),
            ),
        ),
        PanelSpec(
            "Decisions per hour",
            "Officers' actions: confirm, reject, approve (second pair of eyes), escalate, "
            "correct, close.",
            "none",
            (
                _q(
                    f"3600 * sum by (action) (rate(zes_review_decisions_total[{RATE}]))",
                    "{{action}}",
                    "review",
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Rejects by reason (last 24 h)",
            "Why officers rejected cases: misreads and exemptions found late point at fixes.",
            "none",
            (
                _q(
                    "sum by (reason) (increase(zes_review_rejects_total[1d]))",
                    "{{reason}}",
                    "review",
                ),
            ),
        ),
        PanelSpec(
            "Exports to CJIB per hour",
            "Cases exported, by kind (fine or warning).",
            "none",
            (
                _q(
                    f"3600 * sum by (kind) (rate(zes_export_cases_total[{RATE}]))",
                    "{{kind}}",
                    "review",
                    always=False,
                ),
            ),
        ),
        PanelSpec(
            "Plate checks per hour",
            "Manual look-ups by officers, per zone.",
            "none",
            (
                _q(
                    f"3600 * sum by (zone) (rate(zes_platecheck_checks_total{_ZONE}[{RATE}]))",
                    "{{zone}}",
                    "review",
                    always=False,
                ),
            ),
        ),
        PanelSpec(
            "Intake records per second",
            "Violation and evidence records taken in, by result.",
            "ops",
            (
                _q(
                    f"sum by (kind, result) (rate(zes_intake_records_total[{RATE}]))",
                    "{{kind}} {{result}}",
                    "intake",
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Intake batch time (p95)",
            "One batch of records into the case database.",
            "s",
            (
                _q(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(zes_intake_batch_seconds_bucket[{RATE}])))",
                    "p95",
                    "intake",
                ),
            ),
        ),
        PanelSpec(
            "Evidence stored",
            "Images in the case database: held (no case shows them; the hourly purge removes "
            "them after the hold, so this falls every hour) and those of cases.",
            "bytes",
            (
                _q(
                    "max by (state) (zes_evidence_stored_bytes)",
                    "{{state}}",
                    "intake",
                ),
            ),
            width=24,
            stacked=True,
        ),
    ),
)


# -- Logistics flows -------------------------------------------------------------------------
def _flow_panel(label: str, name: str) -> PanelSpec:
    return PanelSpec(
        f"Entries per hour by {name}",
        f"Entries of Dutch-registered vehicles into the zone, by {name}.",
        "none",
        (
            _q(
                f"3600 * sum by (zone, {label}) (rate(zes_flow_entries_total{_ZONE}[{RATE}]))",
                f"{{{{zone}}}} {{{{{label}}}}}",
                "stream",
            ),
        ),
        stacked=True,
    )


FLOWS = DashboardSpec(
    uid="zes-flows",
    file="flows.json",
    title="zes / Logistics flows",
    description="Who enters the zero-emission zones: counters only, no plate is kept.",
    variables=(
        Variable("zone", "Zone", "label_values(zes_flow_entries_total, zone)"),
        Variable("area", "Area", "label_values(zes_flow_area_entries_total, area)"),
    ),
    panels=(
        PanelSpec(
            "Passages per hour by direction and origin",
            "Every passage seen (nl, foreign, unread), by direction.",
            "none",
            (
                _q(
                    "3600 * sum by (zone, direction, origin) "
                    f"(rate(zes_flow_passages_total{_ZONE}[{RATE}]))",
                    "{{zone}} {{direction}} {{origin}}",
                    "stream",
                ),
            ),
            width=24,
            stacked=True,
        ),
        *(_flow_panel(label, name) for label, name in FLOW_DIMENSIONS),
        PanelSpec(
            "Zero-emission share of entries",
            "Share of entries by zero-emission vehicles, per zone.",
            "percentunit",
            (
                _q(
                    "sum by (zone) "
                    f'(rate(zes_flow_entries_total{{zone=~"$zone",fuel_group="zero_emission"}}'
                    f"[{RATE}])) / sum by (zone) (rate(zes_flow_entries_total{_ZONE}[{RATE}]))",
                    "{{zone}}",
                    "stream",
                    always=False,
                ),
            ),
        ),
        # Access-window areas (venstertijden): when, and with which vehicles, goods move.
        PanelSpec(
            "Area entries per hour by window",
            "Entries into access-window areas: in a window, in a zero-emission privilege "
            "window, with an area exemption, or outside every window.",
            "none",
            (
                _q(
                    "3600 * sum by (area, window) "
                    f'(rate(zes_flow_area_entries_total{{area=~"$area"}}[{RATE}]))',
                    "{{area}} {{window}}",
                    "stream",
                    always=False,
                ),
            ),
            stacked=True,
        ),
        PanelSpec(
            "Area entries by hour of day and vehicle class (last 24 h)",
            "Entries into access-window areas per local hour of day (00-23) and vehicle "
            "class over the last day.",
            "none",
            (
                _q(
                    "sum by (hour, vehicle_class) "
                    '(increase(zes_flow_area_entries_total{area=~"$area"}[1d]))',
                    "{{hour}}h {{vehicle_class}}",
                    "stream",
                    always=False,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (EDGE, STREAM, ENFORCEMENT, FLOWS)


# -- building --------------------------------------------------------------------------------
def _target(query: Query, ref: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend)
        .ref_id(ref)
        .datasource(DATASOURCE)
    )


def _panel(spec: PanelSpec, panel_id: int) -> timeseries.Panel | stat.Panel:
    panel: timeseries.Panel | stat.Panel
    if spec.kind == "stat":
        panel = stat.Panel().height(4)
    else:
        panel = timeseries.Panel().height(8).fill_opacity(20 if spec.stacked else 5)
        if spec.stacked:
            panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    panel = (
        panel.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .unit(spec.unit)
        .span(spec.width)
        .datasource(DATASOURCE)
    )
    for i, query in enumerate(spec.queries):
        panel = panel.with_target(_target(query, chr(ord("A") + i)))
    return panel


def _variable(variable: Variable) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(variable.name)
        .label(variable.label)
        .query(variable.query)
        .datasource(DATASOURCE)
        .multi(True)
        .include_all(True)
        .all_value(".*")  # `=~".*"`: every value, also ones that appear after loading
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def _datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Prometheus")
        .type("prometheus")
        # Grafana's import dialog replaces the input with the datasource chosen; a file
        # provisioner leaves it, finds no such datasource and takes the default Prometheus.
        .current(VariableOption(text=f"${{{DATASOURCE_INPUT}}}", value=f"${{{DATASOURCE_INPUT}}}"))
    )


IMPORT_INPUTS = [
    {
        "name": DATASOURCE_INPUT,
        "label": "Prometheus",
        "description": "The Prometheus that scrapes the zes processes.",
        "type": "datasource",
        "pluginId": "prometheus",
        "pluginName": "Prometheus",
    }
]
"""What Grafana's "Import dashboard" asks for (`__inputs`): the Prometheus datasource."""


def build(spec: DashboardSpec) -> dict[str, object]:
    """The dashboard as Grafana JSON (a dict), panel ids 1..N in order."""
    board = (
        dashboard.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(["zes"])
        .timezone("browser")
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
        .with_variable(_datasource_variable())
    )
    for variable in spec.variables:
        board = board.with_variable(_variable(variable))
    for panel_id, panel in enumerate(spec.panels, start=1):
        board = board.with_panel(_panel(panel, panel_id))
    encoded = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    assert isinstance(encoded, dict)
    encoded["__inputs"] = IMPORT_INPUTS
    return encoded


def render(spec: DashboardSpec) -> str:
    return json.dumps(build(spec), indent=2, sort_keys=True) + "\n"


# -- provisioning ----------------------------------------------------------------------------
DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy"
GRAFANA_DASHBOARD_PATH = "/var/lib/grafana/dashboards/zes"
"""Where the container (compose, k8s) mounts deploy/grafana/dashboards."""


def datasource_provisioning(url: str = "http://prometheus:9090") -> str:
    data = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (zes)",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": url,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": "15s"},
            }
        ],
    }
    return _yaml("Grafana datasource provisioning", data)


def dashboard_provisioning(path: str = GRAFANA_DASHBOARD_PATH) -> str:
    data = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "zes",
                "folder": "zes",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
    return _yaml("Grafana dashboard provisioning", data)


def _yaml(what: str, data: object) -> str:
    header = f"# {what}. Generated by `zes dashboards generate`: do not edit.\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def generated_files(deploy_dir: Path = DEPLOY_DIR) -> dict[Path, str]:
    """Every generated file under `deploy_dir` and its content."""
    grafana = deploy_dir / "grafana"
    files = {grafana / "dashboards" / spec.file: render(spec) for spec in DASHBOARDS}
    files[grafana / "provisioning" / "datasources" / "zes.yml"] = datasource_provisioning()
    files[grafana / "provisioning" / "dashboards" / "zes.yml"] = dashboard_provisioning()
    return files


def stale_files(deploy_dir: Path = DEPLOY_DIR) -> list[Path]:
    """Generated files that are missing or differ from what this module produces now."""
    stale = []
    for path, content in generated_files(deploy_dir).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(path)
    return stale


def write_files(deploy_dir: Path = DEPLOY_DIR) -> list[Path]:
    written = []
    for path, content in generated_files(deploy_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def all_queries(specs: Sequence[DashboardSpec] = DASHBOARDS) -> list[tuple[str, str, Query]]:
    """(dashboard uid, panel title, query) for every query of every dashboard."""
    return [(d.uid, p.title, q) for d in specs for p in d.panels for q in p.queries]
