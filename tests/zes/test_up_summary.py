"""`cases_with_evidence` of the `zes up` summary on a real case database: a case counts when
one of its sightings has every image stored, as its review page then shows both."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake
from tests.enforcement.casework.conftest import KEY, SEEN, evidence_for, violation
from zes.up.summary import cases_with_evidence


def test_counts_the_cases_whose_page_shows_both_images(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    engine = make_engine(url)
    intake = CaseIntake(session_factory(engine), EvidenceVault(KEY), grace=timedelta(0))
    both, one_kind, without, split_a, split_b = (uuid.uuid4() for _ in range(5))
    later = SEEN + timedelta(minutes=5)
    intake.apply(
        [
            violation("VNB12X", passage_id=both),
            violation("12ABC3", passage_id=one_kind),
            violation("GBB123", passage_id=without),
            violation("V221FX", passage_id=split_a),
            violation("V221FX", passage_id=split_b, seen_at=later, first=False),
        ],
        [
            evidence_for(both, "overview"),
            evidence_for(both, "plate_crop"),
            evidence_for(one_kind, "overview"),
            # One case, its two images on two sightings: no passage shows both.
            evidence_for(split_a, "overview"),
            evidence_for(split_b, "plate_crop"),
        ],
    )
    # Images of a passage without a violation are held (pending): they show on no case.
    compliant = uuid.uuid4()
    intake.apply([], [evidence_for(compliant, "overview"), evidence_for(compliant, "plate_crop")])
    engine.dispose()
    assert cases_with_evidence(url) == 1
