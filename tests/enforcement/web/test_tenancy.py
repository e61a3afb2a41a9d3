"""Tenancy: each municipality is its own controller of its cases. A Haarlem officer sees
Haarlem's cases only: another municipality's case, its images and its sightings answer 404
(never 403: not even their existence shows), the queue, "next case" and the supervisors'
page count only their own; a regional account sees every municipality."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from enforcement.casework.accounts import AccountError, add_user
from enforcement.casework.models import (
    AuditEntry,
    Case,
    EvidenceItem,
    Sighting,
    User,
    UserMunicipality,
)
from enforcement.casework.tenancy import municipality_of_zone, scope_of
from enforcement.zones import default_catalog
from tests.conftest import REPO_ROOT
from tests.enforcement.casework.conftest import SEEN
from tests.enforcement.web.conftest import Web, add_officer, csrf_of, logged_in

pytestmark = pytest.mark.redis


def _ids(web: Web) -> dict[str, int]:
    with web.db.sessions() as session:
        return {zone: id_ for id_, zone in session.execute(select(Case.id, Case.zone_id))}


def _items(web: Web, case_id: int) -> list[int]:
    with web.db.sessions() as session:
        passages = select(Sighting.passage_id).where(Sighting.case_id == case_id)
        return list(
            session.scalars(select(EvidenceItem.id).where(EvidenceItem.passage_id.in_(passages)))
        )


def test_a_haarlem_reviewer_gets_404_on_an_amsterdam_case_its_evidence_and_sightings(
    web: Web,
) -> None:
    web.add_case("VNB12X", zone="amsterdam", seen_at=SEEN - timedelta(hours=3))
    web.add_case("VNB12X", zone="haarlem")
    ids = _ids(web)
    add_officer(web, "henk", "reviewer", "Haarlem")
    henk = logged_in(web, "henk")
    amsterdam, haarlem = ids["amsterdam"], ids["haarlem"]
    page = henk.get(f"/cases/{amsterdam}")
    assert page.status_code == 404  # as if it did not exist: not 403
    assert henk.get("/cases/999999").status_code == 404
    assert "VNB" not in page.text and "Amsterdam" not in page.text
    for item in _items(web, amsterdam):
        assert henk.get(f"/cases/{amsterdam}/evidence/{item}").status_code == 404
        # Nor through his own case's URL.
        assert henk.get(f"/cases/{haarlem}/evidence/{item}").status_code == 404
    token = csrf_of(henk.get("/queue").text)
    for action in ("claim", "confirm", "reject", "escalate"):
        refused = henk.post(f"/cases/{amsterdam}/{action}", data={"csrf_token": token})
        assert refused.status_code == 404, action
    # His own municipality's case: page, images and sightings, and no Amsterdam sighting.
    own = henk.get(f"/cases/{haarlem}")
    assert own.status_code == 200
    assert f'href="/cases/{amsterdam}"' not in own.text  # the same plate seen in Amsterdam
    for item in _items(web, haarlem):
        assert henk.get(f"/cases/{haarlem}/evidence/{item}").status_code == 200
    # The queue and "next case" know only Haarlem, though the Amsterdam case is older.
    queue = henk.get("/queue").text
    assert f'href="/cases/{haarlem}"' in queue and f'href="/cases/{amsterdam}"' not in queue
    assert henk.get("/queue", params={"zone": "amsterdam"}).text.count('href="/cases/') == 0
    claimed = henk.post("/queue/next", data={"csrf_token": csrf_of(queue)})
    assert claimed.headers["location"] == f"/cases/{haarlem}"
    # A regional account sees both.
    anna = logged_in(web, "anna")
    assert anna.get(f"/cases/{amsterdam}").status_code == 200
    assert anna.get(f"/cases/{haarlem}").status_code == 200


def test_the_supervisors_page_counts_only_their_municipalities(web: Web) -> None:
    web.add_case("VNB12X", zone="amsterdam", seen_at=SEEN - timedelta(hours=5))
    web.add_case("VNB12Y", zone="haarlem")
    ids = _ids(web)
    add_officer(web, "hanna", "supervisor", "Haarlem")
    add_officer(web, "adam", "reviewer", "Amsterdam")
    adam = logged_in(web, "adam")
    page = adam.get("/queue")
    assert adam.post("/queue/next", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    token = csrf_of(adam.get(f"/cases/{ids['amsterdam']}").text)
    adam.post(f"/cases/{ids['amsterdam']}/reject", data={"csrf_token": token,
                                                          "reason": "unreadable"})  # fmt: skip
    hanna = logged_in(web, "hanna")
    text = hanna.get("/supervisor").text
    assert '<td class="text">adam</td>' not in text  # Amsterdam's decisions are not hers to see
    assert "onleesbaar" not in text
    assert f'href="/cases/{ids["haarlem"]}"' in text  # her oldest open case, not Amsterdam's
    sara = logged_in(web, "sara")  # regional
    everything = sara.get("/supervisor").text
    assert '<td class="text">adam</td>' in everything and "onleesbaar" in everything


def test_a_case_belongs_to_the_municipality_of_its_zone(web: Web) -> None:
    zones = default_catalog()
    assert municipality_of_zone(zones, "haarlem") == "Haarlem"
    assert municipality_of_zone(zones, "schiphol") == "Haarlemmermeer"
    assert municipality_of_zone(zones, "den-haag") == "Den Haag"
    assert municipality_of_zone(zones, "nowhere") == "nowhere"
    with web.db.sessions.begin() as session:
        with pytest.raises(AccountError, match="not in the zone catalogue"):
            add_user(session, "x1", "a long password!", "reviewer", actor="t",
                     municipalities=["Atlantis"], zones=zones)  # fmt: skip
        meer = add_user(session, "x2", "a long password!", "reviewer", actor="t",
                        municipalities=["haarlemmermeer"], zones=zones)  # fmt: skip
        scope = scope_of(session, meer, zones)
        assert scope.municipalities == {"Haarlemmermeer"} and scope.zone_ids == {"schiphol"}


def test_user_add_with_municipalities_on_the_command_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ZES_WORK_DIR": str(tmp_path),
        "ZES_CASES_DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        "ZES_CASES_AUDIT_KEY": "c41d7be0925a3f68e1b4d09c7a2f5e83b6d0195fa47c2e8d3b90a6f15e7c24d9",
    }

    def zes(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zes", "enforce", "user", "add", *args, "--password-stdin",
             "--actor", "beheer-jan"],
            input="a long password 1\n", capture_output=True, text=True, timeout=120,
            env=env, cwd=REPO_ROOT,
        )  # fmt: skip

    from enforcement.casework.db import migrate

    migrate(env["ZES_CASES_DATABASE_URL"])  # `zes enforce user add` refuses a missing database
    added = zes("henk", "--role", "reviewer", "--municipality", "Haarlem",
                "--municipality", "haarlemmermeer")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "user henk added (reviewer; Haarlem, Haarlemmermeer)" in added.stdout
    regional = zes("rita", "--role", "admin", "--all-municipalities")
    assert regional.returncode == 0, regional.stderr
    nowhere = zes("nina", "--role", "reviewer")
    assert nowhere.returncode != 0 and "--municipality" in nowhere.stderr
    unknown = zes("olga", "--municipality", "Atlantis")
    assert unknown.returncode != 0 and "Atlantis" in unknown.stderr
    from enforcement.casework.db import make_engine, session_factory

    engine = make_engine(env["ZES_CASES_DATABASE_URL"])
    with session_factory(engine)() as session:
        rows = session.execute(
            select(User.username, UserMunicipality.municipality).join(
                UserMunicipality, UserMunicipality.user_id == User.id
            )
        ).all()
        assert sorted(rows) == [("henk", "Haarlem"), ("henk", "Haarlemmermeer")]
        rita = session.scalars(select(User).where(User.username == "rita")).one()
        assert rita.all_municipalities
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == "user_add")
        ).all()
    engine.dispose()
    assert entries == [
        ("beheer-jan", {"user": "henk", "role": "reviewer",
                        "municipalities": ["Haarlem", "Haarlemmermeer"]}),
        ("beheer-jan", {"user": "rita", "role": "admin", "municipalities": "all"}),
    ]  # fmt: skip


def test_the_audit_log_page_is_scoped_and_its_reading_audited(web: Web) -> None:
    web.add_case("VNB12X", zone="amsterdam")
    web.add_case("VNB12Y", zone="haarlem")
    ids = _ids(web)
    add_officer(web, "hanna", "supervisor", "Haarlem")
    add_officer(web, "henk", "reviewer", "Haarlem")
    add_officer(web, "adam", "reviewer", "Amsterdam")
    logged_in(web, "adam").get(f"/cases/{ids['amsterdam']}")
    logged_in(web, "henk").get(f"/cases/{ids['haarlem']}")
    assert logged_in(web, "henk").get("/audit").status_code == 403  # supervisors only
    hanna = logged_in(web, "hanna")
    page = hanna.get("/audit")
    assert page.status_code == 200
    rows = re.findall(
        r'<tr><td class="num">\d+</td><td class="text">[^<]*</td><td class="text">([^<]*)</td>'
        r'<td class="text">([^<]*)</td>',
        page.text,
    )
    assert ("henk", "zaak bekeken") in rows and ("henk", "ingelogd") in rows
    assert all(actor != "adam" for actor, _ in rows)  # Amsterdam's officer, Amsterdam's case
    assert f'href="/cases/{ids["amsterdam"]}"' not in page.text
    everything = logged_in(web, "sara").get("/audit").text
    assert '<td class="text">adam</td>' in everything
    with web.db.sessions() as session:
        reads = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "view_audit")
        ).all()
    assert sorted(reads) == ["hanna", "sara"]
