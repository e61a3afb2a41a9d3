"""Engines, sessions and migrations for the case database (SQLite embedded, PostgreSQL
in production). The schema is Alembic's: `migrate()` upgrades to head at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
AUDIT_KEY_INFO = "zes_audit_key"
"""Where a session carries the audit key (`Session.info`)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned per backend: SQLite in WAL mode with foreign keys and a busy timeout
    (intake and the review app write at once), PostgreSQL with a checked pool. Errors never
    carry the bound parameters (`hide_parameters`): they hold plates."""
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling is off so that BEGIN IMMEDIATE below
            # takes the write lock at the start of every transaction: a read-then-write
            # transaction can then never fail half-way on a lock upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: Engine, *, audit_key: bytes | None = None) -> sessionmaker[Session]:
    """Sessions on `engine`; with `audit_key` (`CaseSettings.audit_hmac_key()`) they can
    append to and verify the audit chain (enforcement.casework.audit), else they cannot."""
    info = {AUDIT_KEY_INFO: audit_key} if audit_key else {}
    return sessionmaker(engine, expire_on_commit=False, info=info)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the newest schema (idempotent)."""
    command.upgrade(alembic_config(url), "head")


_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_application_role(url: str, role: str) -> None:
    """PostgreSQL: give the application role (`ZES_CASES_APP_ROLE`) the rows of every table
    and nothing else. Run by `zes enforce migrate` as the owner role after each upgrade, so
    the tables of new revisions are granted too. The role owns nothing, so it cannot ALTER a
    table (`DISABLE TRIGGER USER` on audit_log included: issue 23); it may not UPDATE or
    DELETE audit entries (the trigger of revision 0002 refuses them as well) nor move the
    schema version. deploy/postgres/roles.sql makes the two roles."""
    if not _ROLE.fullmatch(role):
        raise ValueError(f"{role!r} is not a plain PostgreSQL role name ([a-z_][a-z0-9_]*)")
    engine = make_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return  # SQLite has no roles: the embedded default is one process's file
        name = engine.dialect.identifier_preparer.quote(role)
        with engine.begin() as connection:
            for statement in (
                f"GRANT USAGE ON SCHEMA public TO {name}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}",
                f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {name}",
                f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {name}",
                f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {name}",
            ):
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def insert_new(
    session: Session,
    table: type[Any],
    rows: list[dict[str, Any]],
    conflict: str,
    *more: str,
    returning: tuple[str, ...] = (),
    known_absent: bool = False,
) -> list[tuple[Any, ...]]:
    """Insert the rows whose key (`conflict`, *more) is not there yet: the sinks' idempotence.
    Returns one tuple per new row: its key columns plus the `returning` columns.

    The keys present are read first and the rest inserted with ON CONFLICT DO NOTHING (a
    concurrent writer cannot make it fail). No RETURNING on the insert: with psycopg it turns
    a pipelined executemany into one huge statement per page, 5x slower here (6.1k vs 30k
    rows/s). `known_absent`: the caller read these keys in this transaction and found none,
    so they are not read again."""
    if not rows:
        return []
    names = (conflict, *more)
    core = cast(Table, table.__table__)

    def key_of(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[n] for n in names)

    wanted = {key_of(row): row for row in rows}
    present = {} if known_absent else _present(session, core, names, list(wanted))
    new = [row for key, row in wanted.items() if key not in present]
    if not new:
        return []
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.connection().execute(
        insert(core).on_conflict_do_nothing(index_elements=list(names)), new
    )
    if not returning:
        return [key_of(row) for row in new]
    found = _present(session, core, names, [key_of(row) for row in new], returning)
    return [(*key, *found[key]) for key in map(key_of, new) if key in found]


def _present(
    session: Session,
    core: Table,
    names: tuple[str, ...],
    keys: list[tuple[Any, ...]],
    extra: tuple[str, ...] = (),
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Which of `keys` exist, with their `extra` columns; filtered on the first key column
    (indexed) in chunks, the rest compared here."""
    first = core.c[names[0]]
    columns = [core.c[n] for n in (*names, *extra)]
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    wanted = set(keys)
    firsts = list({key[0] for key in keys})
    for i in range(0, len(firsts), 5000):
        chunk = firsts[i : i + 5000]
        for row in session.connection().execute(select(*columns).where(first.in_(chunk))):
            key = tuple(row[: len(names)])
            if key in wanted:
                found[key] = tuple(row[len(names) :])
    return found
