"""A newcomer's first hour, without the running demo (tests/zes/test_up.py runs it): every
role in the help, a setting's mistake as one line, no silent new case database, the demo's
accounts and the settings `zes up env` hands out, and ports a previous run just closed."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from enforcement.casework.accounts import TotpCipher, authenticate, check_second_factor
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.models import Role, User
from enforcement.zones import default_catalog
from tests.enforcement.casework.conftest import AUDIT_KEY, KEY
from zes.cli import main
from zes.embedded import free_port
from zes.up import chain
from zes.up.demo_env import CLIENT_SETTINGS, NoDemoError, remove_env, shell_lines, write_env
from zes.up.ports import port_is_free, taken_line
from zes.up.users import DEMO_ACCOUNTS, create_demo_users


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the help ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [("enforce", "user"), ("enforce", "user", "add")])
def test_every_role_is_in_the_help(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    for role in Role:
        assert role.value in text, (role, text)


# -- a setting's mistake -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "args", "names"),
    [
        ({}, ("up", "--duration", "-5"), "--duration: Input should be greater than 0"),
        ({}, ("up", "--vehicles", "5"), "--vehicles: Input should be greater than or equal"),
        ({"ZES_STREAM_PARTITIONS": "-1"}, ("stream", "worker", "--dev"), "ZES_STREAM_PARTITIONS"),
        ({"ZES_CASES_PORT": "99999"}, ("enforce", "export"), "ZES_CASES_PORT"),
        ({"ZES_REDIS_URL": "localhost:6379"}, ("register", "stats"), "ZES_REDIS_URL: must start"),
        ({"ZES_REGISTER_PREFIX": "a{b}"}, ("decide", "AB12CD", "--zone", "Utrecht"),
         "ZES_REGISTER_PREFIX"),
        ({"ZES_FLOWS_MIN_CELL": "many"}, ("flows", "sink"), "ZES_FLOWS_MIN_CELL"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_that_names_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    args: tuple[str, ...],
    names: str,
) -> None:
    """Before: `zes up --duration -5` said only pydantic's URL, and a worker's own settings
    (ZES_STREAM_...) or a Redis URL without a scheme were tracebacks."""
    monkeypatch.setenv("ZES_WORK_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if " WARNING " not in line]  # --dev's warning
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("zes: error: ") and names in lines[0], err
    assert "pydantic.dev" not in err and "Traceback" not in err


# -- the case database -------------------------------------------------------------------------
def test_commands_refuse_a_missing_case_database_and_name_the_one_they_open(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: `zes enforce export` without settings made a new var/cases.db and said
    "nothing new to export"."""
    monkeypatch.setenv("ZES_WORK_DIR", str(tmp_path))
    # A real audit key: without one the audit-writing commands refuse first (issue 23).
    monkeypatch.setenv("ZES_CASES_AUDIT_KEY", secrets.token_hex(32))
    database = tmp_path / "cases.db"
    for args in (("export",), ("purge",), ("audit", "anchor"), ("user", "disable", "anna")):
        code, out, err = run(capsys, "enforce", *args)
        assert code == 2 and out == "", err
        assert err.startswith(f"zes: error: no case database at sqlite:///{database}:"), err
        assert "zes enforce migrate" in err and len(err.splitlines()) == 1
        assert not database.exists()
    code, out, _ = run(capsys, "enforce", "migrate")
    assert code == 0 and database.is_file() and "is at the newest schema" in out
    code, out, err = run(capsys, "enforce", "export")
    assert code == 0 and "nothing new to export" in out
    assert err == f"case database sqlite:///{database}\n"  # said on stderr: stdout stays data


@pytest.mark.postgres
def test_an_empty_postgresql_database_is_missing_until_migrated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    monkeypatch.setenv("ZES_CASES_DATABASE_URL", postgres_url)
    code, _, err = run(capsys, "enforce", "audit", "anchor")
    assert code == 2 and "no case database at postgresql" in err
    assert "postgres:postgres@" not in err  # the password is not shown
    assert run(capsys, "enforce", "migrate")[0] == 0
    code, out, _ = run(capsys, "enforce", "audit", "anchor")
    assert code == 0 and out.startswith('{"count": 0')


# -- the demo's accounts and settings ----------------------------------------------------------
def test_demo_users_of_every_role_log_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    users = create_demo_users(url, AUDIT_KEY, KEY, default_catalog())
    assert [(u.name, u.role) for u in users] == [(n, r.value) for n, r in DEMO_ACCOUNTS]
    assert {u.role for u in users} == {r.value for r in Role}
    assert sum(u.role == Role.REVIEWER for u in users) == 2  # four eyes
    engine = make_engine(url)
    cipher = TotpCipher(KEY)
    with session_factory(engine, audit_key=AUDIT_KEY).begin() as session:
        for demo in users:
            user = authenticate(session, demo.name, demo.password)
            assert user is not None and user.role == demo.role and user.all_municipalities
            needs_code = demo.role in (Role.SUPERVISOR, Role.ADMIN)
            assert (demo.totp_secret is not None) == needs_code
            assert ("TOTP key" in demo.line()) == needs_code
            if demo.totp_secret is not None:  # the code an authenticator shows now works
                code = pyotp.TOTP(demo.totp_secret).now()
                assert check_second_factor(user, code, cipher, datetime.now(UTC))
        assert len(session.scalars(select(User)).all()) == len(DEMO_ACCOUNTS)
    engine.dispose()


def test_zes_up_env_hands_out_client_settings_while_the_demo_runs(tmp_path: Path) -> None:
    env = {name: f"value of {name} with 'quotes' and $dollar" for name in CLIENT_SETTINGS}
    env |= {"ZES_CASES_SESSION_SECRET": "not for clients", "ZES_CASES_PORT": "8080"}
    path = write_env(tmp_path, env, os.getpid())
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the run's keys
    lines = shell_lines(tmp_path)
    assert "SESSION_SECRET" not in lines and "ZES_CASES_PORT" not in lines
    script = f"{lines}\nenv"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    exported = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for name, value in env.items():
        if name in CLIENT_SETTINGS:
            assert exported[name] == value
    # A demo that stopped without removing its file (SIGKILL) is no longer offered.
    write_env(tmp_path, env, dead_pid())
    with pytest.raises(NoDemoError, match="no longer runs"):
        shell_lines(tmp_path)
    remove_env(tmp_path)
    with pytest.raises(NoDemoError, match="no zes up runs"):
        shell_lines(tmp_path)


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_demo_evidence_hold_and_purge_are_minutes() -> None:
    """Before: held images waited for the hourly purge (8-30 MB a minute of them)."""
    assert chain.DEMO_EVIDENCE_HOLD_HOURS * 60 <= 10
    assert chain.DEMO_PURGE_EVERY_S <= 300


# -- ports -------------------------------------------------------------------------------------
def test_a_port_a_previous_run_just_closed_is_free_again() -> None:
    """A closed server's connections linger in TIME_WAIT on its port for a minute; before,
    the probe (a bind without SO_REUSEADDR) called the port taken, and a second `zes up`
    within a minute got random ports instead of the documented ones."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first: TIME_WAIT on the server's port
    client.close()
    server.close()
    with socket.socket() as probe, pytest.raises(OSError, match="Address already in use"):
        probe.bind(("127.0.0.1", port))  # what the old probe did: "taken"
    assert port_is_free(port)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])


def test_a_taken_port_is_said_in_one_line() -> None:
    assert taken_line("stream", 9102) is None
    line = taken_line("stream", other := free_port())
    assert line is not None and "port 9102 (stream worker metrics) is taken" in line
    assert f"using {other}" in line and shlex.split(line.split("`")[1])[0] == "ss"
