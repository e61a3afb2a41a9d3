"""Desk fixtures: the case database (SQLite and PostgreSQL), a real Redis register, the
example policy plus a Haarlem municipality file."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis
import yaml

from enforcement.exemptions.desk import Desk, desk_from
from enforcement.exemptions.files import EXAMPLE_DIR
from enforcement.exemptions.settings import DeskSettings
from enforcement.model import Fuel, Vehicle
from enforcement.register.redis import RedisRegister
from enforcement.settings import Settings, load_law
from tests.enforcement.casework.conftest import (  # noqa: F401  (fixtures used by name)
    case_db,
    postgres_db,
    sqlite_db,
)
from tests.stream.harness import harness  # noqa: F401  (fixtures used by name)

SECRET = b"desk-test-plate-hash-secret"
#: The desk's "now": a Monday in 2027, when a Euro 5 diesel van no longer enters (R8-R12).
NOW = datetime(2027, 3, 1, 8, 30, tzinfo=UTC)
TODAY = date(2027, 3, 1)


def van(plate: str, euro: str, year: int = 2012, fuel: str = "Diesel") -> Vehicle:
    return Vehicle(
        plate=plate,
        kind="Bedrijfsauto",
        max_mass_kg=3000,
        eu_category="N1",
        first_admission=date(year, 5, 1),
        first_nl_registration=date(year, 5, 1),
        fuels=(Fuel(fuel, euro or None),),
    )


EURO5 = van("VNB55X", "5")
EURO4 = van("VNB44X", "4")
ELECTRIC = van("VNB00E", "", 2022, "Elektriciteit")


def policy_dir(tmp_path: Path) -> Path:
    """The shipped example with a Haarlem file beside Amsterdam's."""
    folder = tmp_path / "policy"
    shutil.copytree(EXAMPLE_DIR, folder)
    (folder / "municipalities" / "haarlem.yaml").write_text(
        yaml.safe_dump({"municipality": "Haarlem"}), encoding="utf-8"
    )
    return folder


@pytest.fixture
def register(redis_client: redis.Redis, redis_prefix: str) -> RedisRegister:
    register = RedisRegister(redis_client, redis_prefix, secret=SECRET)
    register.replace_vehicles([EURO5, EURO4, ELECTRIC])
    return register


@pytest.fixture
def desk(register: RedisRegister, tmp_path: Path) -> Desk:
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    settings = DeskSettings(_env_file=None, policy_dir=policy_dir(tmp_path), retention_days=30)
    return desk_from(list(zones), settings, register, register)
