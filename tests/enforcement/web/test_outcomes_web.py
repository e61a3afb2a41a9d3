"""After the export in the review app: a supervisor records an outcome by hand and downloads
the objection dossier; another municipality's officers get 404, reviewers 403; the supervisor
page counts cases and outcomes per zone and camera, with its chart (also in the browser)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from enforcement.casework import review
from enforcement.casework.export import export
from enforcement.casework.models import AuditEntry, Case, CaseOutcome, RejectReason, User
from enforcement.casework.review import QueueFilter
from tests.enforcement.web.conftest import NOW, Web, add_officer, csrf_of, logged_in

pytestmark = pytest.mark.redis


def exported_case(web: Web, reject: str = "") -> int:
    """VNB12X in Utrecht, confirmed (four-eyes off) and exported; `reject` is rejected as
    misread instead. Returns the exported case's id."""
    web.add_case("VNB12X")
    if reject:
        web.add_case(reject)
    with web.db.sessions.begin() as session:
        anna = session.scalars(select(User).where(User.username == "anna")).one()
        while (case := review.next_case(session, anna, QueueFilter(), NOW, 15)) is not None:
            if case.plate == reject:
                review.reject(session, case, anna, NOW, RejectReason.MISREAD)
            else:
                review.confirm(session, case, anna, NOW, four_eyes=False, attested=True)
    export(web.db.sessions, web.work_dir / "exports", web.rechecker, actor="x", clock=lambda: NOW)
    with web.db.sessions() as session:
        return session.scalars(select(Case.id).where(Case.plate == "VNB12X")).one()


def _outcome(client: Any, case_id: int, **data: str) -> Any:
    token = csrf_of(client.get(f"/cases/{case_id}").text)
    return client.post(f"/cases/{case_id}/outcome", data={**data, "csrf_token": token})


def test_a_supervisor_records_an_outcome_and_downloads_the_dossier(
    web: Web, tmp_path: Path
) -> None:
    case_id = exported_case(web)
    sara, anna = logged_in(web, "sara"), logged_in(web, "anna")
    page = sara.get(f"/cases/{case_id}")
    assert 'id="form-outcome"' in page.text and f"/cases/{case_id}/dossier.pdf" in page.text
    assert 'id="form-outcome"' not in anna.get(f"/cases/{case_id}").text  # reviewers: no

    bad = _outcome(sara, case_id, status="objection", decided_on="2099-01-01")
    assert bad.status_code == 400 and "datum niet in de toekomst" in bad.text
    done = _outcome(sara, case_id, status="objection", reason_code="", decided_on="2026-03-03")
    assert done.status_code == 303, done.text
    shown = sara.get(f"/cases/{case_id}").text
    assert "in beroep" in shown and "2026-03-03" in shown
    with web.db.sessions() as session:
        assert session.get(Case, case_id).status == "objection"  # type: ignore[union-attr]
        (row,) = session.scalars(select(CaseOutcome)).all()
        assert (row.actor, row.source) == ("sara", "hand")
    assert _outcome(anna, case_id, status="paid", decided_on="2026-03-03").status_code == 403

    response = sara.get(f"/cases/{case_id}/dossier.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "no-store" in response.headers.get("cache-control", "")
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(response.content)
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext is missing: run scripts/setup (poppler-utils)"
    text = subprocess.run(
        [pdftotext, str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "Zaakdossier" in text and "VNB12X" in text and "objection" in text
    assert anna.get(f"/cases/{case_id}/dossier.pdf").status_code == 403
    with web.db.sessions() as session:
        made = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "dossier"))
        assert list(made) == ["sara"]


def test_another_municipality_gets_404_for_the_dossier_and_the_outcome(web: Web) -> None:
    case_id = exported_case(web)
    add_officer(web, "olga", "supervisor", "Amsterdam")
    olga = logged_in(web, "olga")
    assert olga.get(f"/cases/{case_id}/dossier.pdf").status_code == 404
    token = csrf_of(olga.get("/queue").text)
    refused = olga.post(
        f"/cases/{case_id}/outcome",
        data={"status": "paid", "decided_on": "2026-03-03", "csrf_token": token},
    )
    assert refused.status_code == 404
    with web.db.sessions() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "dossier")).all() == []
        assert session.scalars(select(CaseOutcome)).all() == []


def test_the_supervisor_page_counts_outcomes_per_zone_and_camera(web: Web) -> None:
    case_id = exported_case(web, reject="VNC44K")
    sara = logged_in(web, "sara")
    assert _outcome(sara, case_id, status="annulled", reason_code="misread",
                    decided_on="2026-03-03").status_code == 303  # fmt: skip
    page = sara.get("/supervisor?days=30")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>(utrecht|site-1/cam-1)</td>(.*?)</tr>", page.text, re.DOTALL)
    assert {name for name, _ in rows} == {"utrecht", "site-1/cam-1"}
    for _, cells in rows:
        numbers = re.findall(r'<td class="num">([^<]*)', cells)
        # cases, confirmed, rejected (misread 1), exported, objections, annulled, rate
        assert [n.split(" ")[0] for n in numbers] == ["2", "1", "1", "1", "0", "1", "100%"]
        assert "verkeerd gelezen 1" in cells
    chart = sara.get("/supervisor/outcomes.svg?days=30")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in chart.content and b"<script" not in chart.content
    assert b"Vernietigd" in chart.content
    assert logged_in(web, "anna").get("/supervisor/outcomes.svg").status_code == 403


@pytest.mark.browser
def test_the_outcome_chart_renders_in_the_browser(
    live_web: Web, new_context: Any, tmp_path: Path
) -> None:
    exported_case(live_web, reject="VNC44K")
    page = new_context().new_page()
    from tests.enforcement.web.browser import sign_in

    sign_in(page, "sara", landing=None)
    page.goto("/supervisor?days=30")
    image = page.locator("#chart-outcomes img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    shot = cv2.imdecode(np.frombuffer(image.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert shot is not None
    coloured = np.count_nonzero(np.ptp(shot.astype(np.int16), axis=2) > 60)
    assert coloured > 100, f"{coloured} coloured pixels: no bars drawn"
    page.screenshot(path=str(tmp_path / "supervisor.png"), full_page=True)
