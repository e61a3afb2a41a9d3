"""What `/healthz` says, the clock's sync state, and systemd's notify protocol.

`assess` is pure: the agent hands it what it observed (monotonic times, thread states, spool
fill) and gets the status with one reason per problem, so a supervisor or an operator reading
`curl /healthz` sees *why*, not only that. Unhealthy (503) when a camera that should deliver
gave no frame for `camera_stale_s`, a worker or the publisher thread is dead, the spool holds
more than its high-water share of the budget (or passages wait in memory for disk space), or
the broker has been unreachable for more than `broker_down_s`.

systemd: `notify` speaks the sd_notify datagram protocol on `$NOTIFY_SOCKET` (READY=1,
WATCHDOG=1, STATUS=..., STOPPING=1) with the standard library, no new dependency. Without
the variable (not under systemd, tests) it does nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.config import HealthConfig
from enforcement.records import TimeSync

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraHealth:
    camera_id: str
    finished: bool
    """The source ended for good (a file without loop): no frames are expected."""
    last_frame: float | None
    """Monotonic time of its newest frame (None: none yet)."""
    started: float | None
    """Monotonic time capture started (the grace before a first frame is due)."""
    worker_alive: bool


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reasons: tuple[str, ...]


def assess(
    now: float,
    config: HealthConfig,
    cameras: Sequence[CameraHealth],
    *,
    publisher_alive: bool,
    broker_unreachable_s: float,
    spool_bytes: int,
    spool_budget: int,
    held_passages: int,
) -> Health:
    """The agent's health from what it observed (see module doc); no I/O."""
    reasons: list[str] = []
    for camera in cameras:
        if camera.finished:
            continue
        if not camera.worker_alive:
            reasons.append(f"camera {camera.camera_id}: worker thread is dead")
        since = camera.last_frame if camera.last_frame is not None else camera.started
        if since is not None and now - since > config.camera_stale_s:
            what = "no frame" if camera.last_frame is not None else "no first frame"
            reasons.append(
                f"camera {camera.camera_id}: {what} for {now - since:.0f} s "
                f"(limit {config.camera_stale_s:.0f} s)"
            )
    if not publisher_alive:
        reasons.append("publisher thread is dead")
    if broker_unreachable_s > config.broker_down_s:
        reasons.append(
            f"broker unreachable for {broker_unreachable_s:.0f} s "
            f"(limit {config.broker_down_s:.0f} s)"
        )
    if spool_bytes > config.spool_high_water * spool_budget:
        reasons.append(
            f"spool above its high-water mark: {spool_bytes} of {spool_budget} bytes "
            f"(mark {config.spool_high_water:.0%})"
        )
    if held_passages:
        reasons.append(f"{held_passages} passage(s) held in memory: no room in the spool")
    return Health(not reasons, tuple(reasons))


# -- clock sync ------------------------------------------------------------------------------
Runner = Callable[[Sequence[str]], str | None]


def _run(command: Sequence[str]) -> str | None:
    """stdout of a command, or None when it is absent, fails or takes over 2 s."""
    if shutil.which(command[0]) is None:
        return None
    # Not our notify socket: systemd's tools report their own exit status on it (ERRNO=).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=2.0, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def read_time_sync(run: Runner = _run) -> TimeSync:
    """The clock's sync state from timedatectl (systemd-timesyncd or any NTP client systemd
    knows), else chrony, else `unknown`. A box without an RTC battery boots in 1970 or at
    its last shutdown time until this says `synchronized`."""
    out = run(("timedatectl", "show", "--property=NTPSynchronized", "--value"))
    if out is not None and out.strip() in {"yes", "no"}:
        return "synchronized" if out.strip() == "yes" else "unsynchronized"
    out = run(("chronyc", "-n", "tracking"))
    if out is not None:
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "leap status":
                value = value.strip().lower()
                if value == "not synchronised":
                    return "unsynchronized"
                return (
                    "synchronized"
                    if value in {"normal", "insert second", "delete second"}
                    else "unknown"
                )
    return "unknown"


# -- systemd ---------------------------------------------------------------------------------
def notify(message: str) -> bool:
    """Send one sd_notify datagram; False when not under systemd (or it failed)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", address.lstrip("\0"), exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec for this process (None: no watchdog asked for)."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
