"""`create_app` with its defaults and `serve` as a real process: the app and its /metrics on
127.0.0.1, and the refusal to expose the development secrets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from enforcement.casework.settings import CaseSettings
from enforcement.settings import ConfigError, Settings
from enforcement.web import create_app, serve
from tests.conftest import REPO_ROOT
from tests.enforcement.web.conftest import SECRET, settings_for
from zes.embedded import free_port

pytestmark = pytest.mark.redis


def test_create_app_defaults_to_the_sqlite_file_and_the_redis_register(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = Settings(
        _env_file=None,
        work_dir=tmp_path,
        redis_url=redis_url,
        register_prefix=redis_prefix,
        hash_secret=SECRET.decode(),
    )
    app = create_app(settings, settings_for(tmp_path))
    assert (tmp_path / "cases.db").is_file()  # migrated at start-up
    ctx = app.state.zes
    check = ctx.rechecker.check("VNB12X", "utrecht", ctx.clock())
    assert check.unavailable is None  # it reached the real Redis (an empty register)
    ctx.engine.dispose()


def test_serve_refuses_a_public_address_with_the_development_secrets(tmp_path: Path) -> None:
    cases = CaseSettings(_env_file=None, host="0.0.0.0", review_metrics_port=0)
    with pytest.raises(ConfigError, match="review app refuses to start: ZES_CASES_SESSION"):
        serve(Settings(_env_file=None, work_dir=tmp_path), cases)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_serve_runs_the_app_and_its_metrics_on_loopback(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    port, metrics_port = free_port(), free_port()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from enforcement.casework.settings import CaseSettings
        from enforcement.settings import Settings
        from enforcement.web import serve
        serve(
            Settings(_env_file=None, work_dir=Path({str(tmp_path)!r}), redis_url={redis_url!r},
                     register_prefix={redis_prefix!r}),
            CaseSettings(_env_file=None, port={port}, review_metrics_port={metrics_port}),
            dev=True,
        )
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/login")
                break
            except OSError:
                time.sleep(0.1)
        if status != 200 and process.poll() is not None and process.stderr is not None:
            pytest.fail(f"serve exited: {process.stderr.read().decode()[-2000:]}")
        assert status == 200
        assert "Inloggen" in body
        status, metrics = _get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        assert 'zes_review_decisions_total{action="confirm"} 0.0' in metrics
        assert "zes_review_queue_cases" in metrics
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()
