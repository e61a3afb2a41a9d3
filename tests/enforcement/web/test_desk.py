"""The exemption desk's pages through the app: the public form and status page, the limit,
the permits queue with tenancy and four-eyes, and the counts on Stromen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from enforcement.casework.models import ExemptionApplication
from enforcement.exemptions.desk import desk_from
from enforcement.exemptions.settings import DeskSettings
from tests.enforcement.exemptions.conftest import policy_dir
from tests.enforcement.web.conftest import Web, add_officer, csrf_of, logged_in

if TYPE_CHECKING:
    from starlette.testclient import TestClient

pytestmark = pytest.mark.redis

DAY = "2026-03-03"  # the app's clock (conftest NOW)


def with_desk(web: Web, tmp_path: Path, per_minute: int = 5) -> Web:
    """The web app with the example policy and a Haarlem file (set before the first
    request, as `desk_of` would build it from ZES_DESK_*)."""
    settings = DeskSettings(
        _env_file=None, policy_dir=policy_dir(tmp_path), applications_per_minute=per_minute
    )
    web.app.state.desk = desk_from(list(web.rechecker.zones), settings, web.register, web.register)
    return web


@pytest.fixture
def desk_web(web: Web, tmp_path: Path) -> Web:
    return with_desk(web, tmp_path)


def submit(client: TestClient, slug: str, **fields: str) -> Any:
    page = client.get(f"/desk/{slug}")
    assert page.status_code == 200, page.text
    data = {"plate": "VNB12X", "type": "dagontheffing", "first_day": DAY, "last_day": DAY,
            "trips": "", "reason": "", "csrf_token": csrf_of(page.text), **fields}  # fmt: skip
    return client.post(f"/desk/{slug}", data=data)


def test_the_form_refuses_automatically_and_the_status_page_says_why(desk_web: Web) -> None:
    client = desk_web.client()
    page = client.get("/desk/amsterdam")
    assert "Ontheffing aanvragen: Amsterdam" in page.text
    assert "leges € 30,00" in page.text and "vanaf emissieklasse 5" in page.text
    response = submit(client, "amsterdam")
    assert response.status_code == 303
    status = client.get(response.headers["location"])
    assert status.status_code == 200
    assert 'data-status="refused"' in status.text
    assert (
        "Dagontheffing wordt in deze gemeente alleen verleend vanaf emissieklasse 5; dit "
        "voertuig heeft 4." in status.text
    )
    english = client.get(response.headers["location"] + "?lang=en")
    assert english.status_code == 200


def test_a_grant_at_haarlem_shows_its_fee_and_is_in_the_register(desk_web: Web) -> None:
    client = desk_web.client()
    response = submit(client, "haarlem")
    status = client.get(response.headers["location"])
    assert 'data-status="granted"' in status.text, status.text
    assert "Verschuldigde leges: € 30,00" in status.text
    (held,) = desk_web.register.exemptions(["VNB12X"])["VNB12X"]
    assert held.scope == "Haarlem" and held.reference.startswith("desk/haarlem/")


def test_bad_input_and_an_unknown_reference(desk_web: Web) -> None:
    client = desk_web.client()
    bad = submit(client, "amsterdam", plate="<script>")
    assert bad.status_code == 400 and "Dat is geen kenteken" in bad.text
    assert "<script>" not in bad.text
    assert submit(client, "amsterdam", last_day="2026-03-01").status_code == 400
    assert client.get("/desk/atlantis").status_code == 404
    assert client.get("/desk/status/AMS-AAAA-BBBB-CCCC").status_code == 404


def test_the_public_form_is_rate_limited(web: Web, tmp_path: Path) -> None:
    client = with_desk(web, tmp_path, per_minute=2).client()
    assert submit(client, "amsterdam").status_code == 303
    assert submit(client, "amsterdam").status_code == 303
    limited = submit(client, "amsterdam")
    assert limited.status_code == 429 and "Te veel aanvragen" in limited.text
    with web.db.sessions() as session:
        assert len(session.scalars(select(ExemptionApplication)).all()) == 2


def test_a_haarlem_officer_gets_404_on_an_amsterdam_application(desk_web: Web) -> None:
    public = desk_web.client()
    submit(public, "amsterdam", type="markthandel", plate="VNB12X", trips="40",
           last_day="2026-06-30")  # fmt: skip
    with desk_web.db.sessions() as session:
        row = session.scalars(select(ExemptionApplication)).one()
    assert row.status == "review"
    add_officer(desk_web, "hans", "permits", "Haarlem")
    add_officer(desk_web, "amy", "permits", "Amsterdam")
    hans = logged_in(desk_web, "hans")
    queue = hans.get("/permits")
    assert queue.status_code == 200 and f'data-application="{row.id}"' not in queue.text
    assert hans.get(f"/permits/{row.id}").status_code == 404
    page = hans.get("/permits")
    refused = hans.post(
        f"/permits/{row.id}", data={"action": "grant", "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 404
    amy = logged_in(desk_web, "amy")
    mine = amy.get("/permits")
    assert f'data-application="{row.id}"' in mine.text
    detail = amy.get(f"/permits/{row.id}")
    assert detail.status_code == 200 and "Markthandel" in detail.text
    # The register facts and the law without exemption beside the application.
    assert "Amsterdam" in detail.text and re.search(r'id="law"', detail.text)
    # A reviewer of cases is not a permits officer.
    anna = logged_in(desk_web, "anna")
    assert anna.get("/permits").status_code == 403


def test_four_eyes_in_the_queue(desk_web: Web) -> None:
    public = desk_web.client()
    submit(public, "amsterdam", type="markthandel", trips="40", last_day="2026-06-30")
    with desk_web.db.sessions() as session:
        row_id = session.scalars(select(ExemptionApplication.id)).one()
    add_officer(desk_web, "amy", "permits", "Amsterdam")
    add_officer(desk_web, "ben", "permits", "Amsterdam")
    amy = logged_in(desk_web, "amy")

    def grant(client: TestClient) -> Any:
        page = client.get(f"/permits/{row_id}")
        return client.post(
            f"/permits/{row_id}", data={"action": "grant", "csrf_token": csrf_of(page.text)}
        )

    assert grant(amy).headers["location"] == "/permits"
    assert desk_web.register.exemptions(["VNB12X"]) == {}
    again = grant(amy)
    assert again.headers["location"] == f"/permits/{row_id}"
    assert "Een tweede, andere medewerker" in amy.get(f"/permits/{row_id}").text
    ben = logged_in(desk_web, "ben")
    assert "Eerste verlening door een collega" in ben.get(f"/permits/{row_id}").text
    assert grant(ben).headers["location"] == "/permits"
    (held,) = desk_web.register.exemptions(["VNB12X"])["VNB12X"]
    assert held.type == "markthandel"


def test_the_counts_on_stromen(desk_web: Web) -> None:
    public = desk_web.client()
    submit(public, "amsterdam")  # refused (class 4)
    submit(public, "haarlem")  # granted
    add_officer(desk_web, "pia", "policy", "Haarlem")
    pia = logged_in(desk_web, "pia")
    assert 'href="/flows/exemptions"' in pia.get("/flows").text
    page = pia.get("/flows/exemptions")
    assert page.status_code == 200
    assert 'data-municipality="Haarlem"' in page.text
    assert 'data-municipality="Amsterdam"' not in page.text  # tenancy
    assert "Verleend van besloten: 100%" in page.text


def test_the_plate_check_leads_to_the_desk(desk_web: Web) -> None:
    client = desk_web.client()
    page = client.get("/platecheck", params={"plate": "VNB12X", "zone": "amsterdam"})
    assert page.status_code == 200
    assert 'href="/desk/amsterdam"' in page.text
    assert "Aanvragen bij het ontheffingsloket van Amsterdam" in page.text
    # A zone whose municipality has no desk gets no link.
    utrecht = client.get("/platecheck", params={"plate": "VNB12X", "zone": "utrecht"})
    assert "could-apply" in utrecht.text and "/desk/" not in utrecht.text


def test_a_broken_policy_closes_the_desk_not_the_app(
    web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = policy_dir(tmp_path)
    (folder / "framework.yaml").write_text("region: x\n", encoding="utf-8")
    monkeypatch.setenv("ZES_DESK_POLICY_DIR", str(folder))
    client = web.client()
    assert client.get("/desk/amsterdam").status_code == 503
    page = client.get("/platecheck", params={"plate": "VNB12X", "zone": "amsterdam"})
    assert page.status_code == 200 and "/desk/" not in page.text
