"""Every dashboard query against a real Prometheus that scrapes a real `zes up` run.

`zes up --duration` runs the chain (broker, Redis register, stream worker, edge agent when the
models are present, synthetic traffic) and writes a scrape config for what it started; the test
starts `prometheus` on a free 127.0.0.1 port with that config plus the alert rules, waits for
scrapes, substitutes the dashboard variables and sends every panel's PromQL to the HTTP API.
Every query must parse; a query whose series a running process always exports must return data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from zes import dashboards
from zes.embedded import free_port, wait_for_port

pytestmark = [pytest.mark.broker, pytest.mark.redis, pytest.mark.slow]

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
VARIABLES = {"$zone": ".*", "$camera": ".*", "$area": ".*", "$__rate_interval": "30s"}


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data = json.loads(response.read())
    assert isinstance(data, dict)
    return data


def query(base: str, expr: str) -> dict[str, Any]:
    try:
        return get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    except urllib.error.HTTPError as exc:  # 400 for a query that does not parse
        data = json.loads(exc.read())
        assert isinstance(data, dict)
        return data


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait(check: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out: {what}\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def zes_up(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[tuple[Path, Path]]:
    """A running `zes up`: (its scrape config, its log). Stopped with SIGTERM afterwards."""
    log = tmp_path / "zes-up.log"
    env = dict(os.environ, ZES_WORK_DIR=str(tmp_path / "var"), ZES_REDIS_URL=redis_url,
               ZES_REGISTER_PREFIX=redis_prefix)  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "zes", "up", "--duration", "240", "--vehicles", "5000"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    config = tmp_path / "var" / "up" / "prometheus.yml"
    try:
        wait(lambda: config.is_file() or process.poll() is not None, 120, "zes up started", log)
        assert process.poll() is None, log.read_text()
        yield config, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log.read_text()[-4000:]
    assert "stopped" in log.read_text()


def scrape_config(up_config: Path, path: Path) -> set[str]:
    """zes up's config (every process, the intake and review app included), scraping every
    second; returns the job names."""
    config = yaml.safe_load(up_config.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return jobs


@pytest.fixture
def prometheus(
    prometheus_bin: str, tmp_path: Path, zes_up: tuple[Path, Path]
) -> Iterator[tuple[str, set[str], Path]]:
    up_config, up_log = zes_up
    config = tmp_path / "prometheus.yml"
    jobs = scrape_config(up_config, config)
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, 20, process)
        base = f"http://127.0.0.1:{port}"
        # The port opens before the TSDB is up: queries answer 503 until /-/ready says so.
        wait(lambda: _ready(base), 60, "Prometheus ready", tmp_path / "prometheus.log")
        yield base, jobs, up_log
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def test_every_panel_query_runs_on_real_prometheus(prometheus: tuple[str, set[str], Path]) -> None:
    base, jobs, up_log = prometheus
    assert {"zes-stream", "zes-intake", "zes-review"} <= jobs

    def decided() -> bool:
        result = query(base, "sum(zes_stream_passages_total)")["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) > 0

    def scraped_enough() -> bool:
        """Every job scraped 8 times at least: each rate() window holds enough samples.
        (Prometheus starts its scrape loops only after service discovery settles, ~5 s.)"""
        result = query(base, "min by (job) (count_over_time(up[2m]))")["data"]["result"]
        counts = {r["metric"]["job"]: float(r["value"][1]) for r in result}
        return set(counts) == jobs and min(counts.values()) >= 8

    wait(decided, 120, "passages decided by the stream worker", up_log)
    wait(scraped_enough, 60, "eight scrapes of every job", up_log)

    targets = get_json(f"{base}/api/v1/targets")["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets if t["health"] == "up"} == jobs, targets

    failures = []
    checked = 0
    for uid, title, spec in dashboards.all_queries():
        expr = spec.expr
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        answer = query(base, expr)
        checked += 1
        if answer.get("status") != "success":
            failures.append(f"{uid} / {title}: {expr}: {answer.get('error')}")
        elif spec.always and f"zes-{spec.source}" in jobs and not answer["data"]["result"]:
            failures.append(f"{uid} / {title}: no data for {expr}")
    assert checked == len(dashboards.all_queries()) > 30
    assert not failures, "\n".join(failures)

    rules = get_json(f"{base}/api/v1/rules")["data"]["groups"]
    loaded = [r for group in rules for r in group["rules"]]
    in_file = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    assert len(loaded) == sum(len(group["rules"]) for group in in_file) > 10
    assert all(r["health"] in {"ok", "unknown"} for r in loaded), loaded
    firing = [r["name"] for r in loaded if r["state"] == "firing"]
    assert "ZesRegisterUnreachable" not in firing and "ZesStreamWorkerDown" not in firing
