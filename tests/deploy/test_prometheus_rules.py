"""deploy/prometheus: the configs and alert rules are valid for promtool, every alert fires on
the situation it is about (and not on a healthy system), and the jobs match what the
dashboards and `zes up` use."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from zes.dashboards import all_queries
from zes.up import prometheus_config

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
JOBS = {"zes-edge", "zes-stream", "zes-intake", "zes-review", "zes-flows"}


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_configs_are_valid(promtool: str) -> None:
    for name in ("prometheus.yml", "prometheus-compose.yml"):
        done = promtool_run(promtool, "check", "config", str(PROMETHEUS / name))
        assert done.returncode == 0, done.stdout + done.stderr
    done = promtool_run(promtool, "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zes_up_scrape_config_is_valid(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus_config({"stream": 9102, "edge": 9108}), encoding="utf-8")
    done = promtool_run(promtool, "check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    # The demo's Prometheus evaluates the alert rules of deploy/, all of them.
    assert yaml.safe_load(path.read_text())["rule_files"] == [str(PROMETHEUS / "alerts.yml")]
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    count = sum(len(group["rules"]) for group in rules["groups"])
    assert f"SUCCESS: {count} rules found" in done.stdout, done.stdout


def _jobs(name: str) -> dict[str, Any]:
    config = yaml.safe_load((PROMETHEUS / name).read_text(encoding="utf-8"))
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_every_process_is_scraped_on_its_port() -> None:
    jobs = _jobs("prometheus.yml")
    assert set(jobs) == JOBS
    ports = {name: job["static_configs"][0]["targets"] for name, job in jobs.items()}
    assert ports == {
        "zes-edge": ["127.0.0.1:9108"],
        "zes-stream": ["127.0.0.1:9102"],
        "zes-intake": ["127.0.0.1:9103"],
        "zes-review": ["127.0.0.1:9104"],
        "zes-flows": ["127.0.0.1:9105"],
    }
    assert set(_jobs("prometheus-compose.yml")) == JOBS
    # Every dashboard query comes from one of these jobs.
    assert {f"zes-{query.source}" for _, _, query in all_queries()} <= JOBS


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _case(
    series: list[dict[str, str]], alert: str, at: str, labels: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": x} for x in labels],
            }
        ],
    }


EDGE = {"job": "zes-edge", "instance": "site-1:9108"}
WORKER = {"job": "zes-stream", "instance": "w1:9102"}


def _fires(extra: dict[str, str], severity: str) -> list[dict[str, str]]:
    return [{**extra, "severity": severity}]


CAM = {**EDGE, "camera": "cam-1"}
_BUCKETS = ("0.1", "0.3", "0.5", "0.6", "0.7", "0.8", "0.9", "0.95", "0.99", "1.0", "+Inf")


def _confidence_series(phases: list[tuple[int, float]]) -> list[dict[str, str]]:
    """Histogram buckets of `zes_edge_read_confidence_ratio` at 1m steps: each phase is
    (minutes, confidence of its 10 passages a minute)."""
    per_minute = [conf for minutes, conf in phases for _ in range(minutes)]
    series = []
    for le in _BUCKETS:
        bound = float("inf") if le == "+Inf" else float(le)
        total, values = 0, ["0"]
        for conf in per_minute:
            total += 10 if conf <= bound else 0
            values.append(str(total))
        series.append(_series("zes_edge_read_confidence_ratio_bucket", {**CAM, "le": le},
                              " ".join(values)))  # fmt: skip
    count = next(x for x in series if 'le="+Inf"' in x["series"])["values"]
    series.append(_series("zes_edge_read_confidence_ratio_count", CAM, count))
    return series


def _no_passages(passages: str) -> dict[str, Any]:
    """A camera with frames; `passages` its passages since a day and a half ago."""
    return _case(
        [_series("zes_edge_frames_read_total", CAM, "0+600x1500"),
         _series("zes_edge_passages_total", {**CAM, "direction": "entering"}, passages)],
        "ZesCameraNoPassages", "1470m",
        _fires(CAM, "warning") if passages == "0+1x120 120x1380" else [],
    )  # fmt: skip


def _increase(metric: str, labels: dict[str, str], alert: str, fires: dict[str, str],
              severity: str) -> list[dict[str, Any]]:  # fmt: skip
    return [
        _case([_series(metric, labels, "0 0 3 3 3 3")], alert, "4m", _fires(fires, severity)),
        _case([_series(metric, labels, "5x6")], alert, "4m", []),
    ]


EDGE_CASES: list[dict[str, Any]] = [
    _case([_series("zes_edge_healthy", EDGE, "0x10")], "ZesEdgeUnhealthy", "7m",
          _fires(EDGE, "warning")),
    _case([_series("zes_edge_healthy", EDGE, "1x10")], "ZesEdgeUnhealthy", "7m", []),
    # Traffic yesterday at this hour, none in the last 15 minutes: fires.
    _no_passages("0+1x120 120x1380"),
    # Passages keep coming: quiet.
    _no_passages("0+1x1500"),
    # No traffic yesterday at this hour either (a quiet road at night): quiet.
    _no_passages("0x1500"),
    *_increase("zes_edge_spool_refused_passages_total", {**EDGE, "outcome": "held"},
               "ZesPassagesRefused", {**EDGE, "outcome": "held"}, "critical"),
    *_increase("zes_edge_spool_quarantined_total", {**EDGE, "kind": "evidence"},
               "ZesPassagesQuarantined", {**EDGE, "kind": "evidence"}, "warning"),
    *_increase("zes_edge_spool_evidence_dropped_total", EDGE, "ZesEvidenceDropped", EDGE,
               "warning"),
    # Three hours of sure reads (0.95-0.99), then 90 minutes of 0.5-0.6: the median drifted.
    _case(_confidence_series([(180, 0.97), (90, 0.55)]), "ZesReadConfidenceDrift", "270m",
          _fires(CAM, "warning")),
    _case(_confidence_series([(270, 0.97)]), "ZesReadConfidenceDrift", "270m", []),
    _case([_series("zes_edge_clock_sync_state", {**EDGE, "state": "unsynchronized"}, "1x20"),
           _series("zes_edge_clock_sync_state", {**EDGE, "state": "synchronized"}, "0x20")],
          "ZesClockNotSynchronised", "15m",
          _fires({**EDGE, "state": "unsynchronized"}, "critical")),
    _case([_series("zes_edge_clock_sync_state", {**EDGE, "state": "unsynchronized"}, "0x20"),
           _series("zes_edge_clock_sync_state", {**EDGE, "state": "synchronized"}, "1x20")],
          "ZesClockNotSynchronised", "15m", []),
]  # fmt: skip


HELD = {"job": "zes-intake", "instance": "i:9103", "state": "held"}
_HOUR_OF_PURGES = "1000+100x59 "
"""An hour of held evidence at 1m steps: rising with traffic, then a purge drops it."""

EVIDENCE_CASES = [
    # Ten hours of growth, no purge: fires.
    _case([_series("zes_evidence_stored_bytes", HELD, "0+1000x600")],
          "ZesEvidenceStoreGrowing", "9h", _fires(HELD, "warning")),
    # Hourly purges: never.
    _case([_series("zes_evidence_stored_bytes", HELD, _HOUR_OF_PURGES * 10)],
          "ZesEvidenceStoreGrowing", "9h", []),
    # A new store, growing for five hours before its first hold has passed: not yet.
    _case([_series("zes_evidence_stored_bytes", HELD, "_x300 0+1000x300")],
          "ZesEvidenceStoreGrowing", "9h", []),
    # Images of cases are kept with their case: their growth is no alert.
    _case([_series("zes_evidence_stored_bytes", {**HELD, "state": "case"}, "0+1000x600")],
          "ZesEvidenceStoreGrowing", "9h", []),
]  # fmt: skip


ALERT_CASES: list[dict[str, Any]] = [
    *EDGE_CASES,
    _case([_series("zes_edge_camera_up", {**EDGE, "camera": "cam-1"}, "0x10")],
          "ZesCameraDown", "5m", _fires({**EDGE, "camera": "cam-1"}, "critical")),
    _case([_series("zes_edge_camera_up", {**EDGE, "camera": "cam-1"}, "1x10")],
          "ZesCameraDown", "5m", []),
    _case([_series("up", EDGE, "0x10")], "ZesEdgeAgentDown", "5m", _fires(EDGE, "critical")),
    _case([_series("zes_edge_spool_passages", EDGE, "200+10x60")],
          "ZesSpoolGrowing", "45m", _fires(EDGE, "warning")),
    _case([_series("zes_edge_spool_passages", EDGE, "200x60")], "ZesSpoolGrowing", "45m", []),
    _case([_series("up", WORKER, "0x10")], "ZesStreamWorkerDown", "5m",
          _fires(WORKER, "critical")),
    _case(
        [
            _series("zes_stream_consumer_lag_records",
                    {**WORKER, "topic": "passages", "partition": "0"}, "1000x40"),
            _series("zes_stream_records_total", WORKER, "0+60x40"),  # 1 record/s: 1000 s behind
        ],
        "ZesConsumerLagHigh", "30m", [{"severity": "warning"}],
    ),
    _case(
        [
            _series("zes_stream_consumer_lag_records",
                    {**WORKER, "topic": "passages", "partition": "0"}, "10x40"),
            _series("zes_stream_records_total", WORKER, "0+60x40"),
        ],
        "ZesConsumerLagHigh", "30m", [],
    ),
    _case([_series("zes_stream_dead_letters_total", {**WORKER, "reason": "bad_record"},
                   "0 0 1 1 1 1")],
          "ZesDeadLetters", "4m", _fires({"reason": "bad_record"}, "warning")),
    _case([_series("zes_intake_records_total",
                   {"job": "zes-intake", "kind": "violation", "result": "dead_letter"},
                   "0 0 2 2 2 2")],
          "ZesDeadLetters", "4m", _fires({"kind": "violation"}, "warning")),
    _case([_series("zes_stream_register_up", WORKER, "1 0x10")], "ZesRegisterUnreachable", "5m",
          _fires(WORKER, "critical")),
    _case([_series("up", {"job": "zes-intake", "instance": "i:9103"}, "0x10")],
          "ZesIntakeDown", "8m", _fires({"job": "zes-intake", "instance": "i:9103"}, "critical")),
    _case([_series("up", {"job": "zes-review", "instance": "r:9104"}, "0x10")],
          "ZesReviewAppDown", "8m", _fires({"job": "zes-review", "instance": "r:9104"}, "warning")),
    _case([_series("up", {"job": "zes-flows", "instance": "f:9105"}, "0x30")],
          "ZesFlowsSinkDown", "20m", _fires({"job": "zes-flows", "instance": "f:9105"}, "warning")),
    _case([_series("up", {"job": "zes-flows", "instance": "f:9105"}, "0x10")],
          "ZesFlowsSinkDown", "8m", []),
    _case([_series("zes_review_oldest_open_case_age_seconds",
                   {"job": "zes-review", "zone": "utrecht"}, "200000x60")],
          "ZesReviewQueueStale", "45m", _fires({"zone": "utrecht"}, "warning")),
    _case([_series("zes_review_oldest_open_case_age_seconds",
                   {"job": "zes-review", "zone": "utrecht"}, "3600x60")],
          "ZesReviewQueueStale", "45m", []),
    *EVIDENCE_CASES,
]  # fmt: skip


MISREAD = {"job": "zes-review", "instance": "r:9104", "camera": "site-1/cam-1"}


def _misreads(values: str) -> dict[str, Any]:
    """`zes_camera_misread_share` an hour apart; evaluated after 31 days."""
    fires = values == "0.04x720 0.15x24"
    case = _case([_series("zes_camera_misread_share", MISREAD, values)],
                 "ZesCameraMisreadsRising", "744h",
                 _fires({"camera": "site-1/cam-1"}, "warning") if fires else [])  # fmt: skip
    return {**case, "interval": "1h"}


#: Cases over a month of hourly samples, evaluated hourly (at the 1-minute interval of the
#: others promtool would evaluate every rule 44,640 times).
MONTH_CASES: list[dict[str, Any]] = [
    _misreads("0.04x720 0.15x24"),  # 4 % for a month, then 15 % for a day: fires
    _misreads("0.15x744"),  # 15 % all month: its own level, quiet
    _misreads("0.04x720 0.06x24"),  # up 2 points: noise, quiet
    _misreads("0.04x740 0.15x4"),  # up for 4 hours only (for: 6h): quiet
]


def _run_cases(promtool: str, tmp_path: Path, cases: list[dict[str, Any]], every: str) -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            del rule["annotations"]
    stripped = tmp_path / "alerts.yml"
    stripped.write_text(yaml.safe_dump(rules), encoding="utf-8")
    path = tmp_path / "alerts_test.yml"
    path.write_text(
        yaml.safe_dump({"rule_files": [str(stripped)], "evaluation_interval": every,
                        "tests": cases}),
        encoding="utf-8",
    )  # fmt: skip
    done = promtool_run(promtool, "test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_misread_alert_fires_above_its_own_month(promtool: str, tmp_path: Path) -> None:
    _run_cases(promtool, tmp_path, MONTH_CASES, "1h")


def test_every_alert_fires_on_its_situation_only(promtool: str, tmp_path: Path) -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {case["alert_rule_test"][0]["alertname"] for case in ALERT_CASES + MONTH_CASES}
    assert names == tested, "every alert rule needs a case here"
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"summary", "description", "runbook"} <= set(rule["annotations"])
            assert rule["labels"]["severity"] in {"warning", "critical"}
    # promtool compares annotations too; they are prose with templated values, checked above.
    for group in rules["groups"]:
        for rule in group["rules"]:
            del rule["annotations"]
    stripped = tmp_path / "alerts.yml"
    stripped.write_text(yaml.safe_dump(rules), encoding="utf-8")
    spec = {
        "rule_files": [str(stripped)],
        "evaluation_interval": "1m",
        "tests": ALERT_CASES,
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    done = promtool_run(promtool, "test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_runbook_anchors_exist_in_the_readme() -> None:
    readme = (PROMETHEUS.parent / "README.md").read_text(encoding="utf-8").lower()
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].split("#", 1)[1]
            assert f"### {anchor}" in readme, f"deploy/README.md has no section for {anchor}"
