"""Usage errors of every `zes` sub-command: one line `zes: error: ...` on stderr, exit 2.

In-process (`zes.cli.main`), so walking the whole command tree takes well under a second. The
walk reads the tree typer builds, so a sub-command another role adds later is covered without
touching this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from zes.cli import app, main

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every group and command of the click tree, as argument paths (`("rules", "check")`)."""
    yield path
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from command_paths(sub, (*path, name))


ALL_PATHS = list(command_paths(get_command(app)))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(code: int, err: str, *, contains: str = "") -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("zes: error: "), err
    assert contains in lines[0], err


def test_the_walk_finds_every_role() -> None:
    names = {" ".join(p) for p in ALL_PATHS}
    for expected in ("", "rules check", "rules zones", "decide", "register load", "demo",
                     "stream worker", "enforce", "dashboards generate", "up"):  # fmt: skip
        assert expected in names, sorted(names)
    assert len(ALL_PATHS) >= 15


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: " ".join(p) or "zes")
def test_every_subcommand_answers_an_unknown_option_in_one_line(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    """Before, typer 0.29's own `typer._click` exceptions escaped `main` as tracebacks."""
    code, _, err = run(capsys, *path, "--no-such-option")
    assert_usage_error(code, err, contains="No such option: --no-such-option")
    assert f"'{' '.join(('zes', *path))} --help'" in err


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (("decide", "AB12CD"), "Missing option '--zone'"),
        (("rules", "check"), "Missing argument 'cases'"),
        (("decide", "---", "--zone", "Utrecht"), "No such option: ---"),
        (("register", "synth", "--count", "many"), "Invalid value for '--count'"),
        (("register", "synth", "--count", "0"), "Invalid value for '--count'"),
        (("register", "synth", "--format", "xml"), "--format must be csv or json"),
        (("stream", "worker", "--loglevel", "loud"), "'loud' is not one of debug"),
        (("rules",), "missing command"),
        ((), "missing command"),
    ],
)
def test_missing_and_bad_arguments_are_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], contains: str
) -> None:
    code, _, err = run(capsys, *args)
    assert_usage_error(code, err, contains=contains)


def test_a_group_without_command_still_shows_its_help_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "rules")
    assert code == 2 and "check" in out and "zones" in out


@pytest.mark.parametrize(
    "args",
    [
        ("rules", "check", "{dir}"),
        ("register", "load-exemptions", "{dir}"),
        ("register", "load", "--vehicles", "{dir}"),
        ("edge", "check-config", "{dir}"),
        ("edge", "run", "--config", "{dir}"),
    ],
)
def test_a_directory_given_as_a_file(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    """Before, a directory was reported as "does not exist"."""
    monkeypatch.setenv("ZES_REDIS_URL", UNREACHABLE_REDIS)
    code, _, err = run(capsys, *(a.format(dir=tmp_path) for a in args))
    assert_usage_error(code, err, contains="is a directory, not a file")


@pytest.mark.parametrize(
    ("at", "contains"),
    [
        ("0001-01-01T00:00:00+01:00", "outside the calendar"),
        ("9999-12-31T23:59:59-05:00", "outside the calendar"),
        ("2026-03-29T02:30", "does not exist in the Netherlands: the clocks jump from 02:00"),
        ("2026-10-25T02:30", "occurs twice in the Netherlands"),
        ("2026-10-25T02:30", "add the offset, +02:00 or +01:00"),
        ("yesterday", "is not an ISO date"),
    ],
)
def test_passage_times_that_cannot_be_decided(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, at: str, contains: str
) -> None:
    """Before, the extreme dates raised OverflowError tracebacks from the law, and the
    missing and doubled local times were taken silently."""
    monkeypatch.setenv("ZES_REDIS_URL", UNREACHABLE_REDIS)
    code, _, err = run(capsys, "decide", "AB12CD", "--zone", "Utrecht", "--at", at)
    assert_usage_error(code, err, contains=contains)


@pytest.mark.parametrize("at", ["2026-10-25T02:30+02:00", "2026-10-25T02:30+01:00"])
def test_a_doubled_local_time_with_an_offset_is_taken(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """The time passes; the command then gets as far as the (unreachable) register."""
    monkeypatch.setenv("ZES_REDIS_URL", UNREACHABLE_REDIS)
    code, _, err = run(capsys, "decide", "AB12CD", "--zone", "Utrecht", "--at", at)
    assert_usage_error(code, err, contains="unavailable")


# --- a shared .env ----------------------------------------------------------------------------
def zes_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in list(env):
        if name.startswith("ZES_"):
            del env[name]  # only the .env speaks
    return subprocess.run(
        [sys.executable, "-m", "zes", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_a_shared_env_file_with_other_roles_keys_works(tmp_path: Path) -> None:
    """Before: "zes_stream_broker: Extra inputs are not permitted" from every command."""
    (tmp_path / ".env").write_text(
        "ZES_STREAM_BROKER=kafka://127.0.0.1:9092\n"
        "ZES_CASES_DATABASE_URL=sqlite:///cases.db\n"
        "ZES_REGISTER_PREFIX=shared-env-test\n",
        encoding="utf-8",
    )
    done = zes_in(tmp_path, "rules", "zones")
    assert done.returncode == 0, done.stderr
    assert "utrecht" in done.stdout

    from enforcement.casework.settings import CaseSettings
    from enforcement.settings import Settings

    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert Settings().register_prefix == "shared-env-test"
        assert CaseSettings().database_url == "sqlite:///cases.db"
    finally:
        os.chdir(old)


def test_a_typo_in_a_site_yaml_still_fails(tmp_path: Path) -> None:
    """Files people write by hand keep extra="forbid"."""
    site = tmp_path / "site.yaml"
    shutil.copy(REPO / "edge" / "site.example.yaml", site)
    good = zes_in(tmp_path, "edge", "check-config", str(site))
    assert good.returncode == 0, good.stderr
    site.write_text(
        site.read_text(encoding="utf-8").replace("site_id:", "site_idd: x\nsite_id:", 1),
        encoding="utf-8",
    )
    bad = zes_in(tmp_path, "edge", "check-config", str(site))
    assert bad.returncode == 2
    assert "site_idd" in bad.stderr and "Traceback" not in bad.stderr
