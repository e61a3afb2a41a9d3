"""`zes enforce …`: the case database, intake, review app, users, export, purge, audit."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import start_http_server
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.accounts import AccountError, add_user, disable_user
from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.export import export
from enforcement.casework.intake import CaseIntake, IntakeCounts
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.purge import purge
from enforcement.casework.recheck import rechecker_from
from enforcement.casework.settings import CaseSettings, load_case_settings
from enforcement.settings import ConfigError, Settings, load_settings

enforce_app = typer.Typer(
    help="Cases: intake, the review app, users, export to the fine authority, purge, audit.",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Reviewer accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
enforce_app.add_typer(user_app, name="user")
enforce_app.add_typer(audit_app, name="audit")


def _settings() -> tuple[Settings, CaseSettings, str]:
    settings, cases = load_settings(), load_case_settings()
    url = cases.url(settings.work_dir)
    try:
        migrate(url)
    except Exception as exc:  # an unreachable or unwritable database is a user problem
        raise ConfigError(f"case database {_safe(url)}: {exc}") from None
    return settings, cases, url


@contextmanager
def _transaction(url: str) -> Iterator[Session]:
    """One transaction on the case database; account mistakes become one-line errors."""
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            yield session
    except AccountError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@enforce_app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the case database to the newest schema."""
    _, _, url = _settings()
    print(f"case database {_safe(url)} is at the newest schema")


@enforce_app.command("intake")
def intake_command(
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without records.")
    ] = None,
) -> None:
    """Consume violations and evidence into the case database (runs until stopped)."""
    from enforcement.casework.consumer import IntakeConsumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _, cases, url = _settings()
    engine = make_engine(url)
    intake = CaseIntake(
        session_factory(engine),
        EvidenceVault(cases.evidence_cipher_key()),
        grace=timedelta(minutes=cases.grace_minutes),
        seal_keys=cases.evidence_seal_keys(),
    )
    metrics = IntakeMetrics()
    if cases.intake_metrics_port:
        start_http_server(cases.intake_metrics_port, cases.metrics_host, registry=metrics.registry)
    consumer = IntakeConsumer(intake, cases, metrics)
    seen, quiet_since = -1, time.monotonic()

    def idle(totals: IntakeCounts) -> bool:
        """True once no record arrived for `idle_exit` seconds (bounded runs, tests)."""
        nonlocal seen, quiet_since
        if idle_exit is None:
            return False
        if totals.records != seen:
            seen, quiet_since = totals.records, time.monotonic()
        return time.monotonic() - quiet_since > idle_exit

    print(f"intake: {cases.violations_topic} + {cases.evidence_topic} → {_safe(url)}")
    totals = consumer.run(until=idle)
    print(
        f"intake: {totals.new_cases} new cases, {totals.sightings} sightings, "
        f"{totals.duplicates} duplicates, {totals.evidence_stored} evidence stored"
    )


@enforce_app.command("serve")
def serve_command() -> None:
    """Run the review web app (127.0.0.1 by default) and its metrics endpoint."""
    from enforcement.web.app import serve

    settings, cases, _ = _settings()
    serve(settings, cases)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="reviewer, supervisor or admin.")] = "reviewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Add an account (argon2id hash; at least 12 characters)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    _, _, url = _settings()
    with _transaction(url) as session:
        user = add_user(session, name, password, role, actor="cli")
        print(f"user {user.username} added ({user.role})")


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable an account (accounts are never deleted: the audit log names them)."""
    _, _, url = _settings()
    with _transaction(url) as session:
        disable_user(session, name, actor="cli")
        print(f"user {name} disabled")


@enforce_app.command("export")
def export_command(
    out: Annotated[Path | None, typer.Option(help="Folder for the batches.")] = None,
) -> None:
    """Export approved cases: a fines batch and a warning-letters batch (each exactly once)."""
    settings, cases, url = _settings()
    with _transaction(url) as session:
        result = export(
            session, out or cases.exports(settings.work_dir), rechecker_from(settings),
            actor="cli",
        )  # fmt: skip
    for kind, number, path, count in result.batches:
        print(f"{kind} batch {number}: {count} cases → {path}")
    if not result.batches:
        print("nothing new to export")
    if result.closed:
        print(f"{result.closed} approved cases closed: an exemption now covers them")
    if result.held:
        print(f"{result.held} cases held back: the register could not be asked")


@enforce_app.command("purge")
def purge_command() -> None:
    """Remove evidence past retention (rejected/closed cases) and expired held evidence."""
    _, cases, url = _settings()
    with _transaction(url) as session:
        result = purge(
            session, datetime.now(UTC), retention_days=cases.retention_days,
            hold_hours=cases.evidence_hold_hours, actor="cli",
        )  # fmt: skip
    print(
        f"purged: {result.evidence_items} evidence items of {result.cases} finished cases, "
        f"{result.pending_items} held items, {result.blobs} images"
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 when it was tampered with."""
    _, _, url = _settings()
    with _transaction(url) as session:
        report = audit.verify(session)
    if report.ok:
        print(f"audit chain intact: {report.entries} entries")
        return
    print(f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem}")
    raise typer.Exit(1)
