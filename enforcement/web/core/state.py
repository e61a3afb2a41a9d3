"""What every request needs: settings, the database, the register re-checker, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.recheck import Rechecker
from enforcement.casework.settings import CaseSettings
from enforcement.settings import Settings

if TYPE_CHECKING:
    from enforcement.web.core.security import LoginLimiter, RateWindow, RevokedSessions
    from enforcement.web.metrics import ReviewMetrics


@dataclass(frozen=True, slots=True)
class WebContext:
    settings: Settings
    cases: CaseSettings
    engine: Engine
    sessions: sessionmaker[Session]
    rechecker: Rechecker
    vault: EvidenceVault
    clock: Callable[[], datetime]
    metrics: ReviewMetrics
    limiter: LoginLimiter
    revoked: RevokedSessions
    platechecks: RateWindow
    """Public plate checks per client address (their own limit, apart from logins)."""


def context_of(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.zes
    return ctx
