"""The `zes` command end to end: synthetic RDW files → load into Redis → decide a plate."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from enforcement.model import Fuel, Vehicle
from enforcement.register.redis.codec import encode_vehicle

pytestmark = pytest.mark.redis


def zes(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zes", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_synth_load_exemptions_and_decide(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = {"ZES_REDIS_URL": redis_url, "ZES_REGISTER_PREFIX": redis_prefix}
    made = zes("register", "synth", "--out", str(tmp_path), "--count", "2000", env=env)
    assert made.returncode == 0, made.stderr
    options = [part for line in made.stdout.split("\n") if line for part in line.split(" ", 1)]
    loaded = zes("register", "load", *options, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "vehicles loaded: 2,000" in loaded.stderr and "0 skipped" in loaded.stderr

    vehicles = tmp_path / "Open_Data_RDW__Gekentekende_voertuigen.csv"
    with vehicles.open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Voertuigsoort"] == "Bedrijfsauto")
    van = row["Kenteken"]
    permits = tmp_path / "exemptions.csv"
    permits.write_text(
        "kenteken,type,scope,valid_from,valid_until\n"
        f"{van},hardheidsclausule,Utrecht,2026-01-01,2026-12-31\n",
        encoding="utf-8",
    )
    added = zes("register", "load-exemptions", str(permits), env=env)
    assert added.returncode == 0, added.stderr
    spelled = f"{van[:2].lower()}-{van[2:]}"  # any common spelling works
    decided = zes("decide", spelled, "--zone", "Utrecht", "--at", "2026-06-01T10:00", env=env)
    assert decided.returncode == 0, decided.stderr
    lines = decided.stdout.splitlines()
    assert lines[1].startswith("Utrecht: toegestaan"), decided.stdout
    assert any("hardheidsclausule" in line for line in lines)
    # The registered description, loaded from the RDW file, for the photo check (issue 21).
    assert lines[-1].startswith("Geregistreerd: "), decided.stdout
    assert f"{row['Merk']} {row['Handelsbenaming']}" in lines[-1]
    assert lines[-1].endswith(f", {row['Inrichting']}, {row['Europese voertuigcategorie']}")
    english = zes("decide", van, "--zone", "Utrecht", "--at", "2027-06-01T10:00", "--lang", "en",
                  env=env)  # fmt: skip
    assert "Utrecht:" in english.stdout and "toegestaan" not in english.stdout
    assert english.stdout.splitlines()[-1].startswith("Registered: ")


def test_user_errors_are_one_line(tmp_path: Path, redis_url: str) -> None:
    env = {"ZES_REDIS_URL": redis_url}
    for args in (
        ("decide", "AB12CD", "--zone", "Atlantis"),
        ("decide", "AB12CD", "--zone", "Utrecht", "--at", "yesterday"),
        ("register", "load", "--vehicles", str(tmp_path / "missing.csv")),
        ("register", "load-exemptions", str(tmp_path / "missing.csv")),
    ):
        done = zes(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("zes: error: "), done.stderr
        assert "Traceback" not in done.stderr
    unreachable = zes(
        "decide", "AB12CD", "--zone", "Utrecht", env={"ZES_REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    assert unreachable.returncode == 2 and "unavailable" in unreachable.stderr


def test_a_register_of_an_earlier_release_is_refused_then_migrated(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    van = Vehicle("VBB12B", "Bedrijfsauto", 2800, fuels=(Fuel("Diesel", "4"),))
    client.mset(
        {f"{redis_prefix}:veh:cur": "3", f"{redis_prefix}:veh:3:VBB12B": encode_vehicle(van)}
    )
    client.close()
    env = {"ZES_REDIS_URL": redis_url, "ZES_REGISTER_PREFIX": redis_prefix}
    refused = zes("decide", "VBB12B", "--zone", "Utrecht", env=env)
    assert refused.returncode == 2 and "zes register migrate" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1 and "VBB12B" not in refused.stderr
    migrated = zes("register", "migrate", env=env)
    assert migrated.returncode == 0 and "vehicles migrated: 1" in migrated.stdout
    again = zes("register", "migrate", env=env)
    assert "nothing to migrate" in again.stdout
    decided = zes("decide", "VBB12B", "--zone", "Utrecht", "--at", "2026-06-01T10:00", env=env)
    assert decided.returncode == 0, decided.stderr
