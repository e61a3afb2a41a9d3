"""Capture: every frame of a file in order, newest-only live mode, and bad sources."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import Capture, Frame, describe
from edge.metrics import EdgeMetrics
from zes.embedded import free_port


def write_video(path: Path, frames: int = 30, fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (160, 90))
    for i in range(frames):
        image = np.full((90, 160, 3), 40, np.uint8)
        cv2.putText(image, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(image)
    writer.release()
    return path


def drain(capture: Capture, timeout: float = 10.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while not capture.finished and time.monotonic() < deadline:
        frame = capture.get(timeout=0.2)
        if frame is not None:
            frames.append(frame)
    return frames


def test_every_frame_mode_hands_over_every_frame_at_file_time(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", frames=30, fps=30.0)
    metrics = EdgeMetrics()
    capture = Capture("cam-1", str(video), "every_frame", metrics=metrics).start()
    try:
        frames = drain(capture)
    finally:
        capture.stop()
    assert [f.index for f in frames] == list(range(30))
    step = (frames[1].at - frames[0].at).total_seconds()
    assert step == pytest.approx(1 / 30, abs=1e-3)
    assert frames[0].at.tzinfo is not None
    assert capture.frames_dropped == 0
    assert metrics.frames_read.labels("cam-1")._value.get() == 30


def test_max_fps_hands_out_every_second_frame_of_a_25_fps_file(tmp_path: Path) -> None:
    """The frames above `max_fps` are decoded (counted as read) but never handed out, and
    the ones handed out keep their own index and file time."""
    video = write_video(tmp_path / "v.avi", frames=25, fps=25.0)
    metrics = EdgeMetrics()
    capture = Capture("cam-1", str(video), "every_frame", metrics=metrics, max_fps=12.5)
    capture.start()
    try:
        frames = drain(capture)
    finally:
        capture.stop()
    assert [f.index for f in frames] == list(range(0, 25, 2))
    assert [f.t for f in frames] == pytest.approx([i / 25 for i in range(0, 25, 2)])
    assert capture.frames_read == 25
    assert capture.frames_passed_over == 12
    assert metrics.frames_read.labels("cam-1")._value.get() == 25


def test_max_fps_above_the_source_rate_hands_out_every_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", frames=10, fps=10.0)
    capture = Capture("cam-1", str(video), "every_frame", max_fps=12.5).start()
    try:
        frames = drain(capture)
    finally:
        capture.stop()
    assert [f.index for f in frames] == list(range(10))
    assert capture.frames_passed_over == 0


def test_frame_time_is_the_file_position_and_survives_wall_clock_steps(tmp_path: Path) -> None:
    """`t` (what tracking measures gaps in) comes from the file, continued across loops;
    `at` is the wall time of the capture instant, whatever the wall clock does."""
    from datetime import UTC, datetime, timedelta

    video = write_video(tmp_path / "v.avi", frames=10, fps=10.0)
    calls = iter(range(1000))
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def stepping_clock() -> datetime:  # jumps back 30 s on every read of it after the first
        return start - timedelta(seconds=30 * next(calls))

    live = Capture("cam-1", str(video), "live", loop_file=True, wall_clock=stepping_clock)
    live.start()
    try:
        got: list[Frame] = []
        deadline = time.monotonic() + 10
        while len(got) < 15 and time.monotonic() < deadline:
            frame = live.get(timeout=0.5)
            if frame is not None:
                got.append(frame)
    finally:
        live.stop()
    times = [f.time_s for f in got]
    assert times == sorted(times)  # monotonic, across the loop, though the wall went back
    assert times[-1] - times[0] < 3.0
    assert got[-1].at < got[0].at  # `at` is the (stepped) wall time of the capture
    replay = Capture("cam-1", str(video), "every_frame", wall_clock=stepping_clock).start()
    try:
        frames = drain(replay)
    finally:
        replay.stop()
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert replay.started_at is not None
    assert [f.at for f in frames] == [
        replay.started_at + timedelta(seconds=i / 10) for i in range(10)
    ]


def test_live_mode_keeps_only_the_newest_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", frames=40, fps=100.0)
    metrics = EdgeMetrics()
    capture = Capture("cam-1", str(video), "live", metrics=metrics).start()
    try:
        got: list[Frame] = []
        deadline = time.monotonic() + 10
        while not capture.finished and time.monotonic() < deadline:
            frame = capture.get(timeout=0.2)
            if frame is not None:
                got.append(frame)
                time.sleep(0.05)  # a slow consumer
    finally:
        capture.stop()
    assert 0 < len(got) < 40
    assert capture.frames_dropped + len(got) == capture.frames_read == 40
    assert metrics.frames_dropped.labels("cam-1", "stale")._value.get() == capture.frames_dropped
    indexes = [f.index for f in got]
    assert indexes == sorted(indexes)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "url"])
def test_bad_sources_give_a_clear_error_and_keep_retrying(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    if kind == "missing":
        source = str(tmp_path / "absent.avi")
        expected = "does not exist"
    elif kind == "corrupt":
        bad = tmp_path / "corrupt.avi"
        bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" + bytes(range(256)) * 40)
        source = str(bad)
        expected = "corrupt"
    else:
        source = f"http://127.0.0.1:{free_port()}/stream.mjpg"
        expected = "unreachable URL"
    metrics = EdgeMetrics()
    capture = Capture(
        "cam-1", source, "live", metrics=metrics, timeout_s=1.0, backoff_s=(0.05, 0.1)
    ).start()
    try:
        deadline = time.monotonic() + 15
        while sum(capture.errors.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert capture.get(timeout=0.1) is None
    finally:
        capture.stop()
    assert sum(capture.errors.values()) >= 2  # it retried rather than giving up
    assert not capture.finished
    assert not capture.up
    assert metrics.camera_up.labels("cam-1")._value.get() == 0
    assert expected in caplog.text


def test_truncated_file_gives_its_frames_then_ends(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", frames=30)
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    capture = Capture("cam-1", str(cut), "every_frame", backoff_s=(0.05, 0.1)).start()
    try:
        frames = drain(capture, timeout=10)
    finally:
        capture.stop()
    assert 0 < len(frames) < 30
    assert capture.finished


def test_credentials_never_reach_the_log() -> None:
    assert describe("rtsp://admin:secret@10.0.0.5/s1") == "rtsp://***@10.0.0.5/s1"
    assert describe(0) == "device 0"


@pytest.mark.parametrize(
    ("source", "secrets", "kept"),
    [
        # A password holding `@` (issue 23): split on the first `@`, it leaked "ssw0rd".
        ("rtsp://admin:p@ssw0rd@host/stream", ["ssw0rd", "admin", "p@"], "rtsp://***@host/stream"),
        ("rtsp://admin:pa/ss@host:554/s1", ["pa/ss", "admin"], "rtsp://***@host:554/s1"),
        ("rtsp://u:p@[fe80::1]:554/s", ["u:p"], "rtsp://***@[fe80::1]:554/s"),
        (
            "http://cam.local/video.cgi?user=admin&password=hunter2&channel=1",
            ["hunter2"], "http://cam.local/video.cgi?user=admin&password=***&channel=1",
        ),
        ("rtsp://10.0.0.5/s?PWD=x1y2;token=abc9#k", ["x1y2", "abc9"], "PWD=***;token=***#k"),
        ("http://h/cgi?Key=zz9&pass=yy8", ["zz9", "yy8"], "http://h/cgi?Key=***&pass=***"),
        ("rtsp://host/user=admin&password=qq7&channel=1", ["qq7"], "password=***&channel=1"),
    ],
)  # fmt: skip
def test_credentials_are_masked_by_parsing_the_url(
    source: str, secrets: list[str], kept: str
) -> None:
    shown = describe(source)
    assert kept in shown
    for secret in secrets:
        assert secret not in shown


def test_a_reconnecting_camera_never_logs_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = f"http://admin:p@ssw0rd@127.0.0.1:{free_port()}/s.mjpg?token=tok3n"
    capture = Capture("cam-1", source, "live", timeout_s=1.0, backoff_s=(0.05, 0.1)).start()
    try:
        deadline = time.monotonic() + 15
        while sum(capture.errors.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        capture.stop()
    assert sum(capture.errors.values()) >= 2
    assert "127.0.0.1" in caplog.text
    assert "ssw0rd" not in caplog.text and "tok3n" not in caplog.text


def test_a_file_is_decoded_on_one_thread(tmp_path: Path) -> None:
    """One decoding thread per camera (FFmpeg's default is one per core: more CPU in all)."""
    video = write_video(tmp_path / "v.avi", frames=3)
    opened = Capture("cam-1", str(video))._open()
    try:
        assert opened.isOpened()
        assert opened.get(cv2.CAP_PROP_N_THREADS) == 1
    finally:
        opened.release()
