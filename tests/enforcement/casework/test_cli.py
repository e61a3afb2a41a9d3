"""`zes enforce …` end to end on a SQLite case database: users, export, audit, purge."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from enforcement.casework import review
from enforcement.casework.db import make_engine, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake
from enforcement.casework.models import User
from enforcement.casework.review import QueueFilter
from enforcement.register.redis_store import RedisRegister
from tests.enforcement.casework.conftest import SEEN, violation
from tests.enforcement.casework.test_review import _van

pytestmark = pytest.mark.redis


def zes(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zes", "enforce", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_users_export_audit_and_purge(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    secret = "cli-test-secret-0123456789"
    env = {
        "ZES_WORK_DIR": str(tmp_path),
        "ZES_REDIS_URL": redis_url,
        "ZES_REGISTER_PREFIX": redis_prefix,
        "ZES_HASH_SECRET": secret,
    }
    RedisRegister(redis_client, redis_prefix, secret=secret.encode()).replace_vehicles(
        [_van("VNB12X")]
    )
    added = zes("user", "add", "anna", "--password-stdin", env=env, stdin="a long password 1\n")
    assert added.returncode == 0, added.stderr
    assert "user anna added (reviewer)" in added.stdout
    short = zes("user", "add", "bart", "--password-stdin", env=env, stdin="short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert zes("user", "add", "boss", "--role", "supervisor", "--password-stdin", env=env,
               stdin="another long password\n").returncode == 0  # fmt: skip

    # A case confirmed without four-eyes, straight into the database the CLI uses.
    engine = make_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    sessions = session_factory(engine)
    CaseIntake(sessions, EvidenceVault(b"k" * 32), grace=timedelta(0)).apply([violation("VNB12X")])
    with sessions.begin() as session:
        anna = session.query(User).filter_by(username="anna").one()
        case = review.next_case(session, anna, QueueFilter(), SEEN + timedelta(days=1), 15)
        assert case is not None
        review.confirm(session, case, anna, SEEN + timedelta(days=1), four_eyes=False)
    engine.dispose()

    first = zes("export", env=env)
    assert first.returncode == 0, first.stderr
    assert "fine batch 1: 1 cases" in first.stdout
    again = zes("export", env=env)
    assert "nothing new to export" in again.stdout
    assert (tmp_path / "exports" / "zes-fines-000001.csv").read_text().count("VNB12X") == 2

    verified = zes("audit", "verify", env=env)
    assert verified.returncode == 0 and "audit chain intact" in verified.stdout
    with sqlite3.connect(tmp_path / "cases.db") as db:
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    broken = zes("audit", "verify", env=env)
    assert broken.returncode == 1 and "BROKEN at entry 2" in broken.stdout

    purged = zes("purge", env=env)
    assert purged.returncode == 0 and purged.stdout.startswith("purged: 0 evidence items")
    assert "VNB12X" not in purged.stdout + purged.stderr
    disabled = zes("user", "disable", "anna", env=env)
    assert disabled.returncode == 0 and "user anna disabled" in disabled.stdout
