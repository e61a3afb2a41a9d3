"""The supervisor of `zes up` on real processes: the bounded stop (SIGTERM to every process
group, SIGKILL at the deadline, the killed ones named), restarts with back-off, periodic jobs,
the command-line flag hook, and readiness that is the child's own (a port another process
answers on is taken: the chain starts the child again on a free one)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from enforcement.settings import load_settings
from tests.zes.test_up import alive
from zes.embedded import free_port
from zes.up import chain
from zes.up.chain import Up, UpConfig
from zes.up.fixtures import EnforcePlan
from zes.up.supervisor import RESTARTS, Child, PortTakenError, Supervisor, UpError


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def sup(said: list[str]) -> Iterator[Supervisor]:
    """A supervisor whose children are stopped after the test, whatever it did."""
    supervising = Supervisor(said.append)
    yield supervising
    supervising.stop(time.monotonic())


def python_child(tmp_path: Path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], dict(os.environ), tmp_path / f"{name}.log")


def wait_for_text(path: Path, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = path.read_text() if path.exists() else ""
        if text in found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{path.name} never said {text!r}")


STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""
POLITE_WITH_GRANDCHILD = """
import subprocess, time
grandchild = subprocess.Popen(["sleep", "60"])
print("grandchild", grandchild.pid, flush=True)
time.sleep(60)
"""


def test_stop_kills_at_the_deadline_only_what_ignores_sigterm_and_names_it(
    tmp_path: Path, sup: Supervisor
) -> None:
    stubborn = sup.add(python_child(tmp_path, "stubborn", STUBBORN))
    polite = sup.add(python_child(tmp_path, "polite", POLITE_WITH_GRANDCHILD))
    wait_for_text(stubborn.log, "ready")
    grandchild = int(wait_for_text(polite.log, "grandchild").split()[1])

    started = time.monotonic()
    killed = sup.stop(started + 1.0)
    took = time.monotonic() - started

    assert killed == ["stubborn"]
    assert not stubborn.running and not polite.running
    assert 1.0 <= took < 3.0  # waited for the deadline, not for the stubborn one's sleep
    # SIGTERM went to the process group: what the child started went with it.
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild)


def test_stop_kills_nothing_that_exited(tmp_path: Path, sup: Supervisor) -> None:
    quick = sup.add(python_child(tmp_path, "quick", "pass"))
    assert quick.wait(20)
    assert sup.stop(time.monotonic() + 1.0) == []


def test_a_child_that_keeps_exiting_is_restarted_with_back_off_then_given_up(
    tmp_path: Path, sup: Supervisor, said: list[str]
) -> None:
    child = sup.add(python_child(tmp_path, "flaky", "raise SystemExit(3)"))
    now = 1000.0
    for restart in range(RESTARTS):
        assert child.wait(20)
        sup.tick(now)  # noticed: reported, restart scheduled after 2**restart s
        assert "flaky exited (3)" in said[-1]
        sup.tick(now + 2.0**restart - 0.01)
        assert child.restarts == restart
        sup.tick(now + 2.0**restart)
        assert child.restarts == restart + 1
        now += 2.0**restart
    assert child.wait(20)
    with pytest.raises(UpError, match="flaky keeps exiting"):
        sup.tick(now)


def test_a_periodic_job_runs_every_interval_and_never_twice_at_once(
    tmp_path: Path, sup: Supervisor, said: list[str]
) -> None:
    job = sup.every(60.0, python_child(tmp_path, "job", "import time; time.sleep(0.5)"))
    sup.tick(job.due - 1)
    assert job.runs == 0 and job.child.process is None
    first = job.due
    sup.tick(first)
    assert job.runs == 1 and job.child.running
    sup.tick(first + 60)  # due again while the first run still goes: left alone
    assert job.runs == 1
    assert job.child.wait(20)
    sup.tick(first + 61)
    assert job.runs == 2 and job.due == first + 121
    assert job.child.wait(20)
    assert sup.stop(time.monotonic() + 1) == [] and not said


def test_a_failed_periodic_job_is_reported(
    tmp_path: Path, sup: Supervisor, said: list[str]
) -> None:
    job = sup.every(60.0, python_child(tmp_path, "purge", "raise SystemExit(4)"))
    sup.tick(job.due)
    assert job.child.wait(20)
    sup.tick(job.due - 1)
    assert len(said) == 1 and "purge failed (4)" in said[0]


def test_the_roles_allow_development_secrets_and_the_other_commands_take_no_flag() -> None:
    plan = EnforcePlan("sqlite:///x.db", "127.0.0.1:9092", 8000, 9103, 9104)
    assert plan.intake()[-1] == plan.serve()[-1] == "--dev"
    assert "--dev" not in plan.user_add() + plan.purge() + plan.flows_sink()
    assert "--all-municipalities" in plan.user_add()  # the demo reviewer sees every zone


LISTENER = """
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
time.sleep(60)
"""


def test_ready_means_the_child_itself_listens(tmp_path: Path, sup: Supervisor) -> None:
    port = free_port()
    child = python_child(tmp_path, "listener", LISTENER)
    child.argv.append(str(port))
    child.port = port
    sup.add(child)
    assert child.running and child.listens_on(port)


def test_a_port_that_another_process_answers_on_is_taken(tmp_path: Path, sup: Supervisor) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        slow = python_child(tmp_path, "slow starter", "import time; time.sleep(60)")
        slow.port = port
        with pytest.raises(PortTakenError, match=f"127.0.0.1:{port} of the slow starter"):
            sup.add(slow)
    assert not slow.running and slow not in sup.children


def test_the_chain_starts_a_child_again_on_a_free_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = Up(UpConfig(), load_settings())
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        taken = foreign.getsockname()[1]
        ports = iter([taken, free_port()])
        monkeypatch.setattr(chain, "pick_port", lambda role: next(ports))

        def listener(port: int) -> Child:
            child = python_child(tmp_path, "listener", LISTENER)
            child.argv.append(str(port))
            child.port = port
            return child

        try:
            started = up.add_on_port("stream", listener)
            assert started.port != taken and started.running
            assert up.supervisor.children == [started]
        finally:
            up.supervisor.stop(time.monotonic() + 1)
