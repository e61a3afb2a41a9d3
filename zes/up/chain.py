"""The chain `zes up` runs, in order, each part waited for before the next; and how it ends.

A signal (Ctrl-C, SIGTERM) stops everything at once: the simulated cameras, then SIGTERM to
every child (`Supervisor.stop`), SIGKILL to those still there `STOP_GRACE_S` later, then the
broker and Redis; it prints how long that took and whom it had to kill. A bounded run
(`--duration`) first lets the stream and the intake take in what was published, then prints
its summary.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from enforcement.casework.db import migrate
from enforcement.casework.settings import load_case_settings
from enforcement.settings import Settings, load_law
from zes.embedded import EmbeddedBroker
from zes.topics import topic_configs
from zes.up.cameras import SimulatedCameras
from zes.up.demo_env import remove_env, write_env
from zes.up.fixtures import (
    DEV,
    EnforcePlan,
    edge_missing,
    edge_video,
    load_register,
    redis_answers,
    start_redis,
    write_edge_site,
)
from zes.up.ports import pick_port, taken_line
from zes.up.summary import (
    ChainMetrics,
    cases_with_evidence,
    flow_entries_persisted,
    prometheus_config,
)
from zes.up.supervisor import (
    STOP_GRACE_S,
    Child,
    PortTakenError,
    Supervisor,
    UpError,
    end_processes,
    zes_argv,
)
from zes.up.users import DemoUser, create_demo_users

console = Console(stderr=True, highlight=False, soft_wrap=True)

TOPICS = ("passages", "violations", "passages-dead-letter", "evidence", "flows")
INFRASTRUCTURE_STOP_S = 0.5
"""Time the broker and Redis get after the children are gone (both exit in < 0.1 s here)."""
DRAIN_S = 30.0
DEMO_EVIDENCE_HOLD_HOURS = 5 / 60
"""A demo violation reaches the intake within seconds of its images, so the images of
compliant passages (~24 kB a passage: 8-30 MB a minute) need not wait the production 6 h."""
DEMO_PURGE_EVERY_S = 120.0
"""Retention runs every 2 minutes (production: hourly), so held images stay at most ~7
minutes: ~200 MB at 30 MB a minute instead of growing for an hour."""
REDIS_CLEANUP_S = 2.0


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
        self.database_url = f"sqlite:///{self.work / 'cases.db'}"
        self.supervisor = Supervisor(console.print)
        self.broker: EmbeddedBroker | None = None
        self.redis_server: Child | None = None
        self.cameras: SimulatedCameras | None = None
        self.plates: list[str] = []
        self.metrics: dict[str, int] = {}
        """role → metrics port of what runs."""
        self.notes: list[str] = []
        self.users: list[DemoUser] = []
        self.client_env: dict[str, str] = {}
        """The settings `zes up env` hands to this run's clients (zes enforce, decide, ...)."""
        self.redis_ready = False
        self.stopping = threading.Event()
        self._started = False
        self._interrupted = False
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

    def zone_id(self) -> str:
        _, catalog = load_law(self.settings)
        zone = catalog.get(self.config.zone)
        assert zone is not None  # checked by the command
        return zone.id

    def add_on_port(self, role: str, make: Callable[[int], Child], attempts: int = 3) -> Child:
        """Start the child `make(port)` builds on `role`'s port: the documented default when
        free, else a free one; again on a free one where another process took the port
        before the child could (another `zes up` on this machine)."""
        for attempt in range(1, attempts + 1):
            child = make(pick_port(role))
            try:
                started = self.supervisor.add(child)
            except PortTakenError as exc:
                if attempt == attempts:
                    raise
                console.print(f"[yellow]-[/] {exc}: again on a free port")
                continue
            self.say_if_taken(role, started.port)
            return started
        raise AssertionError("unreachable")

    def say_if_taken(self, role: str, port: int | None) -> None:
        line = taken_line(role, port) if port else None
        if line is not None:
            console.print(f"[yellow]-[/] {line}")

    # the parts ---------------------------------------------------------------------------
    def start_broker(self) -> str:
        self.broker = EmbeddedBroker(log_path=self.work / "logs" / "broker.log").start()
        return f"Tansu on {self.bootstrap} (in memory)"

    def start_redis(self) -> str:
        url = self.settings.redis_url
        if redis_answers(url):
            self.redis_ready = True
            return f"{url} (configured), register prefix {self.settings.register_prefix}"
        url, self.redis_server = start_redis(self.work, dict(os.environ))
        self.settings = self.settings.model_copy(update={"redis_url": url})
        self.redis_ready = True
        return f"{url} (redis-server started here; the configured one did not answer)"

    def create_topics(self) -> str:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            for name in TOPICS:
                with contextlib.suppress(TopicAlreadyExistsError):  # a second `zes up` run
                    # Tansu 0.6 (memory) accepts the configs but keeps every record for the
                    # run (tested: a record 75 s past retention.ms=1000 is still fetched);
                    # they are set for a broker that honours them (zes.topics).
                    admin.create_topics(
                        [
                            NewTopic(
                                name, self.config.partitions, 1, topic_configs=topic_configs(name)
                            )
                        ]
                    )
        finally:
            admin.close()
        return ", ".join(TOPICS)

    def load_register(self) -> str:
        self.reset_cases()
        c = self.config
        self.plates = load_register(self.settings, self.work, c.vehicles, c.seed)
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

    def start_stream(self) -> str:
        def worker(port: int) -> Child:
            env = self.env() | {"ZES_STREAM_METRICS_PORT": str(port)}
            log = self.work / "logs" / "stream-worker.log"
            return Child("stream worker", zes_argv("stream", "worker", *DEV), env, log, port)

        port = self.metrics["stream"] = self.add_on_port("stream", worker).port or 0
        return f"metrics http://127.0.0.1:{port}/metrics"

    def start_edge(self) -> str:
        video = edge_video(self.settings, self.work)
        site = self.work / "site.yaml"

        def agent(port: int) -> Child:
            write_edge_site(site, self.settings, video, self.bootstrap, self.zone_id(), port)
            argv = zes_argv("edge", "run", "--config", str(site), *DEV)
            return Child(
                "edge agent", argv, self.env(), self.work / "logs" / "edge-agent.log", port
            )

        port = self.metrics["edge"] = self.add_on_port("edge", agent).port or 0
        return f"site {site}, metrics http://127.0.0.1:{port}/metrics, health /healthz"

    def start_cameras(self) -> str:
        zone_id = self.zone_id()
        c = self.config
        self.cameras = SimulatedCameras(self.bootstrap, zone_id, self.plates, c.rate, c.seed)
        self.cameras.start()
        return (
            f"{c.rate:g} passages/s of register plates into zone {zone_id}, "
            "each with an overview and a plate crop"
        )

    def start_enforcement(self) -> str:
        plan = EnforcePlan(self.database_url, self.bootstrap, 0, 0, 0)
        logs = self.work / "logs"
        hold = {"ZES_CASES_EVIDENCE_HOLD_HOURS": f"{DEMO_EVIDENCE_HOLD_HOURS:.4f}"}

        def enforce_env() -> dict[str, str]:
            return self.env() | plan.settings_env() | hold

        def intake(port: int) -> Child:
            nonlocal plan
            plan = replace(plan, intake_metrics_port=port)
            return Child("case intake", plan.intake(), enforce_env(), logs / "intake.log", port)

        def review(port: int) -> Child:
            nonlocal plan
            plan = replace(plan, web_port=port, review_metrics_port=pick_port("review"))
            return Child("review app", plan.serve(), enforce_env(), logs / "review.log", port,
                         more_ports=(plan.review_metrics_port,))  # fmt: skip

        # The case database is created here, before any role opens it: the roles refuse a
        # database that does not exist (`zes enforce migrate` creates one).
        migrate(self.database_url)
        self.users = self.demo_users(plan)
        self.add_on_port("intake", intake)
        self.metrics["intake"] = plan.intake_metrics_port
        self.add_on_port("web", review)
        self.say_if_taken("review", plan.review_metrics_port)
        self.metrics["review"] = plan.review_metrics_port

        def flows_sink(port: int) -> Child:
            env = enforce_env() | {"ZES_FLOWS_METRICS_PORT": str(port)}
            return Child("flows sink", plan.flows_sink(), env, logs / "flows-sink.log", port)

        self.metrics["flows"] = self.add_on_port("flows", flows_sink).port or 0
        url = f"http://127.0.0.1:{plan.web_port}/"
        self.notes.append(f"review app  {url}")
        # Retention runs here as it does in production (a CronJob, a systemd timer), more
        # often and with a shorter hold (DEMO_PURGE_EVERY_S).
        purge = Child("retention purge", plan.purge(), enforce_env(), logs / "purge.log")
        self.supervisor.every(DEMO_PURGE_EVERY_S, purge)
        self.client_env = enforce_env() | {"ZES_CASES_EXPORT_DIR": str(self.work / "exports")}
        names = ", ".join(user.name for user in self.users)
        return f"intake, flows sink, and the review app on {url} (users {names})"

    def demo_users(self, plan: EnforcePlan) -> list[DemoUser]:
        """One account of every role (users.DEMO_ACCOUNTS), under this run's keys."""
        cases = load_case_settings(evidence_key=plan.evidence_key, audit_key=plan.audit_key)
        _, zones = load_law(self.settings)
        return create_demo_users(
            self.database_url, cases.audit_hmac_key(), cases.evidence_cipher_key(), zones
        )

    def write_prometheus(self) -> str:
        path = self.work / "prometheus.yml"
        path.write_text(prometheus_config(self.metrics), encoding="utf-8")
        return str(path)

    def write_client_env(self) -> str:
        return str(write_env(self.work, self.client_env, os.getpid()))

    # running -----------------------------------------------------------------------------
    def start(self) -> None:
        c = self.config
        console.print(
            "[yellow]![/] development secrets allowed (--dev): a demo on this machine only; "
            "every role refuses them anywhere else"
        )
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
        self.step("case intake and review app", self.start_enforcement)
        # Last: the intake is up before the first image comes, so it never starts on a
        # backlog of the 20-30 s its start and the review app's take (~1,000 images).
        if c.rate > 0:
            self.step("synthetic traffic", self.start_cameras)
        self.step("prometheus scrape config", self.write_prometheus)
        self.step("settings for zes up env", self.write_client_env)

    def where(self) -> None:
        console.print(f"\n[bold]zes up[/] — everything on 127.0.0.1, files under {self.work}")
        console.print(f"  broker      {self.bootstrap} (Kafka protocol)")
        console.print(f"  redis       {self.settings.redis_url}")
        for role, port in self.metrics.items():
            console.print(f"  {role:<11} http://127.0.0.1:{port}/metrics")
        for note in self.notes:
            console.print(f"  {note}")
        if self.users:
            console.print("  users (every municipality; fresh passwords each run):")
            for user in self.users:
                console.print(f"    {user.line()}")
        console.print(f"  logs        {self.work / 'logs'}")
        console.print(
            f"  prometheus  prometheus --config.file={self.work / 'prometheus.yml'} "
            "--web.listen-address=127.0.0.1:9090"
        )
        console.print(
            "  in another shell, to point zes enforce, decide, register and flows at this "
            f'demo:\n    eval "$({self.env_command()})"'
        )
        ending = f"for {self.config.duration_s:g} s" if self.config.duration_s else "until Ctrl-C"
        console.print(f"running {ending}\n")

    def env_command(self) -> str:
        """`zes up env`, with the work dir when it is not the one a new shell would use."""
        if self.work == Path("var/up").resolve():  # the default ZES_WORK_DIR
            return "zes up env"
        return f"ZES_WORK_DIR={shlex.quote(str(self.work.parent))} zes up env"

    def supervise(self) -> None:
        deadline = time.monotonic() + self.config.duration_s if self.config.duration_s else None
        while not self.stopping.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                return
            self.supervisor.tick()
            if self.cameras is not None and self.cameras.error:
                raise UpError(f"synthetic traffic stopped: {self.cameras.error}")
            if self.broker and self.broker.process and self.broker.process.poll() is not None:
                raise UpError("the broker exited; see logs/broker.log")

    def stop_cameras(self, timeout: float, *, until_signal: bool = False) -> None:
        """Stop the simulated cameras: the batch in flight gets `timeout` to be acknowledged
        and the producer to close while the broker still runs (else kafka-python's exit hook
        waits 1 s for it). A daemon thread: past `timeout` it never holds up the exit."""
        if self.cameras is None:
            return
        self.cameras.stopping.set()
        deadline = time.monotonic() + timeout
        while self.cameras.is_alive() and time.monotonic() < deadline:
            if until_signal and self.stopping.is_set():
                return
            self.cameras.join(0.1)

    def stop(self) -> None:
        """Everything within STOP_GRACE_S + INFRASTRUCTURE_STOP_S (< 5 s) of being called."""
        started = time.monotonic()
        remove_env(self.work)
        self.stop_cameras(1.0)
        with console.status("stopping ..."):
            killed = self.supervisor.stop(started + STOP_GRACE_S)
            infrastructure = []
            if self.broker is not None and self.broker.process is not None:
                infrastructure.append(("broker", self.broker.process))
            if self.redis_server is not None and self.redis_server.process is not None:
                infrastructure.append((self.redis_server.name, self.redis_server.process))
            deadline = time.monotonic() + INFRASTRUCTURE_STOP_S
            killed += end_processes(infrastructure, deadline)
            removed = self.remove_demo_keys()
        took = time.monotonic() - started
        if killed:
            console.print(
                f"stopped in {took:.1f} s; killed, no exit on SIGTERM: {', '.join(killed)}"
            )
        else:
            console.print(f"stopped in {took:.1f} s; every process exited on SIGTERM")
        if removed:
            console.print(removed)

    def remove_demo_keys(self) -> str:
        """The run's keys in a configured Redis (register, exemptions, case claims, day
        permits: all under its own prefix) go with it; a redis-server started here goes
        whole. After the children stopped, so none writes one again."""
        if not self.redis_ready or self.redis_server is not None:
            return ""
        prefix = self.settings.register_prefix
        removed = 0
        try:
            client = redis.Redis.from_url(
                self.settings.redis_url, socket_timeout=REDIS_CLEANUP_S,
                socket_connect_timeout=REDIS_CLEANUP_S,
            )  # fmt: skip
            try:
                # `P:...` and the hash-tagged `{P:veh}...` of the register's layout 2.
                for pattern in (f"{prefix}:*", f"{{{prefix}:*"):
                    keys = list(client.scan_iter(match=pattern, count=1000))
                    for i in range(0, len(keys), 1000):
                        removed += int(client.unlink(*keys[i : i + 1000]))
            finally:
                client.close()
        except redis.RedisError as exc:
            return f"demo keys {prefix}:* not removed from Redis: {exc}"
        return f"removed the demo's {removed:,} keys ({prefix}:*) from {self.settings.redis_url}"

    # the summary of a bounded run ----------------------------------------------------------
    def wait_for(self, what: str, done: Callable[[], bool], deadline: float) -> None:
        with console.status(what):
            while not self.stopping.is_set() and time.monotonic() < deadline and not done():
                time.sleep(0.5)

    def drain(self, chain: ChainMetrics, timeout: float = DRAIN_S) -> None:
        """Stop the simulated cameras and give the stream and the intake time to take in what
        was published, so the summary counts what flowed through, not what is still in a
        topic. A signal ends the wait."""
        self.stop_cameras(15.0, until_signal=True)
        published = (self.cameras.sent if self.cameras else 0) + chain.edge_published()
        evidence = self.cameras.evidence_sent if self.cameras else 0
        deadline = time.monotonic() + timeout
        self.wait_for(
            "letting the stream worker decide what was published ...",
            lambda: chain.seen() >= published, deadline,
        )  # fmt: skip
        self.wait_for(
            "letting the intake open the cases and store their evidence ...",
            lambda: (
                chain.cases_created() >= chain.cases_opened()
                and chain.evidence_received() >= evidence
            ),
            deadline,
        )
        self.wait_for(
            "letting the flows sink persist the flow counts ...",
            lambda: chain.flow_entries() >= chain.entries_decided(), deadline,
        )  # fmt: skip

    def summary(self) -> dict[str, Any] | None:
        chain = ChainMetrics(dict(self.metrics))
        self.drain(chain)
        if self.stopping.is_set():
            return None
        result = chain.summary(self.cameras.sent if self.cameras else 0)
        result["cases_with_evidence"] = cases_with_evidence(self.database_url)
        result["flow_entries_persisted"] = flow_entries_persisted(self.database_url)
        return result

    def run(self) -> dict[str, Any] | None:
        """Start, run until a signal (or for the duration), stop; the summary of a bounded
        run that no signal cut short, else None."""
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
            if self.config.duration_s is None or self.stopping.is_set():
                return None
            return self.summary()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping.set()
        if not self._started and not self._interrupted:
            # Leave the half-started chain at once (once: `finally` stops what runs).
            self._interrupted = True
            raise _InterruptedError()
