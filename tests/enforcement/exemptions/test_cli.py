"""`zes exemptions …` end to end: the policy check, the export that `zes register
load-exemptions --add` reads back, and the purge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml

from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.exemptions import desk as service
from enforcement.exemptions.desk import desk_from
from enforcement.exemptions.settings import DeskSettings
from enforcement.register.redis_store import RedisRegister
from enforcement.settings import Settings, load_law
from tests.enforcement.casework.conftest import AUDIT_KEY
from tests.enforcement.exemptions.conftest import EURO5, NOW, TODAY, policy_dir

pytestmark = pytest.mark.redis

SECRET = "cli-desk-secret-0123456789"


def zes(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zes", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_check_policy_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    folder = policy_dir(tmp_path)
    (folder / "municipalities" / "haarlem.yaml").write_text(
        yaml.safe_dump(
            {"municipality": "Haarlem", "restrictons": {},
             "restrictions": {"dagontheffing": {"max_per_year": 13}}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    result = zes("exemptions", "check-policy", str(folder), env={})
    assert result.returncode == 2, result.stdout
    assert "haarlem.yaml: restrictons: Extra inputs are not permitted" in result.stderr
    good = zes("exemptions", "check-policy", str(policy_dir(tmp_path / "again")), env={})
    assert good.returncode == 0, good.stderr
    assert "ok: Amsterdam: dagontheffing, dierenambulance, markthandel" in good.stdout


def test_export_is_what_load_exemptions_reads(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, redis_prefix: str
) -> None:
    folder = policy_dir(tmp_path)
    env = {
        "ZES_WORK_DIR": str(tmp_path),
        "ZES_REDIS_URL": redis_url,
        "ZES_REGISTER_PREFIX": redis_prefix,
        "ZES_HASH_SECRET": SECRET,
        "ZES_CASES_AUDIT_KEY": AUDIT_KEY.hex(),
        "ZES_DESK_POLICY_DIR": str(folder),
    }
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET.encode())
    register.replace_vehicles([EURO5])
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    sessions = session_factory(make_engine(url), audit_key=AUDIT_KEY)
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    desk = desk_from(
        list(zones), DeskSettings(_env_file=None, policy_dir=folder), register, register
    )
    policy = desk.policy("amsterdam")
    assert policy is not None
    with sessions.begin() as session:
        row = service.submit(
            session, desk, policy, plate_text="VNB55X", type_key="dagontheffing",
            first_day=TODAY, last_day=TODAY, reason="", trips_per_year=None, now=NOW,
        )  # fmt: skip
        assert row.status == "granted"
    held = register.exemptions(["VNB55X"])
    out = tmp_path / "amsterdam.csv"
    first = zes("exemptions", "export", "--municipality", "amsterdam", "--out", str(out),
                "--actor", "tess", env=env)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "exported 1 granted exemptions of Amsterdam" in first.stdout
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == (
        "kenteken,type,scope,valid_from,valid_until,status,sequence,reference,note"
    )
    # Loaded into an empty register (a region's, the national desk's): the same records.
    register.replace_exemptions([])
    loaded = zes("register", "load-exemptions", str(out), "--add", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert register.exemptions(["VNB55X"]) == held
    again = zes("exemptions", "export", "--municipality", "Amsterdam", "--out", str(out), env=env)
    assert again.returncode == 0 and out.read_text(encoding="utf-8") == text
    unknown = zes("exemptions", "export", "--municipality", "Atlantis", env=env)
    assert unknown.returncode == 2 and "no exemption policy" in unknown.stderr
    purged = zes("exemptions", "purge", "--actor", "tess", env=env)
    assert purged.returncode == 0 and "purged: 0 applications" in purged.stdout
