"""Process supervision for `zes up`: start children and wait until each is ready, restart one
that exits on its own (a few times, with back-off), run periodic jobs, and stop them all within
a fixed time.

Children run in their own session (and process group): a terminal's Ctrl-C reaches only the
supervisor, which then stops them: SIGTERM to every process group at once, SIGKILL to those
still there at the deadline, and it names those it had to kill.

A hook, one line to use: `Supervisor.every(interval_s, child)`, a one-shot command run every
interval (never two at once), stopped with the rest (the retention purge).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zes.embedded import EmbeddedServerError, wait_for_port

RESTARTS = 3
"""How often a child that exits on its own is started again before `zes up` gives up."""
STOP_GRACE_S = 3.0
"""How long children get after the signal before SIGKILL: with the broker and Redis after them
and the interpreter's exit, `zes up` is gone within 5 s. Measured: every child out on SIGTERM,
all stopped in 2.7-2.9 s; at load 8-14 on 2 cores the stream worker was still shutting down
and was killed (all stopped in 3.6 s at a grace of 3.5 s, gone 5.6 s after the signal)."""


class UpError(RuntimeError):
    """`zes up` cannot go on; the message says what to do."""


class PortTakenError(UpError):
    """Another process listens on a child's port (another `zes up` on this machine took the
    documented default between the check and the child's start)."""


def zes_argv(*args: str) -> list[str]:
    """The `zes` CLI of this very interpreter (a venv's zes, even when not on PATH)."""
    return [sys.executable, "-m", "zes", *args]


Say = Callable[[str], None]
"""Where the supervisor reports (the console of `zes up`)."""


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
    more_ports: tuple[int, ...] = ()
    """Other ports it listens on once ready."""
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_restart: float = 0.0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self) -> None:
        """Until each of its ports answers, and it is this child that answers there."""
        for port in () if self.port is None else (self.port, *self.more_ports):
            try:
                wait_for_port(port, self.ready_timeout, self.process)
            except EmbeddedServerError as exc:
                raise UpError(f"{self.name} did not start: {exc}\n{self.tail()}") from None
            if not self.listens_on(port):
                raise PortTakenError(f"127.0.0.1:{port} of the {self.name} is another process's")

    def listens_on(self, port: int) -> bool:
        """Does a process of its group listen on `port`? (True where /proc cannot tell.)"""
        listening = _listening_sockets(port)
        if listening is None or self.process is None:
            return True
        return bool(listening & _group_sockets(self.process.pid))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait until it exited (True, also when never started) or `timeout` passed."""
        return self.process is None or _exited(self.process, timeout)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


@dataclass
class PeriodicJob:
    """A one-shot command run every `interval_s`; a run still going when the next is due is
    left to finish (no second one beside it)."""

    child: Child
    interval_s: float
    due: float
    runs: int = 0
    reported: bool = True


@dataclass
class Supervisor:
    say: Say
    children: list[Child] = field(default_factory=list)
    jobs: list[PeriodicJob] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        """Start `child`, keep it, and wait until it is ready. On `PortTakenError` it is stopped
        and forgotten (started again on another port, it is another child)."""
        child.start()
        self.children.append(child)
        try:
            child.wait_ready()
        except PortTakenError:
            self.children.remove(child)
            if child.process is not None:
                end_processes([(child.name, child.process)], time.monotonic() + 1.0)
            raise
        return child

    def every(self, interval_s: float, child: Child) -> PeriodicJob:
        """Run `child` (a command that exits) every `interval_s`, the first time one interval
        from now."""
        job = PeriodicJob(child, interval_s, time.monotonic() + interval_s)
        self.jobs.append(job)
        return job

    def tick(self, now: float | None = None) -> None:
        """Once a second: restart what exited, start the jobs that are due."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            self._keep_alive(child, now)
        for job in self.jobs:
            self._run_job(job, now)

    def _keep_alive(self, child: Child, now: float) -> None:
        if child.running:
            return
        if child.restarts >= RESTARTS:
            raise UpError(f"{child.name} keeps exiting; last lines:\n{child.tail()}")
        if child.next_restart == 0.0:
            code = child.process.returncode if child.process else None
            self.say(f"[red]![/] {child.name} exited ({code}); restarting\n{child.tail(5)}")
            child.next_restart = now + 2.0**child.restarts
            return
        if now >= child.next_restart:
            child.restarts += 1
            child.next_restart = 0.0
            child.start()

    def _run_job(self, job: PeriodicJob, now: float) -> None:
        child = job.child
        if not job.reported and not child.running:
            job.reported = True
            code = child.process.returncode if child.process else None
            if code:
                self.say(f"[red]![/] {child.name} failed ({code}):\n{child.tail(5)}")
        if now < job.due or child.running:
            return
        job.due = now + job.interval_s
        job.runs += 1
        job.reported = False
        child.start()

    def stop(self, deadline: float) -> list[str]:
        """Stop every child and running job (`end_processes`); the names of those killed."""
        running = [(c.name, c.process) for c in reversed(self.children) if c.process]
        running += [(j.child.name, j.child.process) for j in self.jobs if j.child.process]
        return end_processes(running, deadline)


def _listening_sockets(port: int) -> set[str] | None:
    """Inodes of the TCP sockets listening on `port`; None where there is no /proc."""
    found: set[str] = set()
    tables = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        tables += 1
        for row in rows:
            fields = row.split()  # sl, local address:port (hex), remote, state, ..., inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if tables else None


def _group_sockets(pgid: int) -> set[str]:
    """Inodes of the sockets that the processes of group `pgid` hold open."""
    inodes: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return inodes


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal its process group when it leads one (what it started goes too), else itself."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):  # exited meanwhile
        pass


def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(max(0.0, timeout))
    except subprocess.TimeoutExpired:
        return False
    return True


def end_processes(
    named: Sequence[tuple[str, subprocess.Popen[bytes]]], deadline: float
) -> list[str]:
    """SIGTERM to every process at once (in the order given), SIGKILL to those still running
    at `deadline` (a time.monotonic()); returns the names of those that had to be killed."""
    running = [(name, p) for name, p in named if p.poll() is None]
    for _, process in running:
        _signal(process, signal.SIGTERM)
    killed = [(n, p) for n, p in running if not _exited(p, deadline - time.monotonic())]
    for _, process in killed:
        _signal(process, signal.SIGKILL)
    for _, process in killed:
        _exited(process, 0.5)  # SIGKILL cannot be refused: this only reaps it
    return [name for name, _ in killed]
