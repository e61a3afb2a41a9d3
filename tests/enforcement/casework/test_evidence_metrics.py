"""`zes_evidence_stored_bytes{state}` on a real case database: held images (no case shows them)
and images of cases, each counted once, and the held bytes fall when the purge runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.evidence_metrics import EvidenceStoreCollector
from enforcement.casework.intake import CaseIntake
from enforcement.casework.purge import purge
from tests.enforcement.casework.conftest import AUDIT_KEY, KEY, evidence_for, violation


def stored(registry: CollectorRegistry) -> dict[str, float]:
    return {
        state: registry.get_sample_value("zes_evidence_stored_bytes", {"state": state}) or 0.0
        for state in ("held", "case")
    }


def test_held_and_case_evidence_bytes_and_the_purge(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine, audit_key=AUDIT_KEY)
    registry = CollectorRegistry()
    registry.register(EvidenceStoreCollector(sessions))
    assert stored(registry) == {"held": 0.0, "case": 0.0}

    intake = CaseIntake(sessions, EvidenceVault(KEY), grace=timedelta(0))
    fined, compliant = uuid.uuid4(), uuid.uuid4()
    intake.apply(
        [violation("VNB12X", passage_id=fined)],
        [
            evidence_for(fined, "overview", b"o" * 1000),
            evidence_for(fined, "plate_crop", b"c" * 200),
        ],
    )
    intake.apply([], [evidence_for(compliant, "overview", b"x" * 5000)])
    # The same image twice (a camera resending) is stored once and counted once.
    intake.apply([], [evidence_for(compliant, "overview", b"x" * 5000)])
    assert stored(registry) == {"held": 5000.0, "case": 1200.0}

    with sessions.begin() as session:
        purge(
            session, datetime.now(UTC) + timedelta(hours=7), retention_days=28, hold_hours=6,
            failed_login_days=7, actor="test",
        )  # fmt: skip
    assert stored(registry) == {"held": 0.0, "case": 1200.0}
    engine.dispose()
