"""The objection dossier on SQLite and PostgreSQL, read back with poppler (pdftotext,
pdfimages): it names the plate, the rules, both officers and the chain's anchor, holds both
images byte for byte, and producing it is audited."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import cv2
import msgspec
import numpy as np
import pytest
from sqlalchemy import select

from enforcement.casework import audit, review
from enforcement.casework.dossier import DossierError, batch_cases, build, find_case
from enforcement.casework.export import export
from enforcement.casework.models import AuditEntry, Case
from enforcement.casework.outcomes import record_outcome
from enforcement.casework.recheck import Rechecker
from enforcement.casework.review import QueueFilter
from tests.enforcement.casework.conftest import CaseDB, evidence_for, violation
from tests.enforcement.casework.test_review import NOW, _users

pytestmark = pytest.mark.redis


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:  # scripts/setup installs poppler-utils; never skip silently
        pytest.fail(f"{tool} is missing: run scripts/setup (Debian package poppler-utils)")
    return path


def camera_jpeg(width: int, height: int, label: str) -> bytes:
    """A JPEG like a camera's: a gradient, a box and text (not noise, so its size is real)."""
    ramp = np.linspace(40, 200, width, dtype=np.uint8)
    image = np.dstack([np.tile(ramp, (height, 1))] * 3)
    cv2.rectangle(image, (width // 4, height // 3), (width // 2, height // 2), (250, 250, 250), -1)
    cv2.putText(image, label, (20, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 3)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data.tobytes())


def exported_case_with_images(
    db: CaseDB, rechecker: Rechecker, out: Path
) -> tuple[dict[str, bytes], str]:
    """A case of VNB12X with an overview and a crop, confirmed by anna, approved by bart,
    exported; returns its images by kind and the export file's name."""
    passage = uuid.uuid4()
    images = {
        "overview": camera_jpeg(1920, 1080, "overview"),
        "plate_crop": camera_jpeg(320, 90, "VNB12X"),
    }
    db.intake().apply([violation("VNB12X", passage_id=passage)])
    db.intake().apply(
        evidence=[
            msgspec.structs.replace(evidence_for(passage, k, d), time_sync="synchronized")
            for k, d in images.items()
        ]
    )
    anna, bart = _users(db)
    with db.sessions.begin() as session:
        case = review.next_case(session, anna, QueueFilter(), NOW, 15)
        assert case is not None
        review.confirm(session, case, anna, NOW, four_eyes=True)
    with db.sessions.begin() as session:
        case = review.next_case(session, bart, QueueFilter(), NOW, 15)
        assert case is not None
        review.approve(session, case, bart, NOW)
    (batch,) = export(db.sessions, out, rechecker, actor="export", clock=lambda: NOW).batches
    return images, batch.path.name


def test_a_dossier_holds_the_case_its_officers_the_anchor_and_both_images(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    images, batch_file = exported_case_with_images(case_db, rechecker, tmp_path / "exports")
    later = NOW + timedelta(days=20)
    with case_db.sessions.begin() as session:
        case = find_case(session, violation("VNB12X").case_key)
        assert case is not None
        record_outcome(session, case, "objection", "", later.date(), actor="sam", now=later)
        dossier = build(session, case, case_db.vault, actor="sam", now=later)
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(dossier.pdf)

    text = subprocess.run(
        [poppler("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, check=True,
        text=True,
    ).stdout  # fmt: skip
    assert "Zaakdossier" in text  # Dutch by default
    for expected in (
        "VNB12X", "R12", "Bestelauto klasse 5: geen toegang.", "anna", "bart", "confirm",
        "approve", "objection", batch_file, dossier.anchor.head,
        hashlib.sha256(images["overview"]).hexdigest(), "Keten gecontroleerd: intact",
        "synchronized",
    ):  # fmt: skip
        assert expected in text, expected
    assert re.search(rf"count\s+{dossier.anchor.count}\n", text)

    folder = tmp_path / "images"
    folder.mkdir()
    subprocess.run([poppler("pdfimages"), "-all", str(pdf), str(folder / "img")], check=True)
    extracted = {hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    # The JPEGs themselves, byte for byte: full resolution, no re-encoding.
    assert extracted == {hashlib.sha256(d).hexdigest() for d in images.values()}

    with case_db.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dossier", AuditEntry.case_id == case.id)
        ).one()
        assert entry.actor == "sam" and entry.seq == dossier.anchor.count
        assert audit.verify(session).ok


def test_english_and_a_whole_batch(case_db: CaseDB, rechecker: Rechecker, tmp_path: Path) -> None:
    exported_case_with_images(case_db, rechecker, tmp_path / "exports")
    with case_db.sessions.begin() as session:
        batch, cases = batch_cases(session, 1, municipality=None, kind=None)
        assert [c.plate for c in cases] == ["VNB12X"] and batch.municipality == "Utrecht"
        dossier = build(session, cases[0], case_db.vault, actor="sam", now=NOW, lang="en")
        with pytest.raises(DossierError, match="no export batch 7"):
            batch_cases(session, 7, municipality=None, kind=None)
        with pytest.raises(DossierError, match="nl or en"):
            build(session, cases[0], case_db.vault, actor="sam", now=NOW, lang="de")
    pdf = tmp_path / "en.pdf"
    pdf.write_bytes(dossier.pdf)
    text = subprocess.run(
        [poppler("pdftotext"), str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "Case dossier" in text and "Van class 5: no access." in text


def test_an_image_that_no_longer_matches_its_hash_is_named_not_shown(
    case_db: CaseDB, rechecker: Rechecker, tmp_path: Path
) -> None:
    images, _ = exported_case_with_images(case_db, rechecker, tmp_path / "exports")
    from enforcement.casework.models import EvidenceBlob

    crop = hashlib.sha256(images["plate_crop"]).hexdigest()
    with case_db.sessions.begin() as session:
        blob = session.get(EvidenceBlob, crop)
        assert blob is not None
        blob.ciphertext = blob.ciphertext[:-1] + bytes([blob.ciphertext[-1] ^ 1])
        case = session.scalars(select(Case)).one()
        dossier = build(session, case, case_db.vault, actor="sam", now=NOW)
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(dossier.pdf)
    text = subprocess.run(
        [poppler("pdftotext"), str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "KLOPT NIET" in text
    listing = subprocess.run(
        [poppler("pdfimages"), "-list", str(pdf)], capture_output=True, check=True, text=True
    ).stdout
    assert len(listing.strip().splitlines()) == 3  # header, rule, the overview only
