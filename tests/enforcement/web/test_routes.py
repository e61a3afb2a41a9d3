"""The review app over HTTP (TestClient), on SQLite and PostgreSQL, with the real Redis
register behind the re-checks."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select, update

from enforcement.casework import audit, review
from enforcement.casework.accounts import disable_user
from enforcement.casework.export import export
from enforcement.casework.models import AuditEntry, Case, EvidenceBlob, EvidenceItem, User
from enforcement.model import Exemption, Fuel, Vehicle
from enforcement.records import ExemptionFacts
from enforcement.register.redis import RedisRegister
from enforcement.settings import Settings
from enforcement.web.core.security import CONTENT_SECURITY_POLICY
from tests.enforcement.casework.conftest import SEEN, CaseDB
from tests.enforcement.web.conftest import (
    DIESEL_VAN,
    ELECTRIC_VAN,
    NOW,
    PASSWORD,
    Web,
    csrf_of,
    logged_in,
    login,
    make_web,
)
from zes.embedded import free_port

if TYPE_CHECKING:
    from starlette.testclient import TestClient

pytestmark = pytest.mark.redis


def _case(web: Web, case_id: int) -> Case:
    with web.db.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def _case_ids(web: Web) -> list[int]:
    with web.db.sessions() as session:
        return list(session.scalars(select(Case.id).order_by(Case.id)))


def _actions(web: Web, case_id: int | None = None) -> list[tuple[str, str]]:
    with web.db.sessions() as session:
        query = select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.seq)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        return [(actor, action) for actor, action in session.execute(query)]


def _claim_next(client: TestClient, web: Web) -> int:
    page = client.get("/queue")
    response = client.post("/queue/next", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    match = re.fullmatch(r"/cases/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def _post(client: TestClient, path: str, **data: str) -> Any:
    """A form post with this session's CSRF token (as the page's own form sends it)."""
    page = client.get("/queue")
    return client.post(path, data={"csrf_token": csrf_of(page.text), **data})


# -- access ----------------------------------------------------------------------------------
def test_pages_and_images_refuse_anonymous_requests(web: Web) -> None:
    web.add_case()
    [case_id] = _case_ids(web)
    with web.db.sessions() as session:
        item = session.scalars(select(EvidenceItem.id)).first()
    client = web.client()
    for path in ("/queue", f"/cases/{case_id}", "/supervisor"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    assert (
        client.get(f"/cases/{case_id}").headers["location"] == f"/login?next=%2Fcases%2F{case_id}"
    )
    image = client.get(f"/cases/{case_id}/evidence/{item}")
    assert image.status_code == 401
    assert not image.content.startswith(b"\xff\xd8")
    # A POST without a session has no CSRF token either: refused before anything runs.
    assert client.post(f"/cases/{case_id}/confirm").status_code == 403
    assert _case(web, case_id).status == "open"
    assert ("anna", "view_evidence") not in _actions(web)


def test_login_logout_and_a_copied_cookie_after_logout(web: Web) -> None:
    client = web.client()
    bad = login(client, "anna", "wrong password!!")
    assert bad.status_code == 401
    assert "Onbekende gebruikersnaam of onjuist wachtwoord." in bad.text
    good = login(client, "anna", PASSWORD)
    assert good.status_code == 303 and good.headers["location"] == "/queue"
    cookie = good.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "secure" in cookie.lower()
    assert client.get("/queue").status_code == 200
    copied = dict(client.cookies)
    assert (
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/queue").text)}).status_code
        == 303
    )
    assert client.get("/queue").status_code == 303
    thief = web.client()
    thief.cookies.update(copied)
    assert thief.get("/queue").status_code == 303  # the session id was revoked at logout
    assert [a for _, a in _actions(web) if a.startswith("log")] == [
        "login_failed",
        "login",
        "logout",
    ]


def test_sessions_end_after_session_hours_and_when_the_user_is_disabled(web: Web) -> None:
    client = logged_in(web, "anna")
    # In use all the time (a request every 20 minutes, inside the idle timeout) ...
    end = NOW + timedelta(hours=web.cases.session_hours - 0.1)
    while web.clock.now < end:
        web.clock.now = min(end, web.clock.now + timedelta(minutes=20))
        assert client.get("/queue").status_code == 200
    # ... it still ends after session_hours.
    web.clock.now = NOW + timedelta(hours=web.cases.session_hours + 0.1)
    assert client.get("/queue").status_code == 303
    web.clock.now = NOW
    other = logged_in(web, "bram")
    with web.db.sessions.begin() as session:
        disable_user(session, "bram", actor="test")
    assert other.get("/queue").status_code == 303
    assert login(web.client(), "bram").status_code == 401


def test_every_form_post_needs_the_session_csrf_token(web: Web) -> None:
    web.add_case()
    client = logged_in(web, "anna")
    case_id = _claim_next(client, web)
    missing_token = client.post(f"/cases/{case_id}/confirm")
    assert missing_token.status_code == 403
    assert "Het formulier is verlopen of ongeldig" in missing_token.text
    wrong = client.post(f"/cases/{case_id}/confirm", data={"csrf_token": "x" * 43})
    assert wrong.status_code == 403
    # Another session's token does not fit this session.
    foreign = csrf_of(logged_in(web, "bram").get("/queue").text)
    assert client.post(f"/cases/{case_id}/confirm", data={"csrf_token": foreign}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.post("/lang", data={"lang": "en"}).status_code == 403
    assert _case(web, case_id).status == "open"
    # Login itself is protected (login CSRF): a fresh client without the form's token.
    assert (
        web.client().post("/login", data={"username": "anna", "password": PASSWORD}).status_code
        == 403
    )
    ok = _post(client, f"/cases/{case_id}/confirm", attest="yes")
    assert ok.status_code == 303
    assert _case(web, case_id).status == "confirmed"


def test_login_rate_limit_per_address_and_per_user(web: Web) -> None:
    client = web.client()
    for _ in range(web.cases.login_attempts):
        assert login(client, "anna", "not the password").status_code == 401
    blocked = login(client, "anna", PASSWORD)  # right password, but blocked first
    assert blocked.status_code == 429
    assert "Te veel mislukte inlogpogingen" in blocked.text
    assert login(client, "sara", PASSWORD).status_code == 429  # same address
    failures = [a for _, a in _actions(web) if a == "login_failed"]
    assert len(failures) == web.cases.login_attempts  # blocked tries never reach argon2


def test_login_limits_count_user_names_across_addresses_and_forget_old_failures(
    web: Web,
) -> None:
    policy = web.app.state.zes.login_policy
    policy.failed("10.0.0.1", "Anna")
    policy.failed("10.0.0.2", "anna ")
    policy.failed("10.0.0.4", "anna")
    assert policy.user_delay("anna") > 0  # per user name, whatever the address
    assert policy.user_delay("bram") == 0
    assert not policy.address_blocked("10.0.0.1")  # one failure from that address
    assert not policy.address_blocked("10.0.0.3")
    web.clock.now = NOW + timedelta(seconds=2 * web.cases.login_window_s + 1)
    assert policy.user_delay("anna") == 0


def test_security_headers_on_pages_and_no_store_on_cases_and_images(web: Web) -> None:
    web.add_case()
    client = logged_in(web, "anna")
    case_id = _case_ids(web)[0]
    with web.db.sessions() as session:
        item = session.scalars(select(EvidenceItem.id)).first()
    for path in ("/login", "/queue", f"/cases/{case_id}", f"/cases/{case_id}/evidence/{item}"):
        response = (web.client() if path == "/login" else client).get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store", path
    assert (
        "script-src" not in CONTENT_SECURITY_POLICY
        and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    )
    page = client.get(f"/cases/{case_id}").text
    assert "<script" not in page and "style=" not in page  # the CSP forbids both
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers.get("cache-control") != "no-store"  # only the style sheet may be cached
    assert css.headers["x-content-type-options"] == "nosniff"


# -- queue -----------------------------------------------------------------------------------
def test_hostile_filter_input_is_harmless_and_escaped(web: Web) -> None:
    web.add_case()
    web.add_case("VNB99Z")
    client = logged_in(web, "anna")
    assert "2 zaken" in client.get("/queue").text
    injection = client.get("/queue", params={"zone": "utrecht' OR '1'='1"})
    assert injection.status_code == 200
    assert "0 zaken" in injection.text
    script = "<script>alert('zes')</script>"
    for field in ("zone", "age"):
        page = client.get("/queue", params={field: f'"><{script}'})
        assert page.status_code == 200
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(&#39;zes&#39;)&lt;/script&gt;" in page.text
    bad_status = client.get("/queue", params={"status": "open'; DROP TABLE cases; --"})
    assert bad_status.status_code == 200
    assert "Onbekende status" in bad_status.text and "0 zaken" in bad_status.text
    bad_age = client.get("/queue", params={"age": "1 OR 1=1"})
    assert "De leeftijd moet" in bad_age.text
    assert client.get("/queue", params={"vehicle_class": "van' --"}).status_code == 200
    assert client.get("/queue", params={"page": "1; DROP TABLE users"}).status_code == 400
    too_long = client.get("/queue", params={"zone": "x" * 65})
    assert "te lang" in too_long.text
    # A hostile "next case" form changes nothing either.
    nothing = _post(client, "/queue/next", zone="x' OR 1=1 --")
    assert nothing.headers["location"].startswith("/queue")
    assert len(_case_ids(web)) == 2
    with web.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 3
        assert all(c.claimed_by is None for c in session.scalars(select(Case)))


def test_queue_filters_and_pages(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(hours=48))
    web.add_case("VNB13X", zone="den-haag")
    plates = [f"AB{n:03d}C" for n in range(52)]
    for plate in plates:
        web.add_case(plate, images=False)
    client = logged_in(web, "anna")
    first = client.get("/queue")
    assert "54 zaken" in first.text and "Pagina 1 van 2" in first.text
    assert 'rel="next"' in first.text
    second = client.get("/queue", params={"page": 2})
    assert second.text.count("/cases/") == 4  # 54 - 50
    assert "54 zaken" in client.get("/queue", params={"vehicle_class": "van"}).text
    assert "0 zaken" in client.get("/queue", params={"vehicle_class": "tractor"}).text
    den_haag = client.get("/queue", params={"zone": "den-haag"}).text
    assert "1 zaken" in den_haag and '<td class="text">den-haag</td>' in den_haag
    assert '<td class="text">utrecht</td>' not in den_haag
    old = client.get("/queue", params={"age": "30"}).text  # first seen 30 h or more ago
    assert "1 zaken" in old
    assert "0 zaken" in client.get("/queue", params={"status": "approved"}).text


def test_next_case_claims_one_case_per_reviewer(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(hours=1))
    web.add_case("VNB99Z")
    anna, bram = logged_in(web, "anna"), logged_in(web, "bram")
    first = _claim_next(anna, web)
    second = _claim_next(bram, web)
    assert first != second
    assert _case(web, first).claimed_by == web.users["anna"]
    assert _case(web, first).plate == "VNB12X"  # the oldest first
    assert _claim_next(anna, web) == first  # her own claim, not a third case
    sara = logged_in(web, "sara")
    none = _post(sara, "/queue/next")
    assert none.headers["location"] == "/queue"
    assert "Er is nu geen zaak voor u beschikbaar." in sara.get("/queue").text
    # Claims expire: after claim_minutes the case is free for someone else.
    web.clock.now = NOW + timedelta(minutes=web.cases.claim_minutes + 1)
    assert _claim_next(sara, web) == first


# -- case page -------------------------------------------------------------------------------
def test_case_page_shows_the_evidence_read_register_facts_rules_and_sightings(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(days=3))  # an earlier case of the plate
    refused = ExemptionFacts(
        type="dagontheffing",
        scope="Utrecht",
        starts_at=datetime(2026, 3, 1, 23, 0, tzinfo=UTC),
        ends_before=datetime(2026, 3, 3, 5, 0, tzinfo=UTC),
        status="refused",
        reference="DG-<b>1</b>",
    )
    passage = web.add_case("VNB12X", alternatives=(("VNB12K", 0.41),), exemptions=(refused,))
    client = logged_in(web, "anna")
    older, case_id = _case_ids(web)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    text = page.text
    assert 'id="img-overview"' in text and 'id="img-plate_crop"' in text
    assert "Bestelauto klasse 5: geen toegang." in text  # the rule sentence, in Dutch
    assert "R12" in text
    assert "Bedrijfsauto" in text and "Diesel" in text and "3000 kg" in text
    assert '<dd class="emission-class">5</dd>' in text
    assert 'id="char-confidences"' in text and "96%" in text and "95%" in text
    assert re.search(
        r'<ul id="alternatives"><li><span class="plate">VNB-?12-?K</span> \(41%\)', text
    )
    assert "VNB-12-X" in text or "VNB12X" in text
    assert "<td>dagontheffing</td><td>Utrecht</td><td>refused</td>" in text
    assert "2 maart 2026 00:00" in text  # the permit's start, in Dutch local time
    assert "DG-&lt;b&gt;1&lt;/b&gt;" in text
    assert f'href="/cases/{older}"' in text  # other case of this plate in this zone
    assert "Boete van EUR 120 plus EUR 9 administratiekosten." in text
    assert not re.search(r'id="notice-recheck', text)  # the register answered; still a violation
    assert _case(web, case_id).status == "open"
    assert ("anna", "view_case") in _actions(web, case_id)
    # Images: integrity-checked, never cached, logged.
    with web.db.sessions() as session:
        rows = session.execute(
            select(EvidenceItem.kind, EvidenceItem.id).where(
                EvidenceItem.passage_id == str(passage)
            )
        )
        items = {row[0]: row[1] for row in rows}
        crop_hash = session.scalar(
            select(EvidenceItem.sha256).where(EvidenceItem.id == items["plate_crop"])
        )
    image = client.get(f"/cases/{case_id}/evidence/{items['plate_crop']}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["cache-control"] == "no-store"
    import hashlib

    assert hashlib.sha256(image.content).hexdigest() == crop_hash
    assert ("anna", "view_evidence") in _actions(web, case_id)
    # An image of another case's passage is not served through this case.
    with web.db.sessions() as session:
        foreign = session.scalars(
            select(EvidenceItem.id).where(EvidenceItem.passage_id != str(passage))
        ).first()
    assert client.get(f"/cases/{case_id}/evidence/{foreign}").status_code == 404
    # English on request, from the same catalogue and the record's English sentences.
    _post(client, "/lang", lang="en", next=f"/cases/{case_id}")
    english = client.get(f"/cases/{case_id}").text
    assert "Van class 5: no access." in english and "Rules applied" in english
    assert "Bestelauto klasse 5" not in english


def test_missing_evidence_is_said_plainly(web: Web) -> None:
    web.add_case(images=False)
    client = logged_in(web, "anna")
    [case_id] = _case_ids(web)
    text = client.get(f"/cases/{case_id}").text
    assert text.count("Bewijs nog niet ontvangen.") >= 2
    assert 'id="missing-overview"' in text and 'id="missing-plate_crop"' in text
    assert "<img" not in text


def test_tampered_evidence_is_never_shown(web: Web) -> None:
    web.add_case()
    client = logged_in(web, "anna")
    [case_id] = _case_ids(web)
    with web.db.sessions.begin() as session:
        item = session.scalars(select(EvidenceItem).where(EvidenceItem.kind == "overview")).one()
        blob = session.get(EvidenceBlob, item.sha256)
        assert blob is not None
        ciphertext = bytearray(blob.ciphertext)
        ciphertext[-1] ^= 0xFF
        session.execute(
            update(EvidenceBlob)
            .where(EvidenceBlob.sha256 == item.sha256)
            .values(ciphertext=bytes(ciphertext))
        )
        item_id = item.id
    response = client.get(f"/cases/{case_id}/evidence/{item_id}")
    assert response.status_code == 500
    assert "beschadigd of gewijzigd" in response.text
    assert not response.content.startswith(b"\xff\xd8")
    actions = _actions(web, case_id)
    assert ("anna", "evidence_integrity_failed") in actions
    assert ("anna", "view_evidence") not in actions


def test_a_late_exemption_closes_the_case_when_it_is_opened(web: Web) -> None:
    web.add_case()
    [case_id] = _case_ids(web)
    client = logged_in(web, "anna")
    assert 'id="notice-recheck_closed"' not in client.get(f"/cases/{case_id}").text
    web.register.add_exemptions([Exemption.day_permit("VNB12X", "Utrecht", date(2026, 3, 2))])
    page = client.get(f"/cases/{case_id}")
    assert 'id="notice-recheck_closed"' in page.text
    assert "Deze zaak is vanzelf gesloten" in page.text
    case = _case(web, case_id)
    assert (case.status, case.close_reason) == ("closed", "covered_later")
    assert ("anna", "close") in _actions(web, case_id)
    metrics = generate_latest(web.app.state.zes.metrics.registry).decode()
    assert 'zes_review_decisions_total{action="close"} 1.0' in metrics
    # Closed stays closed: no actions, no second close.
    again = client.get(f"/cases/{case_id}").text
    assert 'id="notice-recheck_closed"' not in again and 'id="form-confirm"' not in again
    assert [a for _, a in _actions(web, case_id)].count("close") == 1


def test_a_register_outage_warns_and_changes_nothing(
    case_db: CaseDB, zones_settings: Settings, tmp_path: object
) -> None:
    import redis

    dead = redis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.3, socket_timeout=0.3
    )
    web = make_web(case_db, RedisRegister(dead, "zes-nowhere"), zones_settings, tmp_path)  # type: ignore[arg-type]
    web.add_case()
    [case_id] = _case_ids(web)
    client = logged_in(web, "anna")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'id="notice-recheck_unavailable"' in page.text
    assert "Het register is nu niet bereikbaar" in page.text
    assert _case(web, case_id).status == "open"
    assert "close" not in [a for _, a in _actions(web, case_id)]


# -- actions ---------------------------------------------------------------------------------
def test_four_eyes_the_confirmer_cannot_approve_and_another_reviewer_can(web: Web) -> None:
    web.add_case()
    anna, bram = logged_in(web, "anna"), logged_in(web, "bram")
    case_id = _claim_next(anna, web)
    page = anna.get(f"/cases/{case_id}").text
    assert 'id="form-confirm"' in page and 'id="form-approve"' not in page
    assert _post(anna, f"/cases/{case_id}/confirm", attest="yes").status_code == 303
    assert _case(web, case_id).status == "confirmed"
    own = anna.get(f"/cases/{case_id}").text
    assert 'id="form-approve"' not in own and 'id="form-claim"' not in own
    assert 'id="notice-own-confirmation"' in own
    # Forced posts: claiming her own confirmation, then approving it, are both refused.
    claim = _post(anna, f"/cases/{case_id}/claim")
    assert claim.status_code == 409
    forced = _post(anna, f"/cases/{case_id}/approve")
    assert forced.status_code == 409
    # Even holding a claim (taken behind the app's back) the service refuses her approval.
    with web.db.sessions.begin() as session:
        case = session.get(Case, case_id)
        user = session.get(User, web.users["anna"])
        assert case is not None and user is not None
        with pytest.raises(review.ReviewError, match="four_eyes_same_reviewer"):
            review.claim(session, case, user, NOW, 15)
        case.claimed_by, case.claim_expires_at = user.id, NOW + timedelta(minutes=15)
    forced = _post(anna, f"/cases/{case_id}/approve")
    assert forced.status_code == 409
    assert "U heeft deze zaak zelf bevestigd" in forced.text
    assert _case(web, case_id).status == "confirmed"
    with web.db.sessions.begin() as session:
        session.execute(update(Case).values(claimed_by=None, claim_expires_at=None))
    # Bram's "next case" hands him the confirmation to approve.
    assert _claim_next(bram, web) == case_id
    assert 'id="form-approve"' in bram.get(f"/cases/{case_id}").text
    assert _post(bram, f"/cases/{case_id}/approve").status_code == 303
    case = _case(web, case_id)
    assert (case.status, case.confirmed_by, case.approved_by) == (
        "approved",
        web.users["anna"],
        web.users["bram"],
    )
    metrics = generate_latest(web.app.state.zes.metrics.registry).decode()
    assert 'zes_review_decisions_total{action="confirm"} 1.0' in metrics
    assert 'zes_review_decisions_total{action="approve"} 1.0' in metrics
    # The export takes the case exactly once.
    first = export(
        web.db.sessions, web.work_dir / "exports", web.rechecker, actor="test", clock=lambda: NOW
    )
    second = export(
        web.db.sessions, web.work_dir / "exports", web.rechecker, actor="test", clock=lambda: NOW
    )
    [batch] = first.batches
    assert (batch.kind, batch.cases) == ("fine", 1)
    path = batch.path
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    assert [r["case_key"] for r in rows] == [case.case_key]
    assert second.batches == []


def test_four_eyes_can_be_off_for_a_zone(
    case_db: CaseDB, register: RedisRegister, zones_settings: Settings, tmp_path: object
) -> None:
    web = make_web(case_db, register, zones_settings, tmp_path, four_eyes_zones={"utrecht": False})  # type: ignore[arg-type]
    web.add_case()
    anna = logged_in(web, "anna")
    case_id = _claim_next(anna, web)
    assert "tweede boa" not in anna.get(f"/cases/{case_id}").text
    _post(anna, f"/cases/{case_id}/confirm", attest="yes")
    case = _case(web, case_id)
    assert (case.status, case.approved_by) == ("approved", web.users["anna"])


def test_reject_needs_a_valid_reason_and_text_for_other(web: Web) -> None:
    web.add_case()
    web.add_case("VNB99Z")
    anna = logged_in(web, "anna")
    case_id = _claim_next(anna, web)
    no_text = _post(anna, f"/cases/{case_id}/reject", reason="other", text="  ")
    assert no_text.status_code == 400
    assert "Geef een toelichting bij" in no_text.text
    bogus = _post(anna, f"/cases/{case_id}/reject", reason="' OR 1=1 --")
    assert bogus.status_code == 400
    assert _case(web, case_id).status == "open"
    done = _post(
        anna, f"/cases/{case_id}/reject", reason="other", text="<b>bus</b> van de gemeente"
    )
    assert done.headers["location"] == "/queue"
    case = _case(web, case_id)
    assert (case.status, case.reject_reason) == ("rejected", "other")
    shown = anna.get(f"/cases/{case_id}").text
    assert "&lt;b&gt;bus&lt;/b&gt;" in shown and "<b>bus</b>" not in shown
    second = _claim_next(anna, web)
    _post(anna, f"/cases/{second}/reject", reason="misread")
    metrics = generate_latest(web.app.state.zes.metrics.registry).decode()
    assert 'zes_review_rejects_total{reason="other"} 1.0' in metrics
    assert 'zes_review_rejects_total{reason="misread"} 1.0' in metrics
    assert 'zes_review_decisions_total{action="reject"} 2.0' in metrics
    # A stale form (the case is already rejected) is refused.
    stale = _post(anna, f"/cases/{case_id}/reject", reason="misread")
    assert stale.status_code == 409


def test_acting_without_a_claim_is_refused(web: Web) -> None:
    web.add_case()
    anna, bram = logged_in(web, "anna"), logged_in(web, "bram")
    case_id = _claim_next(anna, web)
    assert 'id="form-confirm"' not in bram.get(f"/cases/{case_id}").text
    refused = _post(bram, f"/cases/{case_id}/confirm", attest="yes")
    assert refused.status_code == 409
    assert "Neem de zaak eerst in behandeling" in refused.text
    assert _post(bram, f"/cases/{case_id}/claim").status_code == 409
    assert _case(web, case_id).claimed_by == web.users["anna"]


def test_escalations_go_to_supervisors(web: Web) -> None:
    web.add_case()
    anna, sara = logged_in(web, "anna"), logged_in(web, "sara")
    case_id = _claim_next(anna, web)
    _post(anna, f"/cases/{case_id}/escalate", note="twijfel over de uitsnede")
    assert _case(web, case_id).status == "escalated"
    assert 'id="form-claim"' not in anna.get(f"/cases/{case_id}").text
    assert _post(anna, "/queue/next").headers["location"] == "/queue"
    assert _claim_next(sara, web) == case_id
    _post(sara, f"/cases/{case_id}/confirm", attest="yes")
    assert _case(web, case_id).status == "confirmed"


def test_correcting_the_plate_reruns_the_decision(web: Web) -> None:
    web.add_case("VNB12Z")  # misread of the electric van VNB12Y
    web.add_case("VN812X", decision="undetermined", sanction="none")  # B read as 8
    anna = logged_in(web, "anna")
    first = _claim_next(anna, web)
    bad = _post(anna, f"/cases/{first}/correct", plate="!!!")
    assert bad.status_code == 400
    _post(anna, f"/cases/{first}/correct", plate="vnb-12-y")
    case = _case(web, first)
    # A correction that closes the case needs a second reviewer, like a confirmation.
    assert (case.status, case.reject_reason, case.corrected_plate) == (
        "confirmed",
        None,
        "VNB12Y",
    )
    assert case.correction is not None and case.correction["from"] == "VNB12Z"
    page = anna.get(f"/cases/{first}").text
    assert "Kenteken gecorrigeerd van" in page and 'id="notice-closing-correction"' in page
    bram = logged_in(web, "bram")
    assert _claim_next(bram, web) == first
    assert _post(bram, f"/cases/{first}/approve").status_code == 303
    case = _case(web, first)
    assert (case.status, case.reject_reason) == ("rejected", "misread")
    second = _claim_next(anna, web)
    undetermined = anna.get(f"/cases/{second}").text
    assert 'id="notice-identify"' in undetermined and 'id="form-confirm"' not in undetermined
    assert _post(anna, f"/cases/{second}/confirm", attest="yes").status_code == 409
    _post(anna, f"/cases/{second}/correct", plate="VNB12X")  # identified: the diesel van
    case = _case(web, second)
    assert (case.status, case.needs_identification, case.corrected_plate) == (
        "open",
        False,
        "VNB12X",
    )
    assert 'id="form-confirm"' in anna.get(f"/cases/{second}").text
    metrics = generate_latest(web.app.state.zes.metrics.registry).decode()
    assert 'zes_review_decisions_total{action="correct"} 2.0' in metrics


# -- supervisors and metrics ------------------------------------------------------------------
def test_supervisor_page_is_for_supervisors_and_counts_from_the_audit_log(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(hours=5))
    web.add_case("VNB99Z")
    anna, sara = logged_in(web, "anna"), logged_in(web, "sara")
    forbidden = anna.get("/supervisor")
    assert forbidden.status_code == 403
    assert "U heeft geen toegang" in forbidden.text
    first = _claim_next(anna, web)
    _post(anna, f"/cases/{first}/reject", reason="unreadable")
    page = sara.get("/supervisor")
    assert page.status_code == 200
    text = page.text
    assert re.search(
        r'<td class="text">anna</td>(<td class="num">\d+</td>){5}<td class="num">1</td>', text
    )
    assert "onleesbaar" in text
    second = _case_ids(web)[1]
    assert f'href="/cases/{second}"' in text  # the oldest open case
    assert "Oudste open zaak" in text


def test_metrics_read_the_queue_from_the_database_and_never_name_a_plate(web: Web) -> None:
    web.add_case("VNB12X", seen_at=SEEN - timedelta(hours=2))
    web.add_case("VNB99Z")
    web.add_case("VNB13X", zone="den-haag")
    text = generate_latest(web.app.state.zes.metrics.registry).decode()
    assert 'zes_review_queue_cases{status="open",zone="utrecht"} 2.0' in text
    assert 'zes_review_queue_cases{status="open",zone="den-haag"} 1.0' in text
    age = (NOW - (SEEN - timedelta(hours=2))).total_seconds()
    assert f'zes_review_oldest_open_case_age_seconds{{zone="utrecht"}} {age}' in text
    for action in ("confirm", "reject", "approve", "escalate", "correct", "close"):
        assert f'zes_review_decisions_total{{action="{action}"}} 0.0' in text
    for plate in ("VNB12X", "VNB99Z", "VNB13X"):
        assert plate not in text


def test_language_switch_only_redirects_within_the_site(web: Web) -> None:
    client = web.client()
    token = csrf_of(client.get("/login").text)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        response = client.post("/lang", data={"lang": "en", "next": target, "csrf_token": token})
        assert response.headers["location"] == "/queue", target
    assert "Log in" in client.get("/login").text
    response = client.post("/lang", data={"lang": "xx", "next": "/login", "csrf_token": token})
    assert response.headers["location"] == "/login"
    assert "Log in" in client.get("/login").text  # an unknown language changes nothing


def test_the_audit_chain_holds_after_a_review_session(web: Web) -> None:
    web.add_case()
    anna = logged_in(web, "anna")
    case_id = _claim_next(anna, web)
    anna.get(f"/cases/{case_id}")
    _post(anna, f"/cases/{case_id}/confirm", attest="yes")
    with web.db.sessions() as session:
        report = audit.verify(session)
    assert report.ok and report.entries >= 5


def test_ui_catalogue_covers_every_template_key() -> None:
    import string
    from pathlib import Path

    from enforcement.web.texts import UI

    assert set(UI["nl"]) == set(UI["en"])
    for key in UI["en"]:
        names = {f for _, f, _, _ in string.Formatter().parse(UI["en"][key]) if f}
        assert names == {f for _, f, _, _ in string.Formatter().parse(UI["nl"][key]) if f}, key
    templates = Path(__file__).resolve().parents[3] / "enforcement" / "web" / "templates"
    used = set()
    for path in templates.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"(?<![\w.])t\('([a-z0-9_]+)'\s*[,)]", text))
    assert used and used <= set(UI["en"]), used - set(UI["en"])
    # Keys built in templates and code: statuses, reasons, roles, classes, errors.
    from enforcement.casework.models import CaseStatus, RejectReason, Role
    from enforcement.model import VehicleClass

    built = (
        {f"status_{s.value}" for s in CaseStatus}
        | {f"reason_{r.value}" for r in RejectReason}
        | {f"role_{r.value}" for r in Role}
        | {f"vclass_{c.value}" for c in VehicleClass}
    )
    assert built <= set(UI["en"]), built - set(UI["en"])


# -- issue 21: the vehicle described, the attestation, look-alikes, notes --------------------
def test_a_confirmation_needs_the_attestation_tick_and_it_is_audited(web: Web) -> None:
    web.add_case()
    anna = logged_in(web, "anna")
    case_id = _claim_next(anna, web)
    page = anna.get(f"/cases/{case_id}").text
    assert 'name="attest"' in page and "komt overeen met de registerbeschrijving" in page
    refused = _post(anna, f"/cases/{case_id}/confirm")
    assert refused.status_code == 400
    assert "Vink eerst aan" in refused.text
    assert _case(web, case_id).status == "open"
    assert ("anna", "confirm") not in _actions(web, case_id)
    assert _post(anna, f"/cases/{case_id}/confirm", attest="yes").status_code == 303
    assert _case(web, case_id).status == "confirmed"
    with web.db.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "confirm")).one()
        assert entry.detail["attested"] is True


def test_the_case_page_describes_the_registered_vehicle_and_its_look_alikes(web: Web) -> None:
    # A battery-electric van one look-alike (B/8) away from the read diesel van.
    look_alike = Vehicle(
        plate="VN812X", kind="Bedrijfsauto", max_mass_kg=3000, eu_category="N1",
        first_admission=date(2022, 5, 1), first_nl_registration=date(2022, 5, 1),
        fuels=(Fuel("Elektriciteit", None),),
    )  # fmt: skip
    web.register.replace_vehicles([DIESEL_VAN, ELECTRIC_VAN, look_alike])
    web.add_case("VNB12X")
    anna = logged_in(web, "anna")
    case_id = _claim_next(anna, web)
    page = anna.get(f"/cases/{case_id}").text
    assert "Geregistreerd: wit MERCEDES-BENZ SPRINTER, gesloten opbouw, N1" in page
    assert re.search(r'class="lookalike allowed"><span class="plate">VN-812-X</span>', page)
    assert "mocht de zone in" in page
    assert 'id="decision-headline"' in page and "niet toegestaan" in page
    anna.post("/lang", data={"lang": "en", "next": "/queue", "csrf_token": csrf_of(page)})
    english = anna.get(f"/cases/{case_id}").text
    assert "Registered: white MERCEDES-BENZ SPRINTER, closed body, N1" in english
    assert "could enter" in english


def test_notes_are_on_the_case_page_never_in_the_audit_log(web: Web) -> None:
    web.add_case()
    anna, sara = logged_in(web, "anna"), logged_in(web, "sara")
    case_id = _claim_next(anna, web)
    note = "Chauffeur belde: Piet Jansen 06-98765432"
    _post(anna, f"/cases/{case_id}/escalate", note=note)
    page = sara.get(f"/cases/{case_id}").text
    assert "Piet Jansen 06-98765432" in page and "escalatie" in page
    assert _post(sara, f"/cases/{case_id}/note", text="  ").status_code == 400
    assert _post(sara, f"/cases/{case_id}/note", text="Kenteken nagevraagd").status_code == 303
    assert "Kenteken nagevraagd" in sara.get(f"/cases/{case_id}").text
    audit_page = sara.get("/audit").text
    assert "06-98765432" not in audit_page and "Kenteken nagevraagd" not in audit_page
    with web.db.sessions() as session:
        details = [e.detail for e in session.scalars(select(AuditEntry))]
        assert "06-98765432" not in str(details)
        assert [d["kind"] for d in details if "digest" in d and "kind" in d] == [
            "escalate",
            "note",
        ]


def test_a_vehicle_mismatch_is_counted_per_camera_for_supervisors(web: Web) -> None:
    web.add_case()
    anna, sara = logged_in(web, "anna"), logged_in(web, "sara")
    case_id = _claim_next(anna, web)
    done = _post(anna, f"/cases/{case_id}/reject", reason="vehicle_mismatch")
    assert done.status_code == 303
    assert _case(web, case_id).reject_reason == "vehicle_mismatch"
    page = sara.get("/supervisor?days=7").text
    section = page[page.index('id="mismatch"') :]
    assert re.search(r"<td class=\"text\">site-1 / cam-1</td><td class=\"num\">1</td>", section)
    assert "vermoedelijk verkeerd gelezen of gekloond" in page
