"""The case page, its evidence images and the reviewer's actions.

Opening a case asks the register again (a late exemption closes the case; an outage only
shows a warning) and writes `view_case` to the audit log; every image shown is checked
against its SHA-256 and logged as `view_evidence`. Actions lock the case row, so two
reviewers can never both act on one case, and a stale form fails on the case's status.

One module (some 650 lines) because every action on one case (claim, confirm, approve,
reject, correct, note, outcome, dossier) goes through the same claim, municipality scope
and four-eyes checks here, and the case page posts to all of them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Form, Request
from fastapi.exceptions import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit, dossier, notes, outcomes, review
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
from enforcement.casework.recheck import stored_rules
from enforcement.casework.tenancy import CaseScope
from enforcement.explain import describe_vehicle, explain_violation, rule_reasons
from enforcement.messages import format_value
from enforcement.model import LOCAL_TZ
from enforcement.plate_formats import formats_of
from enforcement.records import Violation
from enforcement.register.protocol import RegisterUnavailable
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import flash, lang_of, render
from enforcement.web.deps import Context, CurrentUser, Db, RowId, Scope, Supervisor
from enforcement.web.texts import ui_text

log = logging.getLogger("zes.review")

router = APIRouter()

#: Statuses the register re-check may still close (as `review.recheck_exemptions`).
RECHECKED = frozenset({*(s.value for s in ACTIVE_STATUSES), CaseStatus.APPROVED.value})
EVIDENCE_KINDS = ("overview", "plate_crop")
#: Served as an image only when it is one of these; anything else is never rendered inline.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: Review errors that are the reviewer's input, not the case's state.
INPUT_ERRORS = frozenset(
    {
        "bad_reason",
        "reason_text_required",
        "bad_plate",
        "attestation_required",
        "empty_note",
        "correction_too_far",
        "bad_outcome",
    }
)


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


def _read(case: Case, violation: Violation, opening: Sighting | None) -> Read:
    raw = opening.plate_raw if opening else violation.plate_raw
    confidence = opening.confidence if opening else violation.confidence
    stored = opening.char_confidences if opening else {}
    values = [float(v) for v in stored.get("chars") or violation.char_confidences]
    text = case.plate if len(case.plate) == len(values) else raw
    chars = [(text[i] if i < len(text) else "?", v) for i, v in enumerate(values)]
    alternatives = [
        (str(a.get("plate", "")), float(a.get("confidence", 0.0)))
        for a in stored.get("alternatives") or ()
        if isinstance(a, dict)
    ] or [(a.plate, a.confidence) for a in violation.alternatives]
    return Read(case.plate, raw, confidence, chars, alternatives)


def typed_violation(case: Case) -> Violation:
    """The case's opening record as the stream wrote it (`records.Violation`), never an
    untyped dict: a record that does not convert is a clear error, not a half-shown case."""
    try:
        return msgspec.convert(case.record, Violation)
    except msgspec.ValidationError as exc:
        log.error("the record of case %d does not read as a violation: %s", case.id, exc)
        raise HTTPException(status_code=500, detail="error_record_unreadable") from None


@dataclass(frozen=True, slots=True)
class Lookalike:
    """A register plate one look-alike substitution from the read, and whether it may enter
    this zone at the passage's time."""

    plate: str
    outcome: str
    """`allowed`, `violation`, `out_of_scope` or `undetermined` (the law's outcome)."""


def _lookalikes(ctx: WebContext, case: Case, read: str) -> list[Lookalike] | None:
    """None when the register cannot be asked now (the page says so)."""
    try:
        found = ctx.rechecker.lookalikes(read, case.zone_id, case.first_seen_at)
    except RegisterUnavailable as exc:
        log.warning("look-alike check of case %d failed: %s", case.id, exc)
        return None
    return [
        Lookalike(plate, check.decision.outcome.value)
        for plate, check in found
        if check.decision is not None
    ]


def _correction_reasons(correction: dict[str, Any] | None, lang: str) -> list[tuple[str, str]]:
    """The re-check's rules of a correction, in the record's shape (`Recheck.summary`)."""
    if not correction:
        return []
    try:
        return list(rule_reasons(stored_rules(correction), lang))
    except msgspec.ValidationError:
        return [("", sentence) for sentence in correction.get(lang) or ()]  # an older shape


@dataclass(frozen=True, slots=True)
class Identify:
    """What the officer should check on a case whose plate the register does not know
    (issue 26): the read may well be right, so the banner says what to compare rather than
    "correct the plate"."""

    kind: str
    """`unknown_plate` (a Dutch shape), `foreign_plate` (only a foreign shape fits: R34) or
    `no_format` (no known plate shape)."""
    plate: str
    country: str = ""
    """The countries whose plate shape the read fits, in words (`foreign_plate` only)."""


def identify_hint(case: Case, violation: Violation, lang: str) -> Identify | None:
    """The banner of an undetermined case without register facts, by the read's shape
    (`plate_formats.formats_of`): None for every other case."""
    if not case.needs_identification or violation.vehicle is not None:
        return None
    plate = case.corrected_plate or case.plate
    formats = formats_of(plate)
    if any(f.startswith("NL-") for f in formats):
        return Identify("unknown_plate", plate)
    countries = dict.fromkeys(f.split("-")[0] for f in formats)  # in order, once each
    if countries:
        words = [ui_text(f"country_{c}", lang) for c in countries]
        return Identify("foreign_plate", plate, " / ".join(words))
    return Identify("no_format", plate)


@dataclass(frozen=True, slots=True)
class Captured:
    """The capture instant of the images shown, as the camera stamps it: local time to the
    second with the zone's abbreviation (CET/CEST), so the stamp and the page agree."""

    at: str
    zone: str


def captured(seen_at: datetime, lang: str) -> Captured:
    local = seen_at.astimezone(LOCAL_TZ)
    return Captured(
        f"{format_value(local.date(), lang)} {local:%H:%M:%S} {local:%Z}", str(LOCAL_TZ)
    )


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
    violation = typed_violation(case)
    sightings = review.sightings(db, case)
    opening_id = str(violation.passage_id)
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
    shown_at = next((s.seen_at for s in sightings if s.passage_id == shown), violation.seen_at)
    explanation = explain_violation(violation, ctx.zones.resolve(case.zone_id).name, lang)
    names = _usernames(db, case.claimed_by, case.confirmed_by, case.approved_by)
    holds = review.holds(case, user, now)
    status = case.status
    correction = case.correction or None
    read = _read(case, violation, opening)
    return {
        "case": case,
        "read": read,
        "vehicle": violation.vehicle,
        "registered": describe_vehicle(violation.vehicle, lang),
        "identify": identify_hint(case, violation, lang),
        "captured": captured(shown_at, lang),
        "headline": explanation.headline,
        "rules": explanation.reasons,
        "exemptions": violation.exemptions,
        "window": violation.window,
        "lookalikes": _lookalikes(ctx, case, read.raw),
        "notes": notes.notes_of(db, ctx.notes, case),
        "sightings": sightings,
        "evidence_of": by_passage,
        "images": images,
        "others": review.other_sightings(db, case),
        "names": names,
        "correction": correction,
        "correction_sentences": [s for _, s in _correction_reasons(correction, lang)],
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
    request: Request, case_id: RowId, ctx: Context, db: Db, user: CurrentUser, scope: Scope
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
    case_id: RowId,
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
    request: Request, case_id: RowId, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        if not review.claim(db, case, user, now, ctx.cases.claim_minutes):
            raise review.ReviewError("claim_required")  # another reviewer was quicker
        return Done("claimed")

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.post("/cases/{case_id}/next")
def next_after(
    request: Request, case_id: RowId, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    """ "Next case" on a case page (Alt+N): the oldest case this reviewer may take other than
    this one. The queue's own "next case" hands back the oldest claimable case, which is
    this one while the reviewer holds it; skipping it lets its claim go for a colleague."""
    case = _case_or_404(db, case_id, scope, lock=True)
    review.release(db, case, user)
    found = review.next_case(
        db, user, review.QueueFilter(within=scope.within), ctx.clock(),
        ctx.cases.claim_minutes, excluding=case.id,
    )  # fmt: skip
    taken = found.id if found is not None else None
    db.commit()
    if taken is None:
        flash(request, "no_case_available")
        return RedirectResponse("/queue", status_code=303)
    flash(request, "claimed", id=taken)
    return RedirectResponse(f"/cases/{taken}", status_code=303)


@router.post("/cases/{case_id}/confirm")
def confirm(
    request: Request,
    case_id: RowId,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    attest: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Confirm, only with the tick "the vehicle in the photo matches the registered
    description" (`attest=yes`)."""

    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        four_eyes = ctx.cases.four_eyes_for(case.zone_id)
        review.confirm(db, case, user, now, four_eyes=four_eyes, attested=attest == "yes")
        return Done("done_confirm", "confirm")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/approve")
def approve(
    request: Request, case_id: RowId, ctx: Context, db: Db, user: CurrentUser, scope: Scope
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.approve(db, case, user, now)
        return Done("done_approve", "approve")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/reject")
def reject(
    request: Request,
    case_id: RowId,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    reason: Annotated[str, Form(max_length=64)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.reject(db, case, user, now, reason, text, cipher=ctx.notes)
        return Done("done_reject", "reject", case.reject_reason)

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/escalate")
def escalate(
    request: Request,
    case_id: RowId,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        review.escalate(db, case, user, now, note, cipher=ctx.notes)
        return Done("done_escalate", "escalate")

    return _act(Acting(request, ctx, db, user, scope), case_id, run, then="queue")


@router.post("/cases/{case_id}/correct")
def correct(
    request: Request,
    case_id: RowId,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    plate: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        four_eyes = ctx.cases.four_eyes_for(case.zone_id)
        result = review.correct_plate(
            db,
            case,
            user,
            now,
            plate,
            ctx.rechecker,
            four_eyes=four_eyes,
            note=note,
            cipher=ctx.notes,
        )
        if case.close_reason == "merged":  # onto the open case of that plate and interval
            return Done("done_correct_merged", "correct")
        if result.covered and review.closing_correction(case):
            # The corrected plate may enter: a second reviewer approves the closing.
            return Done("done_correct_approval", "correct")
        if result.covered:  # four-eyes off for this zone: the case ends as a misread now
            return Done("done_correct_closed", "correct", case.reject_reason)
        return Done("done_correct", "correct")  # the reviewer keeps the claim and goes on

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.post("/cases/{case_id}/note")
def note(
    request: Request,
    case_id: RowId,
    ctx: Context,
    db: Db,
    user: CurrentUser,
    scope: Scope,
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """A note on the case, whatever its state (encrypted, audited by digest only)."""

    def run(ctx: WebContext, db: Session, case: Case, now: datetime) -> Done:
        if not notes.write(db, ctx.notes, case, user.username, "note", text, now):
            raise review.ReviewError("empty_note")
        return Done("done_note")

    return _act(Acting(request, ctx, db, user, scope), case_id, run)


@router.get("/cases/{case_id}/evidence/{item_id}")
def evidence(
    case_id: RowId, item_id: RowId, ctx: Context, db: Db, user: CurrentUser, scope: Scope
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
    case_id: RowId,
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
    request: Request, case_id: RowId, ctx: Context, db: Db, user: Supervisor, scope: Scope
) -> Response:
    """The case's objection dossier (PDF, in the page's language), for the prosecutor or the
    judge; producing it is audited. Another municipality's case answers 404."""
    case = _case_or_404(db, case_id, scope)
    lang = lang_of(request)
    # No walk of the whole audit chain per download (seconds on a year's chain): the dossier
    # carries the anchor, `zes enforce audit verify --anchor` checks it (the CLI's dossier
    # walks it).
    made = dossier.build(
        db, case, ctx.vault, actor=user.username, now=ctx.clock(), lang=lang, verify_chain=False,
        notes=ctx.notes,
    )  # fmt: skip
    db.commit()
    return Response(
        made.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="dossier-{case.id}.pdf"'},
    )
