"""One error shape for the public API: RFC 9457 problem details (`application/problem+json`)
in the request's language, from the API app's own exception handlers, so no route can answer
an error any other way (FastAPI's 422 list, Starlette's `{"detail": ...}` or a route's own
`{"error": ...}`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from enforcement.messages import LANGUAGES
from enforcement.web.core.state import context_of
from enforcement.web.texts import ui_text

MEDIA_TYPE = "application/problem+json"


class ProblemError(Exception):
    """An answer that is a problem: `key` is its interface text, `facts` fill it in."""

    def __init__(self, status: int, key: str, **facts: object) -> None:
        super().__init__(key)
        self.status, self.key, self.facts = status, key, facts


class ProblemModel(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str = Field(description="`about:blank`: the HTTP status says what kind it is.")
    title: str = Field(description="The HTTP status in words, in the request's language.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong and what to do, in the request's language.")
    instance: str = Field(description="The path that was asked for.")
    invalid_params: list[dict[str, str]] | None = Field(
        default=None,
        alias="invalid-params",
        description="For a 400 about parameters: `name` and `reason` of each bad one.",
    )


#: Problem responses for the OpenAPI document (every route of the API can answer them).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemModel, "content": {MEDIA_TYPE: {}}, "description": text}
    for status, text in (
        (400, "A bad parameter (problem details, `invalid-params` names it)."),
        (404, "No such resource."),
        (429, "Too many requests from this address."),
        (503, "The vehicle register cannot be reached now."),
    )
}


def request_lang(request: Request) -> str:
    """The request's language: `lang` in the query, else the first of Accept-Language that
    the app speaks, else the app's default."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return str(context_of(request).cases.lang)


def problem(
    request: Request,
    status: int,
    key: str,
    facts: dict[str, object] | None = None,
    *,
    invalid: list[dict[str, str]] | None = None,
) -> Response:
    lang = request_lang(request)
    title_key = f"problem_{status}"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": ui_text(title_key if title_key in _TITLES else "problem_400", lang),
        "status": status,
        "detail": ui_text(key, lang, **(facts or {})),
        "instance": request.url.path,
    }
    if invalid:
        body["invalid-params"] = invalid
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


_TITLES = frozenset({"problem_400", "problem_404", "problem_405", "problem_429", "problem_503"})


def install(api: FastAPI) -> None:
    """Every error of `api` as problem details."""

    @api.exception_handler(ProblemError)
    async def api_problem(request: Request, exc: ProblemError) -> Response:
        return problem(request, exc.status, exc.key, exc.facts)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        lang = request_lang(request)
        names = []
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())[1:]]
            names.append(".".join(location) or "?")
        params = [
            {"name": name, "reason": ui_text("problem_param", lang, name=name)} for name in names
        ]
        listed = ", ".join(sorted(set(names)))
        return problem(request, 400, "problem_params", {"names": listed}, invalid=params)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        key = {404: "problem_not_found", 405: "problem_method"}.get(status, "problem_bad")
        return problem(request, status, key)
