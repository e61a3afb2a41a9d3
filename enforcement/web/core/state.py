"""What every request needs: settings, the database, the register re-checker, the clock,
the shared login state and the zone catalogue."""

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
from enforcement.zones import ZoneCatalog

if TYPE_CHECKING:
    from enforcement.casework.accounts import TotpCipher
    from enforcement.casework.audit import ChainWatch
    from enforcement.casework.logins import SessionStore, SharedCounters
    from enforcement.casework.notes import NoteCipher
    from enforcement.web.core.security import IPNetwork, LoginPolicy
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
    counters: SharedCounters
    """Login failures and public plate checks, in the case database (every replica)."""
    login_policy: LoginPolicy
    logins: SessionStore
    trusted_proxies: tuple[IPNetwork, ...]
    """Peers whose `X-Forwarded-For` names the client (`CaseSettings.trusted_proxies`)."""
    totp: TotpCipher
    notes: NoteCipher
    """Officers' notes on cases, encrypted at rest (`casework.notes`)."""
    zones: ZoneCatalog
    """The zone catalogue: which municipality a case belongs to (tenancy)."""
    chain: ChainWatch
    """The audit chain's state for the audit page (`casework.audit.ChainWatch`)."""


def context_of(request: Request) -> WebContext:
    """The app's context; routes get it as `deps.Context`, this is for the app's own
    plumbing (templating, health check, middleware)."""
    ctx: WebContext = request.app.state.zes
    return ctx
