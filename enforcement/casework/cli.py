"""`zes enforce …`: the case database, intake, users, export, purge, audit. The review app's
`serve` is `enforcement.web.cli`, mounted here by `zes.cli` (casework speaks no HTTP).

One module (some 600 lines) because it is the one audience of the case database's
operators: each command is a thin wrapper over casework, and `zes enforce --help` lists them
from here."""

from __future__ import annotations

import getpass
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import start_http_server
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.accounts import (
    AccountError,
    TotpCipher,
    add_user,
    disable_user,
    enable_user,
    provision_second_factor,
    reset_password,
    reset_second_factor,
    totp_uri,
)
from enforcement.casework.db import (
    grant_application_role,
    make_engine,
    migrate,
    session_factory,
)
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.evidence_metrics import EvidenceStoreCollector
from enforcement.casework.export import export
from enforcement.casework.intake import CaseIntake, IntakeCounts
from enforcement.casework.metrics import IntakeMetrics
from enforcement.casework.models import Role, UserMunicipality
from enforcement.casework.purge import purge
from enforcement.casework.recheck import rechecker_from
from enforcement.casework.settings import (
    CaseSettings,
    intake_keys,
    load_case_settings,
    require_seal_keys,
)
from enforcement.settings import (
    ConfigError,
    Settings,
    load_areas,
    load_law,
    load_settings,
    require_keys,
)

enforce_app = typer.Typer(
    help="Cases: intake, the review app, users, export to the fine authority, purge, audit.",
    no_args_is_help=True,
)
ROLES_TEXT = ", ".join(role.value for role in Role)
user_app = typer.Typer(
    help=f"Accounts of the back office, of every role: {ROLES_TEXT}.", no_args_is_help=True
)
audit_app = typer.Typer(help="The HMAC-chained audit log.", no_args_is_help=True)
outcome_app = typer.Typer(
    help="What came back after the export: paid, objection, annulled, upheld, withdrawn.",
    no_args_is_help=True,
)
enforce_app.add_typer(user_app, name="user")
enforce_app.add_typer(audit_app, name="audit")
enforce_app.add_typer(outcome_app, name="outcome")


def _settings(*, create: bool = False) -> tuple[Settings, CaseSettings, str]:
    """The settings and the case database, upgraded to the newest schema. A database that
    does not exist is refused unless `create` (`zes enforce migrate`): a mistyped or missing
    ZES_CASES_DATABASE_URL must not quietly give a new, empty one. Says which it opened."""
    settings, cases = load_settings(), load_case_settings()
    url = cases.url(settings.work_dir)
    try:
        if not create and not _exists(url):
            raise ConfigError(
                f"no case database at {_safe(url)}: set ZES_CASES_DATABASE_URL to yours (or "
                'ZES_WORK_DIR; with `zes up` running: eval "$(zes up env)"), or create this '
                "one with `zes enforce migrate`"
            )
        migrate(url)
    except ConfigError:
        raise
    except Exception as exc:  # an unreachable or unwritable database is a user problem
        raise ConfigError(f"case database {_safe(url)}: {exc}") from None
    if not create:
        print(f"case database {_safe(url)}", file=sys.stderr)
    return settings, cases, url


def _exists(url: str) -> bool:
    """Whether the case database exists: a SQLite file, or a server database that has been
    migrated once (Alembic's version table)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return (
            not parsed.database
            or parsed.database == ":memory:"
            or (Path(parsed.database).is_file())
        )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table("alembic_version")
    finally:
        engine.dispose()


DevOption = Annotated[
    bool,
    typer.Option("--dev", help="Allow development secrets (one machine only; `zes up` passes it)."),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who does this, for the audit log (default: the operating-system user).",
    ),
]


def _actor(given: str | None) -> str:
    """The person an audit entry names: `--actor`, else the operating-system user."""
    if given is None:
        try:
            given = getpass.getuser()
        except (KeyError, OSError):  # a container user without a passwd entry
            given = f"uid-{os.getuid()}"
    actor = given.strip()
    if not actor or len(actor) > 64 or any(ch.isspace() for ch in actor):
        raise ConfigError("--actor must be 1 to 64 characters without spaces")
    return actor


def _audit_key(command: str, *, dev: bool) -> bytes:
    """The audit chain's key for a command that writes the audit log: a missing (the
    development default) or development key is refused without `--dev`. Otherwise a command
    run by hand on a `zes up` demo mixed the published development key into the demo's
    chain, and `audit verify` reported it broken at entry 1 (issue 23)."""
    cases = load_case_settings()
    require_keys(f"zes enforce {command}", [cases.audit_key_setting], dev=dev)
    return cases.audit_hmac_key()


@contextmanager
def _transaction(url: str, audit_key: bytes | None = None) -> Iterator[Session]:
    """One transaction on the case database; account mistakes become one-line errors.
    Commands that write the audit log pass the key `_audit_key` checked."""
    engine = make_engine(url)
    try:
        if audit_key is None:  # reads the chain only (anchor, verify)
            audit_key = load_case_settings().audit_hmac_key()
        with session_factory(engine, audit_key=audit_key).begin() as session:
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
    """Create or upgrade the case database to the newest schema (the only command that
    creates one). Run it as the owner role; with ZES_CASES_APP_ROLE set it then grants that
    role the rows of every table (no DDL)."""
    _, cases, url = _settings(create=True)
    print(f"case database {_safe(url)} is at the newest schema")
    if cases.app_role:
        try:
            grant_application_role(url, cases.app_role)
        except ValueError as exc:
            raise ConfigError(f"setting ZES_CASES_APP_ROLE: {exc}") from None
        print(f"role {cases.app_role} may read and write rows, and change no table")


@enforce_app.command("intake")
def intake_command(
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without records.")
    ] = None,
    dev: DevOption = False,
) -> None:
    """Consume violations and evidence into the case database (runs until stopped)."""
    from enforcement.casework.consumer import IntakeConsumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    require_keys("the case intake", intake_keys(load_case_settings()), dev=dev)
    require_seal_keys(load_case_settings(), dev=dev)
    settings, cases, url = _settings()
    _, zones = load_law(settings)
    engine = make_engine(url)
    intake = CaseIntake(
        session_factory(engine),
        EvidenceVault(cases.evidence_cipher_key()),
        grace=timedelta(minutes=cases.grace_minutes),
        seal_keys=cases.evidence_seal_keys(),
        zones=zones,
        areas=load_areas(settings),
    )
    metrics = IntakeMetrics()
    metrics.registry.register(EvidenceStoreCollector(session_factory(engine)))
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


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[
        str,
        typer.Option(
            help=f"One of {ROLES_TEXT}: policy staff see the flow statistics (Stromen) only;"
            " permits officers the exemption desk."
        ),
    ] = "reviewer",
    municipality: Annotated[
        list[str] | None,
        typer.Option(
            "--municipality",
            help="A municipality whose cases this user handles (repeatable), e.g. Haarlem.",
        ),
    ] = None,
    all_municipalities: Annotated[
        bool,
        typer.Option("--all-municipalities", help="A regional account: every municipality."),
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Add an account (argon2id hash; at least 12 characters) of one or more
    municipalities, or of all of them, in a role: reviewer (works cases), supervisor,
    admin, or policy (Stromen only, never a case). Supervisors and admins enrol a TOTP
    second factor at their first login; reviewers may choose to on their account page."""
    who = _actor(actor)
    key = _audit_key("user add", dev=dev)
    places = list(municipality or [])
    if not places and not all_municipalities:
        raise ConfigError("give --municipality NAME (repeatable) or --all-municipalities")
    password = _password("password", from_stdin=password_stdin)
    settings, _, url = _settings()
    _, zones = load_law(settings)
    with _transaction(url, key) as session:
        user = add_user(
            session, name, password, role, actor=who, municipalities=places,
            all_municipalities=all_municipalities, zones=zones,
        )  # fmt: skip
        where = (
            "all municipalities"
            if all_municipalities
            else ", ".join(sorted(m.municipality for m in _municipalities_of(session, user.id)))
        )
        print(f"user {user.username} added ({user.role}; {where})")


def _municipalities_of(session: Session, user_id: int) -> list[UserMunicipality]:
    return list(
        session.scalars(select(UserMunicipality).where(UserMunicipality.user_id == user_id))
    )


def _password(prompt: str, *, from_stdin: bool) -> str:
    """A password from one line of stdin (`--password-stdin`, for scripts), else typed twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


def _change_account(
    command: str,
    name: str,
    change: Callable[..., object],
    *,
    actor: str | None,
    dev: bool,
) -> None:
    """One audited change to the account `name` (disable, enable, reset-totp): the actor and
    the audit key checked before the database is opened, then `change(session, name,
    actor=...)` in one transaction."""
    who = _actor(actor)
    key = _audit_key(command, dev=dev)
    _, _, url = _settings()
    with _transaction(url, key) as session:
        change(session, name, actor=who)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Disable an account (accounts are never deleted: the audit log names them)."""
    _change_account("user disable", name, disable_user, actor=actor, dev=dev)
    print(f"user {name} disabled")


@user_app.command("enable")
def user_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Re-enable a disabled account."""
    _change_account("user enable", name, enable_user, actor=actor, dev=dev)
    print(f"user {name} enabled")


@user_app.command("reset-password")
def user_reset_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Set a one-time password (a forgotten one): the user must change it at the next
    login, before anything else."""
    who = _actor(actor)
    key = _audit_key("user reset-password", dev=dev)
    password = _password("one-time password", from_stdin=password_stdin)
    _, _, url = _settings()
    with _transaction(url, key) as session:
        reset_password(session, name, password, actor=who)
        print(f"user {name}: password reset; they choose a new one at the next login")


@user_app.command("provision-totp")
def user_provision_totp(
    name: Annotated[str, typer.Argument(help="User name.")],
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Make the user's second-factor key and show it once, as a QR code and as text, to
    hand over in person: their first login then asks for a code of it (no key is trusted
    on first use). Replaces a key they had."""
    import segno

    who = _actor(actor)
    key = _audit_key("user provision-totp", dev=dev)
    cases = load_case_settings()
    require_keys("zes enforce user provision-totp", [cases.evidence_key_setting], dev=dev)
    _, _, url = _settings()
    with _transaction(url, key) as session:
        secret = provision_second_factor(
            session, name, TotpCipher(cases.evidence_cipher_key()), actor=who
        )
    uri = totp_uri(secret, name)
    segno.make(uri, error="m").terminal(compact=True)
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    print(f"user {name}: second-factor key (shown this once): {spaced}")
    print(uri)


@user_app.command("reset-totp")
def user_reset_totp(
    name: Annotated[str, typer.Argument(help="User name.")],
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Forget a user's second-factor key (a lost phone): they enrol again at next login."""
    _change_account("user reset-totp", name, reset_second_factor, actor=actor, dev=dev)
    print(f"user {name}: second factor reset; a new one is enrolled at the next login")


@enforce_app.command("export")
def export_command(
    out: Annotated[Path | None, typer.Option(help="Folder for the batches.")] = None,
    actor: ActorOption = None,
    dev: DevOption = False,
) -> None:
    """Export approved cases: per municipality a fines batch and a warning-letters batch
    (each case exactly once; a batch number is never used twice)."""
    who = _actor(actor)
    key = _audit_key("export", dev=dev)
    settings, cases, url = _settings()
    engine = make_engine(url)
    try:
        sessions = session_factory(engine, audit_key=key)
        result = export(
            sessions, out or cases.exports(settings.work_dir), rechecker_from(settings),
            actor=who,
        )  # fmt: skip
    finally:
        engine.dispose()
    for batch in result.batches:
        print(
            f"{batch.kind} batch {batch.number} of {batch.municipality}: "
            f"{batch.cases} cases → {batch.path}"
        )
    if not result.batches:
        print("nothing new to export")
    if result.closed:
        print(f"{result.closed} approved cases closed: an exemption now covers them")
    if result.held:
        print(f"{result.held} cases held back: the register could not be asked")


@enforce_app.command("purge")
def purge_command(actor: ActorOption = None, dev: DevOption = False) -> None:
    """Retention: held evidence of compliant passages after the hold; rejected and closed
    cases with their sightings and evidence after RETENTION_DAYS, exported ones
    RETENTION_EXPORTED_DAYS after their last outcome (never under objection; anonymous counts
    stay); failed-login names after FAILED_LOGIN_DAYS; expired rate counters and logins.
    Run hourly (deploy/k8s, deploy/systemd)."""
    who = _actor(actor)
    key = _audit_key("purge", dev=dev)
    _, cases, url = _settings()
    with _transaction(url, key) as session:
        result = purge(
            session, datetime.now(UTC), retention_days=cases.retention_days,
            hold_hours=cases.evidence_hold_hours,
            failed_login_days=cases.failed_login_days, actor=who,
            exported_retention_days=cases.retention_exported_days,
            session_hours=cases.session_hours, idle_minutes=cases.idle_minutes,
        )  # fmt: skip
    print(
        f"purged: {result.evidence_items} evidence items and {result.sightings} sightings "
        f"of {result.cases} finished and {result.exported_cases} exported cases, "
        f"{result.pending_items} held items, {result.blobs} images, "
        f"{result.failed_logins} failed-login names, {result.rate_counters} rate counters, "
        f"{result.web_sessions} ended logins"
    )


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Print the chain's anchor, {"count": N, "head": "<hex>"}: keep it outside the
    database; `verify --anchor FILE` then detects a log cut back behind it."""
    _, _, url = _settings()
    with _transaction(url) as session:
        print(audit.anchor(session).to_json())


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        Path | None,
        typer.Option(help="An anchor printed by `audit anchor`, or an export manifest."),
    ] = None,
) -> None:
    """Check the audit log's HMAC chain (and that it still reaches the anchor); exit 1
    naming the first bad entry when it was tampered with."""
    try:
        expected = audit.read_anchor(anchor) if anchor is not None else None
    except audit.AnchorError as exc:
        raise ConfigError(str(exc)) from None
    _, _, url = _settings()
    with _transaction(url) as session:
        report = audit.verify(session, expected)
    if report.ok and report.entries == 0 and (expected is None or expected.count > 0):
        # Nothing was verified: a log that was emptied looks just like this (issue 23).
        print("audit log EMPTY: no entry to verify; a log that was emptied looks the same")
        raise typer.Exit(1)
    if report.ok and expected is not None:
        print(
            f"audit chain intact: {report.entries} entries, reaching the anchor at entry "
            f"{expected.count}"
        )
        return
    if report.ok:
        print(
            f"audit chain consistent: {report.entries} entries; truncation NOT checked "
            "(newest entries cut off with the head moved back look the same): pass --anchor "
            "FILE, an anchor or export manifest kept outside the database"
        )
        return
    print(f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem}")
    raise typer.Exit(1)


@outcome_app.command("import")
def outcome_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: case_reference or batch_file + batch_line, "
            "status, reason_code, date (YYYY-MM-DD)."
        ),
    ],
    actor: ActorOption = None,
) -> None:
    """Import outcomes from the fine authority (idempotent: a row recorded before adds
    nothing). A file with any bad row is refused whole, every bad line named."""
    from enforcement.casework.outcomes import OutcomeImportError, import_outcomes

    who = _actor(actor)
    _, cases, url = _settings()
    engine = make_engine(url)
    try:
        sessions = session_factory(engine, audit_key=cases.audit_hmac_key())
        result = import_outcomes(sessions, file, actor=who)
    except OSError as exc:
        raise ConfigError(f"outcome file {file}: {exc.strerror or exc}") from None
    except OutcomeImportError as exc:
        print(f"{file.name}: {len(exc.rows)} bad rows, nothing imported", file=sys.stderr)
        for row in exc.rows:
            print(f"  line {row.line}: {row.problem}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    print(
        f"{file.name}: {result.rows} rows, {result.recorded} outcomes recorded, "
        f"{result.already} recorded before"
    )


@enforce_app.command("dossier")
def dossier_command(
    case: Annotated[
        str | None, typer.Argument(help="The case: its number or its case key.")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", help="Every case of this export batch number.")
    ] = None,
    municipality: Annotated[
        str | None, typer.Option(help="With --batch: the batch's municipality.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="With --batch: fine or warning.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The PDF (one case) or a folder (--batch); default WORK_DIR/dossiers.",
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="nl (default) or en.")] = "nl",
    actor: ActorOption = None,
) -> None:
    """The objection dossier of one case, or of every case of an export batch, as PDF
    (mode 0600): case, sanction, images with their SHA-256, rules, officers, export,
    outcomes, audit entries and the chain's anchor. Producing one is audited."""
    from enforcement.casework.dossier import (
        DossierError,
        batch_cases,
        build,
        find_case,
        write_private,
    )
    from enforcement.casework.notes import NoteCipher

    who = _actor(actor)
    if (case is None) == (batch is None):
        raise ConfigError("give a CASE or --batch N (not both)")
    settings, cases, url = _settings()
    vault = EvidenceVault(cases.evidence_cipher_key())
    notes = NoteCipher(cases.evidence_cipher_key())
    folder = settings.work_dir / "dossiers"
    now = datetime.now(UTC)
    try:
        with _transaction(url) as session:
            if case is not None:
                found = find_case(session, case)
                if found is None:
                    raise ConfigError(f"no case {case}")
                dossier = build(session, found, vault, actor=who, now=now, lang=lang, notes=notes)
                path = out or folder / f"dossier-{found.id}.pdf"
                write_private(path, dossier.pdf)
                print(f"dossier of case {found.id}: {path} ({len(dossier.pdf)} bytes)")
                return
            assert batch is not None
            export_batch, members = batch_cases(
                session, batch, municipality=municipality, kind=kind
            )
            target = out or folder / export_batch.file_name.removesuffix(".csv")
            intact = audit.verify(session).ok  # once for the batch, not per case
            if not intact:
                raise ConfigError("the audit chain is broken: run zes enforce audit verify")
            for member in members:
                dossier = build(
                    session, member, vault, actor=who, now=now, lang=lang, verify_chain=False,
                    notes=notes,
                )  # fmt: skip
                write_private(target / f"dossier-{member.id}.pdf", dossier.pdf)
            print(f"{len(members)} dossiers of {export_batch.file_name} → {target}")
    except DossierError as exc:
        raise ConfigError(str(exc)) from None
