"""Jinja2 pages in the user's language: every word comes from `enforcement.messages.UI`
through `t(key, **facts)`; autoescaping is on for everything, undefined names are errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from enforcement.messages import LANGUAGES, format_value
from enforcement.model import LOCAL_TZ
from enforcement.plates import format_plate
from enforcement.web.core.state import context_of
from enforcement.web.middleware import csrf_token
from enforcement.web.texts import category, ui_text

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def lang_of(request: Request) -> str:
    chosen = request.session.get("lang")
    return chosen if chosen in LANGUAGES else context_of(request).cases.lang


def local_time(value: datetime | date | str | None, lang: str) -> str:
    """An instant in Dutch local time to the minute (R39), a date written out; ISO text from
    a stored record is parsed first."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            parsed: date = (
                datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            )
        except ValueError:
            return value
        value = parsed
    if isinstance(value, datetime):
        return format_value(value.astimezone(LOCAL_TZ), lang)
    return format_value(value, lang)


def link(href: str, text: object) -> Markup:
    """A link as one table cell (both parts escaped)."""
    return Markup('<a href="{}">{}</a>').format(escape(href), escape(str(text)))


def percent(value: object) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "-"


def flash(request: Request, key: str, kind: str = "info", **args: int | str) -> None:
    """A message for the next page (post/redirect/get); only keys and small facts, which the
    next page renders in its own language."""
    request.session["flash"] = {"key": key, "kind": kind, "args": args}


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    errors: tuple[str, ...] = (),
    **values: Any,
) -> HTMLResponse:
    """`errors` are message keys (a `ReviewError.key` becomes `error_<key>`)."""
    lang = lang_of(request)

    def t(key: str, **args: object) -> str:
        return ui_text(key, lang, **args)

    pending = request.session.pop("flash", None)
    shown_flash = None
    if isinstance(pending, dict) and isinstance(pending.get("key"), str):
        try:
            shown_flash = {
                "kind": str(pending.get("kind", "info")),
                "text": t(pending["key"], **dict(pending.get("args") or {})),
            }
        except (KeyError, TypeError, ValueError):
            shown_flash = None  # a message from an older version of the app: drop it
    here = values.pop("here", None)
    if here is None:
        query = request.url.query
        here = request.url.path + (f"?{query}" if query else "")
    body = _env.get_template(template).render(
        t=t,
        lang=lang,
        languages=LANGUAGES,
        user=getattr(request.state, "user", None),
        csrf=csrf_token(request),
        here=here,
        flash=shown_flash,
        errors=[t(key) for key in errors],
        local=lambda value: local_time(value, lang),
        percent=percent,
        link=link,
        plate=format_plate,
        category=lambda key: category(key, lang),
        **values,
    )
    return HTMLResponse(body, status_code=status_code)
