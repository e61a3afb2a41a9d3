"""The public plate check: a page and a JSON API outside the login, with their own rate limit.

Same law function and register as the cameras (`enforcement.platecheck`, which calls
`enforcement.law.decide` on `Register.lookup`), so the answer cannot differ from theirs.
Privacy: the plate is never logged or stored (the app's access log writes paths without
query strings, and nothing here logs); only a counter of checks per zone is kept.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from enforcement.messages import LANGUAGES
from enforcement.model import LOCAL_TZ, Zone
from enforcement.platecheck import PlateAnswer, PlateInputError, check_plate
from enforcement.register.protocol import RegisterUnavailable
from enforcement.web import problems
from enforcement.web.core.state import WebContext
from enforcement.web.core.templating import lang_of, render
from enforcement.web.deps import ClientAddress, Context, Day
from enforcement.web.problems import PROBLEM_RESPONSES, ProblemError, request_lang
from enforcement.web.routes import desk, flows

router = APIRouter()
ALL = "all"


def _zones(ctx: WebContext) -> list[Zone]:
    """Zones that have (or will have) a ZE-zone, by name."""
    return sorted((z for z in ctx.rechecker.zones if z.start is not None), key=lambda z: z.name)


def _moment(day: date | None, now: datetime) -> datetime:
    """Noon of the asked day (Dutch time), or now: the law decides by the local date."""
    if day is None:
        return now.astimezone(LOCAL_TZ)
    return datetime.combine(day, time(12), LOCAL_TZ)


#: How far ahead a date may be asked (a year); past dates are refused (issue 23).
AHEAD = timedelta(days=366)


class PlateCheckError(Exception):
    def __init__(self, key: str, status: int) -> None:
        super().__init__(key)
        self.key, self.status = key, status


def _check(
    ctx: WebContext, address: str, plate: str, zone: str, day: date | None, lang: str
) -> tuple[PlateAnswer, list[Zone]]:
    """Rate limits, the date, pick zones, ask the law; problems as (message key, status)."""
    now = ctx.clock()
    today = now.astimezone(LOCAL_TZ).date()
    if day is not None and day < today:
        raise PlateCheckError("pc_error_date_past", 400)
    if day is not None and day > today + AHEAD:
        raise PlateCheckError("pc_error_date_far", 400)
    if not ctx.counters.allow(f"platecheck:{address}", ctx.cases.platecheck_per_minute, 60.0):
        raise PlateCheckError("pc_error_rate", 429)
    # All addresses together too: many addresses (a botnet) asking every day of a year.
    if not ctx.counters.allow("platecheck:*", ctx.cases.platecheck_global_per_minute, 60.0):
        raise PlateCheckError("pc_error_busy", 429)
    zones = _zones(ctx)
    if zone != ALL:
        zones = [z for z in zones if z.id == zone]
        if not zones:
            raise PlateCheckError("pc_error_zone", 400)
    try:
        answer = check_plate(
            plate, zones, ctx.rechecker.register, at=_moment(day, now), lang=lang, today=today
        )
    except PlateInputError:
        raise PlateCheckError("pc_error_plate", 400) from None
    except RegisterUnavailable:
        raise PlateCheckError("pc_error_register", 503) from None
    ctx.metrics.platechecks.labels(zone=zone).inc()
    return answer, zones


def _day(text: str) -> date | None:
    """The form's date field: empty is today; anything else must be a day."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PlateCheckError("pc_error_date", 400) from None


@router.get("/platecheck", include_in_schema=False)
def page(
    request: Request,
    ctx: Context,
    address: ClientAddress,
    # Plain text up to a generous length: whatever a person types comes back on this page
    # with a sentence about it, never as the app's generic error page.
    plate: Annotated[str, Query(max_length=1000)] = "",
    zone: Annotated[str, Query(max_length=1000)] = ALL,
    day: Annotated[str, Query(alias="date", max_length=1000)] = "",
    lang: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    if lang in LANGUAGES:
        request.session["lang"] = lang
    language = lang_of(request)
    values: dict[str, Any] = {
        "zones": _zones(ctx), "plate_text": plate[:64], "zone": zone, "day": day[:32],
        "answer": None, "desks": desk.desk_links(request),
    }  # fmt: skip
    if not plate and not day.strip():
        return render(request, "platecheck.html", **values)
    try:
        asked = _day(day)
        if not plate.strip():
            raise PlateCheckError("pc_error_plate", 400)
        values["answer"], _ = _check(ctx, address, plate, zone, asked, language)
    except PlateCheckError as problem:
        return render(
            request, "platecheck.html", status_code=problem.status, errors=(problem.key,),
            **values,
        )  # fmt: skip
    return render(request, "platecheck.html", **values)


# -- the JSON API, with its own OpenAPI description ------------------------------------------
class ZoneAnswerModel(BaseModel):
    zone_id: str = Field(description="Zone slug, e.g. `utrecht`.")
    zone: str = Field(description="Zone name.")
    outcome: str = Field(description="allowed, violation, out_of_scope or undetermined.")
    sentence: str = Field(description="The answer in one plain sentence.")
    headline: str = Field(description="The outcome as `zes decide` prints it.")
    allowed_until: str | None = Field(description="Last day allowed, when the access ends.")
    reasons: list[tuple[str, str]] = Field(description="(rule id, sentence) behind the answer.")
    automatic: list[str] = Field(description="Automatic vrijstellingen/ontheffingen applied.")
    could_apply: list[str] = Field(description="Ontheffingen one could apply for.")
    zone_dates: str = Field(description="The zone's start and warning period.")
    vehicle: str = Field(description="The vehicle in a few words.")
    starts_on: str | None = Field(
        description="The zone's first day when it has not started on the day asked about "
        "(until then anyone may enter; `sentence` says what holds from then)."
    )


class PlateCheckModel(BaseModel):
    plate: str = Field(description="The plate as printed, e.g. `VX-123-B`.")
    status: str = Field(description="found, unknown (not in the register) or foreign.")
    notice: str = Field(description="A sentence about the plate as a whole.")
    zones: list[ZoneAnswerModel] = Field(description="One answer per zone asked about.")
    notes: list[str] = Field(
        default_factory=list,
        description="What the answer leaves out: day permits are only taken into account for "
        "today.",
    )


def api_app(ctx: WebContext) -> FastAPI:
    """The JSON API (mounted at /api/v1) with its own OpenAPI description at
    /api/v1/openapi.json. No interactive docs: they would need scripts from elsewhere."""
    api = FastAPI(
        title="zes plate check",
        version="1",
        description="May this vehicle enter the Dutch zero-emission zones for city logistics, "
        "and until when? Answered with the same law and register the cameras use. The plate "
        "is never logged or stored. An exemption registered for the vehicle is only said to "
        "allow access until a date, never which one it is; a day permit only for today. Rate "
        "limited per client address and in total "
        "(HTTP 429).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.zes = ctx
    api.add_api_route(
        "/platecheck",
        platecheck_api,
        methods=["GET"],
        response_model=PlateCheckModel,
        responses=PROBLEM_RESPONSES,
        summary="Check a plate against the ZE-zone rules",
    )
    flows.add_open_data(api)
    problems.install(api)
    return api


def platecheck_api(
    request: Request,
    ctx: Context,
    address: ClientAddress,
    plate: Annotated[str, Query(max_length=64, description="Any spelling: VX-123-B, vx123b.")],
    zone: Annotated[str, Query(max_length=64, description="Zone id, or `all`.")] = ALL,
    day: Annotated[
        Day | None,
        Query(
            alias="date",
            description="Day to check, today up to a year ahead (default today). Day permits "
            "are only taken into account for today.",
        ),
    ] = None,
    lang: Annotated[
        str | None,
        Query(pattern="^(nl|en)$", description="nl or en (default: Accept-Language, else nl)."),
    ] = None,
) -> Any:
    try:
        answer, _ = _check(ctx, address, plate, zone, day, lang or request_lang(request))
    except PlateCheckError as problem:
        raise ProblemError(problem.status, problem.key) from None
    return asdict(answer)
