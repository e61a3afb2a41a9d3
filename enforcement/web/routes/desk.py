"""The municipal exemption desk on the web: the public form and status page (no account),
the `permits` officers' queue and decisions, and the exemption counts on Stromen.

Public pages are rate-limited per client address like the plate check, keep no upload and
log no plate (the access log writes paths only; the status page's path holds the random
reference, never the plate). Officers see the applications of their municipalities only;
another municipality's application answers 404, as a case does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.exceptions import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from enforcement.casework import audit
from enforcement.casework.models import ApplicationStatus, ExemptionApplication, Role, User
from enforcement.casework.tenancy import CaseScope
from enforcement.exemptions import desk as service
from enforcement.exemptions.decision import Application, sentence
from enforcement.exemptions.desk import REFUSE_CODES, Desk, DeskError, desk_from
from enforcement.exemptions.grants import ExemptionWriter
from enforcement.exemptions.policy import ExemptionType, MunicipalPolicy, PolicyError
from enforcement.exemptions.settings import load_desk_settings
from enforcement.model import LOCAL_TZ, Zone
from enforcement.platecheck import answer_zone
from enforcement.register.protocol import RegisterUnavailable
from enforcement.settings import ConfigError
from enforcement.web.core.state import WebContext, context_of
from enforcement.web.core.templating import flash, lang_of, render
from enforcement.web.deps import ClientAddress, Context, Db, PolicyReader, Scope, require_role

router = APIRouter()
log = logging.getLogger("zes.desk")

PermitsOfficer = Annotated[User, Depends(require_role(Role.PERMITS, Role.ADMIN))]
Reference = Annotated[str, Path(max_length=32, pattern=r"^[A-Z]{1,3}-[A-Z0-9-]{6,24}$")]
OPEN = (ApplicationStatus.REVIEW.value, ApplicationStatus.APPROVING.value)


def desk_of(request: Request) -> Desk:
    """The desk, built once per app from `ZES_DESK_*` on the app's register and zones."""
    state = request.app.state
    found: Desk | None = getattr(state, "desk", None)
    if found is None:
        ctx = context_of(request)
        register = ctx.rechecker.register
        if not hasattr(register, "add_exemptions"):
            raise RuntimeError("the exemption desk needs a register it can write grants to")
        try:
            found = desk_from(
                list(ctx.rechecker.zones),
                load_desk_settings(),
                register,
                cast(ExemptionWriter, register),
            )
        except (PolicyError, ConfigError):
            # Never a desk on a half-read policy: the pages say unavailable, the log why.
            log.exception("exemption desk unavailable")
            raise HTTPException(status_code=503) from None
        state.desk = found
    return found


def desk_links(request: Request) -> dict[str, tuple[str, str]]:
    """Zone id → (desk slug, municipality) for the zones whose municipality has a desk: the
    plate check's "ontheffingen you could apply for" lead there. None when the desk's policy
    cannot be read (the plate check still answers; `zes exemptions check-policy` says why)."""
    try:
        found = desk_of(request)
    except (HTTPException, RuntimeError):
        return {}
    links: dict[str, tuple[str, str]] = {}
    for zone in found.zones:
        policy = found.policy_of(zone.municipality)
        if policy is not None:
            links[zone.id] = (policy.slug, policy.municipality)
    return links


def desk_dependency(request: Request) -> Desk:
    return desk_of(request)


DeskOf = Annotated[Desk, Depends(desk_dependency)]


def _allowed(ctx: WebContext, address: str, kind: str, per_minute: int) -> bool:
    return ctx.counters.allow(f"{kind}:{address}", per_minute, 60.0)


def _euro(cents: int | Decimal) -> str:
    return f"{Decimal(cents) / 100:.2f}".replace(".", ",")


def type_lines(kind: ExemptionType, lang: str) -> list[str]:
    """What the form says about a type: its conditions, validity and fee."""
    from enforcement.web.texts import ui_text

    def t(key: str, **args: object) -> str:
        return ui_text(key, lang, **args)

    lines = [t("desk_max_days", days=kind.max_days)]
    if kind.max_per_year:
        lines.append(t("desk_max_per_year", count=kind.max_per_year))
    if kind.min_emission_class is not None:
        lines.append(t("desk_min_class", minimum=kind.min_emission_class))
    if kind.min_trips_per_year:
        lines.append(t("desk_min_trips", trips=kind.min_trips_per_year))
    amount = _euro(kind.fee.amount_eur * 100)
    if kind.fee.ze_reduction_percent:
        lines.append(t("desk_fee_ze", amount=amount, reduction=kind.fee.ze_reduction_percent))
    else:
        lines.append(t("desk_fee", amount=amount))
    if kind.four_eyes:
        lines.append(t("desk_four_eyes"))
    return lines


# -- public: the form and the status page ----------------------------------------------------
@router.get("/desk", include_in_schema=False)
def index(request: Request, desk: DeskOf) -> Response:
    policies = sorted(desk.policies.values(), key=lambda p: p.municipality)
    return render(request, "desk_index.html", policies=policies)


def _policy_or_404(request: Request, slug: str) -> MunicipalPolicy:
    policy = desk_of(request).policy(slug)
    if policy is None:
        raise HTTPException(status_code=404)
    return policy


def _form_page(
    request: Request,
    policy: MunicipalPolicy,
    form: dict[str, str],
    *,
    status_code: int = 200,
    errors: tuple[str, ...] = (),
) -> Response:
    lang = lang_of(request)
    kinds = [
        (key, kind, type_lines(kind, lang), [e.in_(lang) for e in kind.evidence])
        for key, kind in policy.types.items()
    ]
    return render(
        request, "desk_form.html", status_code=status_code, errors=errors, policy=policy,
        kinds=kinds, form=form, retention_days=desk_of(request).retention_days,
        today=context_of(request).clock().astimezone(LOCAL_TZ).date().isoformat(),
    )  # fmt: skip


@router.get("/desk/{slug}", include_in_schema=False)
def form_page(request: Request, slug: Annotated[str, Path(max_length=64)]) -> Response:
    policy = _policy_or_404(request, slug)
    first = next(iter(policy.types))
    return _form_page(request, policy, {"type": first})


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DeskError("period") from None


def _trips(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise DeskError("trips") from None


@router.post("/desk/{slug}", include_in_schema=False)
def apply(
    request: Request,
    ctx: Context,
    desk: DeskOf,
    address: ClientAddress,
    slug: Annotated[str, Path(max_length=64)],
    plate: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(alias="type", max_length=64)] = "",
    first_day: Annotated[str, Form(max_length=10)] = "",
    last_day: Annotated[str, Form(max_length=10)] = "",
    trips: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    policy = _policy_or_404(request, slug)
    form = {"plate": plate, "type": kind, "first_day": first_day, "last_day": last_day,
            "trips": trips, "reason": reason}  # fmt: skip
    if not _allowed(ctx, address, "desk", desk.applications_per_minute):
        return _form_page(request, policy, form, status_code=429, errors=("desk_error_rate",))
    try:
        with ctx.sessions.begin() as session:
            row = service.submit(
                session, desk, policy, plate_text=plate, type_key=kind,
                first_day=_day(first_day), last_day=_day(last_day or first_day),
                reason=reason, trips_per_year=_trips(trips), now=ctx.clock(),
            )  # fmt: skip
            reference = row.reference
    except DeskError as problem:
        return _form_page(
            request, policy, form, status_code=400, errors=(f"desk_error_{problem.key}",)
        )
    return RedirectResponse(f"/desk/status/{reference}", status_code=303)


@dataclass(frozen=True, slots=True)
class StatusView:
    row: ExemptionApplication
    type_name: str
    why: str | None
    fee: str | None


def _why(row: ExemptionApplication, lang: str) -> str | None:
    code = row.code or (row.policy_code if row.status in OPEN else None)
    if code is None:
        return None
    return sentence(code, row.code_args or {}, lang)


@router.get("/desk/status/{reference}", include_in_schema=False)
def status_page(
    request: Request, ctx: Context, db: Db, desk: DeskOf, address: ClientAddress,
    reference: Reference,
) -> Response:  # fmt: skip
    if not _allowed(ctx, address, "desk-status", desk.applications_per_minute * 6):
        return render(request, "error.html", status_code=429, errors=("desk_error_rate",))
    lang = lang_of(request)
    row = db.scalar(select(ExemptionApplication).where(ExemptionApplication.reference == reference))
    if row is None:
        raise HTTPException(status_code=404)
    policy = desk.policy_of(row.municipality)
    kind = policy.types.get(row.type_key) if policy else None
    view = StatusView(
        row=row,
        type_name=kind.name.in_(lang) if kind else row.type_key,
        why=_why(row, lang),
        fee=_euro(row.fee_cents) if row.fee_cents is not None else None,
    )
    evidence = [e.in_(lang) for e in kind.evidence] if kind and row.status in OPEN else []
    return render(request, "desk_status.html", view=view, evidence=evidence)


# -- officers: the queue and the decision -----------------------------------------------------
def _in_scope(scope: CaseScope) -> Any:
    if scope.everything:
        return True
    return ExemptionApplication.municipality.in_(sorted(scope.municipalities))


def _application_or_404(
    session: Session, application_id: int, scope: CaseScope, *, lock: bool = False
) -> ExemptionApplication:
    """The application, if it is there for this officer: another municipality's answers 404
    (it does not exist for them)."""
    query = select(ExemptionApplication).where(ExemptionApplication.id == application_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None or not (scope.everything or row.municipality in scope.municipalities):
        raise HTTPException(status_code=404)
    return row


def _type_name(desk: Desk, row: ExemptionApplication, lang: str) -> str:
    policy = desk.policy_of(row.municipality)
    kind = policy.types.get(row.type_key) if policy else None
    return kind.name.in_(lang) if kind else row.type_key


@router.get("/permits", include_in_schema=False)
def permits_queue(
    request: Request, db: Db, desk: DeskOf, user: PermitsOfficer, scope: Scope
) -> Response:
    lang = lang_of(request)
    rows = list(
        db.scalars(
            select(ExemptionApplication)
            .where(ExemptionApplication.status.in_(OPEN), _in_scope(scope))
            .order_by(ExemptionApplication.submitted_at, ExemptionApplication.id)
            .limit(500)
        )
    )
    # Open applications: the policy's code on arrival is a review code (no facts to fill in).
    items = [
        (row, _type_name(desk, row, lang), sentence(row.policy_code, {}, lang)) for row in rows
    ]
    return render(request, "permits_queue.html", items=items)


@dataclass(frozen=True, slots=True)
class ZoneLaw:
    zone: str
    sentence: str


def _law(
    plate: str, facts: service.RegisterFacts, zones: list[Zone], day: date, lang: str
) -> list[ZoneLaw]:
    if facts.vehicle is None:
        return []
    at = datetime.combine(day, time(12), LOCAL_TZ)
    return [
        ZoneLaw(zone.name, answer_zone(plate, facts.vehicle, (), zone, at, lang).sentence)
        for zone in zones
    ]


@router.get("/permits/{application_id}", include_in_schema=False)
def permits_application(
    request: Request, ctx: Context, db: Db, desk: DeskOf, application_id: int,
    user: PermitsOfficer, scope: Scope,
) -> Response:  # fmt: skip
    lang = lang_of(request)
    row = _application_or_404(db, application_id, scope)
    audit.append(
        db, user.username, "desk_view",
        detail={"application": row.id, "municipality": row.municipality}, at=ctx.clock(),
    )  # fmt: skip
    db.commit()
    policy = desk.policy_of(row.municipality)
    kind = policy.types.get(row.type_key) if policy else None
    facts = desk.facts(row.plate)
    check = None
    if policy is not None and row.status in OPEN:
        application = Application(
            row.plate, row.type_key, row.first_day, row.last_day, row.trips_per_year
        )
        today = ctx.clock().astimezone(LOCAL_TZ).date()
        check = desk.assess(policy, application, facts, today).sentence(lang)
    zones = desk.zones_of(row.municipality)
    return render(
        request, "permits_application.html", row=row, type_name=_type_name(desk, row, lang),
        kind_lines=type_lines(kind, lang) if kind else [],
        evidence=[e.in_(lang) for e in kind.evidence] if kind else [],
        facts=facts, law=_law(row.plate, facts, zones, row.first_day, lang), check=check,
        at_arrival=sentence(
            row.policy_code, row.code_args if row.code == row.policy_code else {}, lang
        ),
        why=_why(row, lang), codes=REFUSE_CODES,
        fee=_euro(row.fee_cents) if row.fee_cents is not None else None,
        open=row.status in OPEN, four_eyes=bool(kind and kind.four_eyes),
        first_by_other=row.status == ApplicationStatus.APPROVING
        and row.first_officer_id != user.id,
    )  # fmt: skip


@router.post("/permits/{application_id}", include_in_schema=False)
def permits_decide(
    request: Request,
    ctx: Context,
    db: Db,
    desk: DeskOf,
    application_id: int,
    user: PermitsOfficer,
    scope: Scope,
    action: Annotated[str, Form(max_length=16)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    row = _application_or_404(db, application_id, scope, lock=True)
    try:
        service.decide(db, desk, row, user, action=action, code=code, note=note, now=ctx.clock())
        status = row.status
        db.commit()
    except DeskError as problem:
        db.rollback()
        flash(request, f"desk_error_{problem.key}", "error")
        return RedirectResponse(f"/permits/{application_id}", status_code=303)
    except RegisterUnavailable:
        db.rollback()
        flash(request, "desk_error_register", "error")
        return RedirectResponse(f"/permits/{application_id}", status_code=303)
    done = {
        ApplicationStatus.GRANTED.value: "permits_done_granted",
        ApplicationStatus.APPROVING.value: "permits_done_first",
        ApplicationStatus.REFUSED.value: "permits_done_refused",
    }[status]
    flash(request, done, "info", id=application_id)
    return RedirectResponse("/permits", status_code=303)


# -- Stromen: the policy view ------------------------------------------------------------------
@router.get("/flows/exemptions", include_in_schema=False)
def exemption_counts(
    request: Request, db: Db, desk: DeskOf, user: PolicyReader, scope: Scope
) -> Response:
    lang = lang_of(request)
    rows = service.tallies(db, None if scope.everything else scope.municipalities)
    names: dict[tuple[str, str], str] = {}
    for policy in desk.policies.values():
        for key, kind in policy.types.items():
            names[(policy.municipality, key)] = kind.name.in_(lang)
    municipalities = sorted({r.municipality for r in rows})
    tables = []
    for municipality in municipalities:
        mine = [r for r in rows if r.municipality == municipality]
        received = sum(r.received for r in mine)
        granted, refused = sum(r.granted for r in mine), sum(r.refused for r in mine)
        share = f"{granted / (granted + refused) * 100:.0f}%" if granted + refused else "-"
        tables.append(
            {
                "municipality": municipality,
                "rows": [(r, names.get((municipality, r.type_key), r.type_key)) for r in mine],
                "received": received, "granted": granted, "refused": refused,
                "automatic": sum(r.automatic for r in mine), "share": share,
            }
        )  # fmt: skip
    return render(request, "flows_exemptions.html", tables=tables)
