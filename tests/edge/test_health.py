"""/healthz tells the truth: 503 with reasons when a camera source dies, the publisher thread
is killed, the broker stops; hung reads reconnect; systemd hears READY and WATCHDOG."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.agent import Agent
from edge.capture import Capture
from edge.config import HealthConfig, SiteConfig, parse_site_config
from edge.health import CameraHealth, assess, notify, read_time_sync
from edge.metrics import EdgeMetrics
from edge.recognition import Box, Image, Read
from tests.edge.conftest import site_dict
from tests.edge.helpers import passage
from tests.edge.test_publisher import settle_kafka_threads
from zes.embedded import EmbeddedBroker


class BlankDetector:
    def detect(self, frame: Image) -> list[Box]:
        return []


class BlankReader:
    def read(self, crops: Sequence[Image]) -> list[Read]:
        return [Read("", ()) for _ in crops]


def healthz(agent: Agent) -> tuple[int, dict[str, Any]]:
    assert agent.server is not None
    url = f"http://127.0.0.1:{agent.server.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def wait_for(
    agent: Agent, check: Callable[[int, dict[str, Any]], bool], timeout: float
) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    status, body = healthz(agent)
    while not check(status, body) and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = healthz(agent)
    return status, body


def small_video(path: Path, frames: int = 20, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    rng = np.random.default_rng(1)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def config(
    tmp_path: Path, source: str, bootstrap: str = "127.0.0.1:9", **health: Any
) -> SiteConfig:
    data = site_dict(tmp_path, source, bootstrap)
    data["cameras"][0].update(read_mode="live", loop_file=True)
    data["health"] = {"supervise_interval_s": 0.2, **health}
    return parse_site_config(data)


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    made: list[Agent] = []
    yield made
    for agent in made:
        agent.stop()


def start(made: list[Agent], site: SiteConfig) -> Agent:
    agent = Agent(site, lambda _: BlankDetector(), BlankReader()).start()
    made.append(agent)
    return agent


# -- pure parts ------------------------------------------------------------------------------
def test_assess_gives_one_reason_per_problem() -> None:
    cfg = HealthConfig(camera_stale_s=10, broker_down_s=60, spool_high_water=0.5)
    fresh = CameraHealth("cam-1", False, last_frame=95.0, started=0.0, worker_alive=True)
    ok = assess(100.0, cfg, [fresh], publisher_alive=True, broker_unreachable_s=59,
                spool_bytes=50, spool_budget=100, held_passages=0)  # fmt: skip
    assert ok.ok and ok.reasons == ()
    stale = CameraHealth("cam-2", False, last_frame=80.0, started=0.0, worker_alive=False)
    done = CameraHealth("cam-3", True, last_frame=1.0, started=0.0, worker_alive=False)
    bad = assess(100.0, cfg, [fresh, stale, done], publisher_alive=False,
                 broker_unreachable_s=61, spool_bytes=51, spool_budget=100,
                 held_passages=2)  # fmt: skip
    assert not bad.ok
    text = " | ".join(bad.reasons)
    assert "cam-2: worker thread is dead" in text
    assert "cam-2: no frame for 20 s" in text
    assert "cam-3" not in text  # a finished file is not a dead camera
    assert "publisher thread is dead" in text
    assert "broker unreachable for 61 s" in text
    assert "high-water" in text and "2 passage(s) held" in text
    never = CameraHealth("cam-4", False, last_frame=None, started=85.0, worker_alive=True)
    assert "no first frame for 15 s" in assess(
        100.0, cfg, [never], publisher_alive=True, broker_unreachable_s=0, spool_bytes=0,
        spool_budget=100, held_passages=0,
    ).reasons[0]  # fmt: skip


def test_time_sync_from_timedatectl_then_chrony_else_unknown() -> None:
    def runner(answers: dict[str, str | None]) -> Callable[[Sequence[str]], str | None]:
        return lambda command: answers.get(command[0])

    assert read_time_sync(runner({"timedatectl": "yes\n"})) == "synchronized"
    assert read_time_sync(runner({"timedatectl": "no\n"})) == "unsynchronized"
    chrony = "Reference ID    : 7F7F0101 ()\nLeap status     : Not synchronised\n"
    assert read_time_sync(runner({"chronyc": chrony})) == "unsynchronized"
    assert read_time_sync(runner({"chronyc": "Leap status     : Normal\n"})) == "synchronized"
    assert read_time_sync(runner({})) == "unknown"
    assert read_time_sync() in {"synchronized", "unsynchronized", "unknown"}  # this machine


def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    return sock


def test_sd_notify_speaks_the_datagram_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = notify_socket(tmp_path, monkeypatch)
    assert notify("READY=1")
    assert sock.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify("READY=1")  # not under systemd: nothing, no error
    sock.close()


def test_agent_tells_systemd_ready_and_feeds_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agents: list[Agent]
) -> None:
    sock = notify_socket(tmp_path, monkeypatch)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4s: a ping every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    agent = start(agents, config(tmp_path, str(small_video(tmp_path / "v.avi"))))
    got = [sock.recv(500) for _ in range(3)]
    assert got[0] == b"READY=1"
    assert b"WATCHDOG=1" in got[1:]
    assert agent.metrics.clock_sync.labels(agent.time_sync)._value.get() == 1
    sock.close()


# -- the agent, real threads, real sockets -----------------------------------------------------
def test_healthz_503_when_the_camera_source_dies(tmp_path: Path, agents: list[Agent]) -> None:
    video = small_video(tmp_path / "camera.avi")
    agent = start(agents, config(tmp_path, str(video), camera_stale_s=1.0))
    status, body = wait_for(agent, lambda s, b: agent.captures["cam-1"].frames_read > 5, 10)
    assert status == 200 and body["status"] == "ok" and body["reasons"] == []
    video.unlink()  # the camera is gone: the loop's next reopen fails, no frames come
    status, body = wait_for(agent, lambda s, b: s == 503, 15)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert any(r.startswith("camera cam-1: no frame for") for r in body["reasons"])
    assert agent.metrics.healthy._value.get() == 0
    small_video(video)  # the camera is back
    status, body = wait_for(agent, lambda s, b: s == 200, 60)
    assert status == 200, body


class Killed(BaseException):
    """Escapes every `except Exception`: the publisher thread dies of it."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_healthz_503_while_the_publisher_thread_is_dead_and_it_is_restarted(
    tmp_path: Path, agents: list[Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = start(agents, config(tmp_path, str(small_video(tmp_path / "v.avi"))))
    assert wait_for(agent, lambda s, b: s == 200, 5)[0] == 200
    real_take = agent.spool.take
    fault = threading.Event()
    fault.set()

    def take(n: int, max_bytes: int) -> Any:
        if fault.is_set():
            raise Killed("killed")
        return real_take(n, max_bytes)

    monkeypatch.setattr(agent.spool, "take", take)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # expected deaths
    agent._spool(passage(), [])
    status, body = wait_for(agent, lambda s, b: s == 503, 10)
    assert status == 503
    assert "publisher thread is dead" in body["reasons"]
    deadline = time.monotonic() + 5
    while agent.metrics.publisher_restarts._value.get() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.metrics.publisher_restarts._value.get() >= 2  # the supervisor keeps trying
    assert wait_for(agent, lambda s, b: s == 503, 5)[0] == 503  # it dies again meanwhile
    fault.clear()
    status, body = wait_for(agent, lambda s, b: s == 200, 10)
    assert status == 200, body
    assert agent.publisher.alive
    assert agent.metrics.publisher_up._value.get() == 1


# kafka-python leaks the sockets of refused connection attempts while the broker is down
# (see test_publisher's outage test); they are collected inside this test.
@pytest.mark.broker
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_healthz_503_when_the_broker_stops(
    tmp_path: Path, agents: list[Agent], caplog: pytest.LogCaptureFixture
) -> None:
    from zes.embedded import EmbeddedServerError

    caplog.set_level(logging.CRITICAL, logger="kafka")

    try:
        server = EmbeddedBroker().start()
    except EmbeddedServerError as exc:
        from tests.conftest import missing

        missing(f"Tansu broker: {exc}")
        raise
    try:
        site = config(tmp_path, str(small_video(tmp_path / "v.avi")), server.bootstrap,
                      broker_down_s=1.0)  # fmt: skip
        agent = start(agents, site)
        status, body = wait_for(agent, lambda s, b: s == 200, 5)
        assert status == 200, body
        agent._spool(passage(), [])  # a send: the publisher holds a connected producer now
        deadline = time.monotonic() + 20
        while agent.spool.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.spool.depth() == 0 and agent.publisher.connected
        server.stop()  # nothing more to send: only the idle probe can notice
        status, body = wait_for(agent, lambda s, b: s == 503, 20)
        assert status == 503
        assert any(r.startswith("broker unreachable for") for r in body["reasons"])
        server = EmbeddedBroker(port=server.port).start()
        status, body = wait_for(agent, lambda s, b: s == 200, 20)
        assert status == 200, body
    finally:
        for made in agents:
            made.stop()
        agents.clear()
        server.stop()
        settle_kafka_threads()  # the outage's leaked sockets are collected in this test


class HangingSource:
    """A camera whose read blocks forever after a few frames, until released."""

    def __init__(self, frames: int, release: threading.Event) -> None:
        self.frames = frames
        self.release = release

    def read(self) -> tuple[bool, Image | None]:
        if self.frames <= 0:
            self.release.wait()
            return False, None
        self.frames -= 1
        time.sleep(0.02)
        return True, np.zeros((8, 8, 3), np.uint8)


class HangingCapture(Capture):
    def __init__(self, metrics: EdgeMetrics, release: threading.Event) -> None:
        super().__init__("cam-h", "rtsp://127.0.0.1:1/stream", "live", metrics=metrics)
        self.opened = 0
        self.hang = release

    def _open(self) -> Any:
        self.opened += 1
        return _Released(HangingSource(5, self.hang))


class _Released:
    """cv2.VideoCapture's interface around a HangingSource."""

    def __init__(self, source: HangingSource) -> None:
        self.source = source
        self._last: tuple[bool, Image | None] = (False, None)

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def grab(self) -> bool:
        """The read that hangs: a real camera's grab blocks in the demuxer."""
        self._last = self.source.read()
        return self._last[0]

    def retrieve(self) -> tuple[bool, Image | None]:
        return self._last

    def release(self) -> None:
        return None


def test_a_hung_read_marks_the_camera_down_and_reconnects() -> None:
    metrics = EdgeMetrics()
    release = threading.Event()
    capture = HangingCapture(metrics, release)
    capture.read_stall_s = 0.3
    capture.start()
    try:
        deadline = time.monotonic() + 5
        while capture.frames_read < 5 and time.monotonic() < deadline:
            capture.get(timeout=0.1)
        assert capture.frames_read == 5 and capture.up
        assert not capture.check_stall()  # not stalled yet
        time.sleep(0.4)  # the sixth read hangs
        assert metrics.camera_up.labels("cam-h")._value.get() == 1  # the read did not say
        assert capture.check_stall()
        assert metrics.camera_up.labels("cam-h")._value.get() == 0
        assert capture.errors["hang"] == 1
        while capture.frames_read < 10 and time.monotonic() < deadline:
            capture.get(timeout=0.1)
        assert capture.opened == 2 and capture.frames_read == 10  # a fresh grabber reads on
        assert capture.up
    finally:
        release.set()
        capture.stop()


def test_the_systemd_unit_waits_for_time_sync_and_is_watched() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    path = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "zes-edge.service"
    unit.read(path, encoding="utf-8")
    assert "time-sync.target" in unit["Unit"]["After"].split()
    assert "time-sync.target" in unit["Unit"]["Wants"].split()
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30s"
    assert service["Restart"] == "on-failure"  # a watchdog kill is a failure: restarted
    assert "AF_UNIX" in service["RestrictAddressFamilies"].split()  # the notify socket
