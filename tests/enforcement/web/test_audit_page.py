"""The audit log page: filters (case, user, action, period), actions in words in either
language, and the chain's verification with its anchor."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from enforcement.casework import audit
from enforcement.casework.models import AuditEntry, Case
from tests.enforcement.casework.test_audit import tampering
from tests.enforcement.web.conftest import Web, csrf_of, logged_in

pytestmark = pytest.mark.redis

ROW = re.compile(
    r'<tr><td class="num">(\d+)</td><td class="text">[^<]*</td><td class="text">([^<]*)</td>'
    r'<td class="text">([^<]*)</td><td class="num">(?:<a href="/cases/(\d+)">)?'
)


def _rows(html: str) -> list[tuple[int, str, str, int | None]]:
    return [
        (int(seq), actor, action, int(case) if case else None)
        for seq, actor, action, case in ROW.findall(html)
    ]


def _two_cases(web: Web) -> list[int]:
    web.add_case("VNB12X")
    web.add_case("VNB12Y")
    with web.db.sessions() as session:
        ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    for case_id in ids:
        logged_in(web, "anna").get(f"/cases/{case_id}")
    logged_in(web, "bram").get(f"/cases/{ids[1]}")
    return ids


def test_the_audit_log_filters_by_case_user_action_and_period(web: Web) -> None:
    first, second = _two_cases(web)
    sara = logged_in(web, "sara")
    by_case = _rows(sara.get(f"/audit?case={second}").text)
    assert by_case and {case for *_, case in by_case} == {second}
    assert {actor for _, actor, _, _ in by_case} == {"anna", "bram"}
    by_user = _rows(sara.get("/audit?user=bram").text)
    assert by_user and {actor for _, actor, _, _ in by_user} == {"bram"}
    viewed = _rows(sara.get("/audit?action=view_case&user=anna").text)
    assert [(a, w, c) for _, a, w, c in viewed] == [
        ("anna", "zaak bekeken", second), ("anna", "zaak bekeken", first),
    ]  # fmt: skip
    today = web.clock.now.date()
    assert _rows(sara.get(f"/audit?from={today}&to={today}&user=anna").text)
    before = today - timedelta(days=1)
    empty = sara.get(f"/audit?from={before}&to={before}")
    assert _rows(empty.text) == [] and 'id="audit-none"' in empty.text
    form = sara.get("/audit?case=&user=&action=&from=&to=")  # the form sent empty
    assert form.status_code == 200 and _rows(form.text)
    assert sara.get("/audit?from=yesterday").status_code == 400


def test_actions_are_words_in_dutch_and_english(web: Web) -> None:
    _two_cases(web)
    sara = logged_in(web, "sara")
    page = sara.get("/audit")
    actions = {action for _, _, action, _ in _rows(page.text)}
    assert {"zaak bekeken", "ingelogd"} <= actions
    assert not any("_" in action for action in actions)  # no snake_case codes
    token = csrf_of(page.text)
    sara.post("/lang", data={"lang": "en", "next": "/audit", "csrf_token": token})
    english = {action for _, _, action, _ in _rows(sara.get("/audit").text)}
    assert {"case viewed", "logged in", "audit log viewed"} <= english


def test_the_page_says_whether_the_chain_verifies_and_shows_its_anchor(web: Web) -> None:
    _two_cases(web)
    sara = logged_in(web, "sara")
    page = sara.get("/audit").text
    assert 'id="chain-status" data-ok="true"' in page
    with web.db.sessions() as session:
        anchor = audit.anchor(session)
    shown = re.search(r'id="chain-anchor">[^<]*?(\d+)[^<]*?([0-9a-f]{64})', page)
    assert shown, page
    # Read before this view's own entry was written: the anchor is one entry behind.
    assert int(shown.group(1)) == anchor.count - 1
    with tampering(web.db) as session:  # the database owner edits an entry
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="someone-else"))
    # Between whole walks a view checks only the entries written since the last one
    # (`ChainWatch`: a whole walk per view took seconds on a year's chain) ...
    watch = web.app.state.zes.chain
    assert 'id="chain-status" data-ok="true"' in sara.get("/audit").text
    # ... and the next whole walk, at most 10 minutes on, names the edited entry.
    walked = watch.clock()
    watch.clock = lambda: walked + watch.full_every_s + 1
    tampered = sara.get("/audit").text
    assert 'id="chain-status" data-ok="false"' in tampered
    assert "regel 3" in tampered
