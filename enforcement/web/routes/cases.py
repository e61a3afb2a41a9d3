"""The case page, its evidence images and the reviewer's actions.

Opening a case asks the register again (a late exemption closes the case; an outage only
shows a warning) and writes `view_case` to the audit log; every image shown is checked
against its SHA-256 and logged as `view_evidence`. Actions lock the case row, so two
reviewers can never both act on one case, and a stale form fails on the case's status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit, dossier, outcomes, review
from enforcement.casework.evidence import EvidenceIntegrityError
from enforcement.casework.models import (
    ACTIVE_STATUSES,
    OUTCOME_STATUSES,
    Case,
    CaseOutcome,
    CaseStatus,
    EvidenceItem,
    RejectReason,
    Role,
    Sighting,
    User,
)
from enforcement.casework.tenancy import CaseScope
from enforcement.model import LOCAL_TZ
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import flash, lang_of, render
from enforcement.web.deps import Context, CurrentUser, Db, Scope, Supervisor

log = logging.getLogger("zes.review")

router = APIRouter()

#: Statuses the register re-check may still close (as `review.recheck_exemptions`).
RECHECKED = frozenset({*(s.value for s in ACTIVE_STATUSES), CaseStatus.APPROVED.value})
EVIDENCE_KINDS = ("overview", "plate_crop")
#: Served as an image only when it is one of these; anything else is never rendered inline.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: Review errors that are the reviewer's input, not the case's state.
INPUT_ERRORS = frozenset({"bad_reason", "reason_text_required", "bad_plate", "bad_outcome"})


def _case_or_404(db: Session, case_id: int, scope: CaseScope, *, lock: bool = False) -> Case:
    """The case, if it is there for this user: another municipality's case answers 404 as
    one that does not exist (tenancy: not even its existence is shown)."""
    case = db.get(Case, case_id, with_for_update=lock)
    if case is None or not scope.sees(case):
        raise HTTPException(status_code=404)
    return case


def _claimable(case: Case, user: User, now: datetime) -> bool:
    return review.claim_problem(case, user, now) is None


@dataclass(frozen=True, slots=True)
class Read:
    plate: str
    raw: str
    confidence: float
    chars: list[tuple[str, float]]
    alternatives: list[tuple[str, float]]


def _read(case: Case, opening: Sighting | None) -> Read:
    record = case.record
    raw = opening.plate_raw if opening else str(record.get("plate_raw", case.plate))
    confidence = opening.confidence if opening else float(record.get("confidence", 0.0))
    stored = opening.char_confidences if opening else {}
    values = [float(v) for v in stored.get("chars") or record.get("char_confidences") or []]
    text = case.plate if len(case.plate) == len(values) else raw
    chars = [(text[i] if i < len(text) else "?", v) for i, v in enumerate(values)]
    alternatives = [
        (str(a.get("plate", "")), float(a.get("confidence", 0.0)))
        for a in (stored.get("alternatives") or record.get("alternatives") or [])
        if isinstance(a, dict)
    ]
    return Read(case.plate, raw, confidence, chars, alternatives)


def _usernames(db: Session, *ids: int | None) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


def case_view(
    ctx: WebContext, db: Session, case: Case, user: User, lang: str, now: datetime
) -> dict[str, Any]:
    """Everything the case page shows, read in the caller's transaction."""
    sightings = review.sightings(db, case)
    opening_id = str(case.record.get("passage_id", ""))
    opening = next((s for s in sightings if s.passage_id == opening_id), None) or (
        sightings[0] if sightings else None
    )
    items = (
        db.scalars(
            select(EvidenceItem).where(
                EvidenceItem.passage_id.in_([s.passage_id for s in sightings]),
                EvidenceItem.pending.is_(False),
            )
        ).all()
        if sightings
        else []
    )
    by_passage: dict[str, dict[str, int]] = {}
    for item in items:
        by_passage.setdefault(item.passage_id, {})[item.kind] = item.id
    # The images of the opening passage; if it has none yet, of the first one that has.
    shown = opening.passage_id if opening else ""
    if shown not in by_passage:
        shown = next((s.passage_id for s in sightings if s.passage_id in by_passage), shown)
    images = {kind: by_passage.get(shown, {}).get(kind) for kind in EVIDENCE_KINDS}
    record = case.record
    vehicle = record.get("vehicle") if isinstance(record.get("vehicle"), dict) else None
    rules = [
        (str(r.get("rule_id", "")), str(r.get(lang) or r.get("en") or ""))
        for r in record.get("rules") or []
        if isinstance(r, dict)
    ]
    names = _usernames(db, case.claimed_by, case.confirmed_by, case.approved_by)
    holds = review.holds(case, user, now)
    status = case.status
    correction = case.correction or None
    return {
        "case": case,
        "read": _read(case, opening),
        "vehicle": vehicle,
        "fuels": [f for f in (vehicle or {}).get("fuels") or [] if isinstance(f, dict)],
        "rules": rules,
        "exemptions": [e for e in record.get("exemptions") or [] if isinstance(e, dict)],
        "window": record.get("window") if isinstance(record.get("window"), dict) else None,
        "sightings": sightings,
        "evidence_of": by_passage,
        "images": images,
        "others": review.other_sightings(db, case),
        "names": names,
        "correction": correction,
        "correction_sentences": (correction or {}).get(lang) or [],
        "holds": holds,
        "claim_expired": case.claim_expires_at is not None and case.claim_expires_at < now,
        "can_claim": not holds and _claimable(case, user, now),
        "can_confirm": holds
        and status in (CaseStatus.OPEN, CaseStatus.ESCALATED)
        and not case.needs_identification,
        "can_approve": holds and status == CaseStatus.CONFIRMED and case.confirmed_by != user.id,
        "can_reject": holds
        and status in (CaseStatus.OPEN, CaseStatus.CONFIRMED, CaseStatus.ESCALATED),
        "can_correct": holds and status in (CaseStatus.OPEN, CaseStatus.ESCALATED),
        "can_escalate": holds and status in (CaseStatus.OPEN, CaseStatus.CONFIRMED),
        "own_confirmation": status == CaseStatus.CONFIRMED and case.confirmed_by == user.id,
        "closing_correction": review.closing_correction(case),
        "four_eyes": ctx.cases.four_eyes_for(case.zone_id),
        "reasons": [r.value for r in RejectReason],
        # After the export (issue 22): what came back, and a supervisor's form and dossier.
        "outcomes": db.scalars(
            select(CaseOutcome)
            .where(CaseOutcome.case_id == case.id)
            .order_by(CaseOutcome.decided_on, CaseOutcome.id)
        ).all(),
        "supervises": user.role in (Role.SUPERVISOR, Role.ADMIN),
        "can_outcome": user.role in (Role.SUPERVISOR, Role.ADMIN)
        and status in outcomes.AFTER_EXPORT,
        "outcome_statuses": [s.value for s in OUTCOME_STATUSES],
        "today": now.astimezone(LOCAL_TZ).date().isoformat(),
        "here": f"/cases/{case.id}",
    }


@router.get("/cases/{case_id}")
def case_page(
    request: Request, case_id: int, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    now = ctx.clock()
    notices: list[str] = []
    closed_now = False
    case = _case_or_404(db, case_id, scope, lock=True)
    # A correction that closes the case waits for a second reviewer: the re-check of the
    # corrected plate (which may enter) must not close it past them.
    if case.status in RECHECKED and not review.closing_correction(case):
        before = case.status
        check = review.recheck_exemptions(db, case, ctx.rechecker, now, actor=user.username)
        if check.decision is None:
            notices.append("recheck_unavailable")
            log.warning("register re-check of case %d failed: %s", case.id, check.unavailable)
        elif before != case.status and case.status == CaseStatus.CLOSED:
            closed_now = True
    audit.append(db, user.username, "view_case", case_id=case.id, at=now)
    view = case_view(ctx, db, case, user, lang_of(request), now)
    db.commit()
    if closed_now:
        ctx.metrics.decided("close")
        notices.append("recheck_closed")
    return render(request, "case.html", notices=notices, **view)


@dataclass(frozen=True, slots=True)
class Acting:
    """What every case action gets from its route: the request and its dependencies."""

    request: Request
    ctx: WebContext
    db: Session
    user: User
    scope: CaseScope


def _act(
    acting: Acting,
    case_id: int,
    action: Callable[[WebContext, Session, Case, datetime], Done],
    *,
    then: str = "case",
) -> Response:
    """Run one action in one transaction on the locked case. A `ReviewError` rolls it back
    and shows the case again with the reason; success redirects (post/redirect/get)."""
    request, ctx, db, user, scope = (
        acting.request, acting.ctx, acting.db, acting.user, acting.scope,
    )  # fmt: skip
    now = ctx.clock()
    try:
        case = _case_or_404(db, case_id, scope, lock=True)
        done = action(ctx, db, case, now)
        db.commit()
        # Counted only once committed: a failed commit changed nothing.
        if done.action is not None:
            ctx.metrics.decided(done.action, reason=done.reason)
    except review.ReviewError as error:
        db.rollback()
        status = 400 if error.key in INPUT_ERRORS else 409
        if error.key == "register_unavailable":
            status = 503
        case = _case_or_404(db, case_id, scope)
        view = case_view(ctx, db, case, user, lang_of(request), now)
        return render(
            request,
            "case.html",
            status_code=status,
            errors=(f"error_{error.key}",),
            notices=[],
            **view,
        )
    flash(request, done.message, id=case_id)
    target = "/queue" if then == "queue" else f"/cases/{case_id}"
    return RedirectResponse(target, status_code=303)


@dataclass(frozen=True, slots=True)
class Done:
    message: str
    """UI key of the message on the next page."""
    action: str | None = None
    """The decision to count in `zes_review_decisions_total`, if any."""
    reason: str | None = None
    """The reject reason to count in `zes_review_rejects_total`, if the case was rejected."""


@router.post("/cases/{case_id}/claim")
def claim(
    request: Request, case_id: int, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        if not review.claim(db, case, user, now, ctx.cases.claim_minutes):
            raise review.ReviewError("claim_required")  # another reviewer was quicker
        return Done("claimed")

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.post("/cases/{case_id}/confirm")
def confirm(
    request: Request, case_id: int, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.confirm(db, case, user, now, four_eyes=ctx.cases.four_eyes_for(case.zone_id))
        return Done("done_confirm", "confirm")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/approve")
def approve(
    request: Request, case_id: int, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.approve(db, case, user, now)
        return Done("done_approve", "approve")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/reject")
def reject(
    request: Request,
    case_id: int,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    reason: Annotated[str, Form(max_length=64)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.reject(db, case, user, now, reason, text)
        return Done("done_reject", "reject", case.reject_reason)

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/escalate")
def escalate(
    request: Request,
    case_id: int,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.escalate(db, case, user, now, note)
        return Done("done_escalate", "escalate")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/correct")
def correct(
    request: Request,
    case_id: int,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    plate: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        four_eyes = ctx.cases.four_eyes_for(case.zone_id)
        result = review.correct_plate(
            db, case, user, now, plate, ctx.rechecker, four_eyes=four_eyes
        )
        if result.covered and review.closing_correction(case):
            # The corrected plate may enter: a second reviewer approves the closing.
            return Done("done_correct_approval", "correct")
        if result.covered:  # four-eyes off for this zone: the case ends as a misread now
            return Done("done_correct_closed", "correct", case.reject_reason)
        return Done("done_correct", "correct")  # the reviewer keeps the claim and goes on

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.get("/cases/{case_id}/evidence/{item_id}")
def evidence(
    case_id: int, item_id: int, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    """One image of one of this case's passages, checked against its SHA-256 and logged."""
    now = ctx.clock()
    case = _case_or_404(db, case_id, scope)
    item = db.get(EvidenceItem, item_id)
    passages = {s.passage_id for s in review.sightings(db, case)}
    if item is None or item.pending or item.passage_id not in passages:
        raise HTTPException(status_code=404)
    try:
        image = ctx.vault.load(db, item.sha256)
    except EvidenceIntegrityError:
        log.error("evidence item %d of case %d failed its integrity check", item.id, case.id)
        audit.append(
            db,
            user.username,
            "evidence_integrity_failed",
            case_id=case.id,
            detail={"item": item.id, "sha256": item.sha256},
            at=now,
        )
        image = None
        failed = True
    else:
        failed = False
        if image is not None:
            audit.append(
                db,
                user.username,
                "view_evidence",
                case_id=case.id,
                detail={"item": item.id, "kind": item.kind, "sha256": item.sha256},
                at=now,
            )
    db.commit()
    if failed:
        raise HTTPException(status_code=500, detail="error_evidence_integrity")
    if image is None:
        raise HTTPException(status_code=404)  # purged
    media = image.content_type if image.content_type in IMAGE_TYPES else "application/octet-stream"
    return Response(
        image.data,
        media_type=media,
        headers={"content-disposition": "inline" if media in IMAGE_TYPES else "attachment"},
    )


# -- after the export: outcomes by hand and the objection dossier (issue 22) -------------------
@router.post("/cases/{case_id}/outcome")
def outcome(
    request: Request,
    case_id: int,
    ctx: Context,
    db: Db,
    user: Supervisor,
    scope: Scope,
    status: Annotated[str, Form(max_length=16)] = "",
    reason_code: Annotated[str, Form(max_length=64)] = "",
    decided_on: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """A supervisor records what the fine authority, the prosecutor or the judge reported
    (as a line of `zes enforce outcome import`; audited)."""

    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        if case.status not in outcomes.AFTER_EXPORT:
            raise review.ReviewError("wrong_status")
        try:
            day = date.fromisoformat(decided_on.strip())
            outcomes.record_outcome(
                db, case, status, reason_code.strip(), day, actor=user.username, now=now
            )
        except (ValueError, outcomes.OutcomeError):
            raise review.ReviewError("bad_outcome") from None
        return Done("done_outcome")

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.get("/cases/{case_id}/dossier.pdf")
def dossier_pdf(
    request: Request, case_id: int, ctx: Context, db: Db, user: Supervisor, scope: Scope
) -> Response:
    """The case's objection dossier (PDF, in the page's language), for the prosecutor or the
    judge; producing it is audited. Another municipality's case answers 404."""
    case = _case_or_404(db, case_id, scope)
    lang = lang_of(request)
    # No walk of the whole audit chain per download (seconds on a year's chain): the dossier
    # carries the anchor, `zes enforce audit verify --anchor` checks it (the CLI's dossier
    # walks it).
    made = dossier.build(
        db, case, ctx.vault, actor=user.username, now=ctx.clock(), lang=lang, verify_chain=False
    )
    db.commit()
    return Response(
        made.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="dossier-{case.id}.pdf"'},
    )
