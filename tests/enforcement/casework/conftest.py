"""Case database fixtures: every casework test runs on SQLite and on real PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from enforcement.areas import AreaCatalog
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake
from enforcement.casework.recheck import Rechecker
from enforcement.model import Fuel, Vehicle
from enforcement.records import (
    Evidence,
    EvidenceRef,
    FuelFacts,
    RuleFacts,
    SanctionFacts,
    VehicleFacts,
    Violation,
)
from enforcement.register.redis import RedisRegister
from enforcement.zones import DEFAULT_ZONES, ZoneCatalog

KEY = bytes.fromhex("5f0e3c9a8b7d61f24c3ea9d05b18e7c26a94f1d3b0c87e5a2d691f4b3ce0a875")
"""The tests' evidence key: 32 random bytes (as `ZES_CASES_EVIDENCE_KEY`: `KEY.hex()`)."""
AUDIT_KEY = bytes.fromhex("c41d7be0925a3f68e1b4d09c7a2f5e83b6d0195fa47c2e8d3b90a6f15e7c24d9")
"""The tests' audit chain key (as `ZES_CASES_AUDIT_KEY`: `AUDIT_KEY.hex()`)."""
SEEN = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@dataclass
class CaseDB:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    vault: EvidenceVault

    def intake(
        self,
        grace: timedelta = timedelta(0),
        now: datetime | None = None,
        areas: AreaCatalog | None = None,
    ) -> CaseIntake:
        """The intake; with `areas`, records of access-window cases are accepted (their
        area is checked against the camera's, `intake.case_key_problem`)."""
        clock = (lambda: now) if now else (lambda: datetime.now(UTC))
        return CaseIntake(self.sessions, self.vault, grace=grace, clock=clock, areas=areas)


def _db(url: str) -> Iterator[CaseDB]:
    migrate(url)
    engine = make_engine(url)
    yield CaseDB(url, engine, session_factory(engine, audit_key=AUDIT_KEY), EvidenceVault(KEY))
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[CaseDB]:
    yield from _db(f"sqlite:///{tmp_path / 'cases.db'}")


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[CaseDB]:
    yield from _db(postgres_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def case_db(request: pytest.FixtureRequest) -> CaseDB:
    db: CaseDB = request.getfixturevalue(f"{request.param}_db")
    return db


def violation(
    plate: str = "VNB12X",
    zone: str = "utrecht",
    *,
    seen_at: datetime = SEEN,
    decision: str = "violation",
    sanction: str = "fine",
    first: bool = True,
    passage_id: uuid.UUID | None = None,
    evidence: tuple[EvidenceRef, ...] = (),
    confidence: float = 0.97,
) -> Violation:
    day = seen_at.date().isoformat()
    return Violation(
        case_key=f"{plate}:{zone}:{day}",
        first_sighting=first,
        passage_id=passage_id or uuid.uuid4(),
        decision=decision,  # type: ignore[arg-type]
        plate=plate,
        plate_raw=plate,
        confidence=confidence,
        zone_id=zone,
        site_id="site-1",
        camera_id="cam-1",
        seen_at=seen_at,
        rule_ids=("R8", "R12"),
        rules=(
            RuleFacts(
                rule_id="R12",
                key="van_class_ended",
                nl="Bestelauto klasse 5: geen toegang.",
                en="Van class 5: no access.",
            ),
        ),
        vehicle_class="van" if decision == "violation" else None,
        vehicle=VehicleFacts(
            kind="Bedrijfsauto",
            max_mass_kg=3000,
            fuels=(FuelFacts(name="Diesel", emission_class="5"),),
            eu_category="N1",
            body="gesloten opbouw",
            make="MERCEDES-BENZ",
            commercial_name="SPRINTER",
            colour="WIT",
        )
        if decision == "violation"
        else None,
        sanction=SanctionFacts(
            kind=sanction,  # type: ignore[arg-type]
            amount_eur=120 if sanction == "fine" else None,
            admin_costs_eur=9 if sanction == "fine" else None,
        ),
        evidence=evidence,
        char_confidences=(0.99, 0.98, 0.97, 0.99, 0.96, 0.95),
        decided_at=seen_at + timedelta(seconds=1),
    )


def evidence_for(
    passage_id: uuid.UUID, kind: str = "overview", data: bytes | None = None
) -> Evidence:
    data = data if data is not None else f"jpeg of {passage_id} {kind}".encode()
    return Evidence(
        passage_id=passage_id,
        kind=kind,  # type: ignore[arg-type]
        sha256=hashlib.sha256(data).hexdigest(),
        captured_at=SEEN,
        data=data,
    )


def _van(plate: str) -> Vehicle:
    return Vehicle(
        plate=plate,
        kind="Bedrijfsauto",
        max_mass_kg=3000,
        eu_category="N1",
        first_admission=date(2010, 5, 1),
        first_nl_registration=date(2010, 5, 1),
        fuels=(Fuel("Diesel", "4"),),  # Euro 4 van: no access since the zone started
    )


@pytest.fixture
def rechecker(redis_client: redis.Redis, redis_prefix: str) -> Rechecker:
    register = RedisRegister(redis_client, redis_prefix, secret=b"test-secret-0123456789")
    register.replace_vehicles([_van("VNB12X"), _van("VNB99Z"), _van("VNC44K")])
    return Rechecker(register, ZoneCatalog(DEFAULT_ZONES))


def _electric(plate: str) -> Vehicle:
    return Vehicle(
        plate=plate,
        kind="Bedrijfsauto",
        max_mass_kg=3000,
        eu_category="N1",
        first_admission=date(2022, 5, 1),
        first_nl_registration=date(2022, 5, 1),
        fuels=(Fuel("Elektriciteit", None),),
    )
