"""PostgreSQL roles (issue 23): in compose the application's own role owned `audit_log` and
could `ALTER TABLE audit_log DISABLE TRIGGER USER`, then rewrite the append-only log. Now
migrations run as an owner role (deploy/postgres/roles.sql makes both) and every process as
an application role that owns nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from enforcement.casework import audit
from enforcement.casework.db import make_engine, session_factory
from tests.enforcement.casework.conftest import AUDIT_KEY
from zes.cli import main

pytestmark = pytest.mark.postgres
ROLES_SQL = Path(__file__).resolve().parents[3] / "deploy" / "postgres" / "roles.sql"


def _psql_to_sql(text: str, variables: dict[str, str]) -> list[str]:
    """roles.sql with its psql variables filled in, as statements."""
    for name, value in variables.items():
        text = text.replace(f':"{name}"', f'"{value}"').replace(f":'{name}'", f"'{value}'")
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@pytest.fixture
def roles(postgres_admin_url: str, postgres_url: str) -> Iterator[tuple[str, str]]:
    """(owner URL, app URL) on this test's database, the roles made by deploy/postgres."""
    tag = uuid.uuid4().hex[:8]
    owner, app = f"zes_owner_{tag}", f"zes_app_{tag}"
    database = make_url(postgres_url).database
    assert database is not None
    variables = {"owner_role": owner, "owner_password": "owner-pw", "app_role": app,
                 "app_password": "app-pw", "database": database}  # fmt: skip
    superuser = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with superuser.connect() as connection:
        for statement in _psql_to_sql(ROLES_SQL.read_text(encoding="utf-8"), variables):
            connection.exec_driver_sql(statement)
    superuser.dispose()
    base = make_url(postgres_url)
    urls = [base.set(username=u, password=p).render_as_string(hide_password=False)
            for u, p in ((owner, "owner-pw"), (app, "app-pw"))]  # fmt: skip
    try:
        yield urls[0], urls[1]
    finally:
        admin = sqlalchemy.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{app}"')
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{owner}"')
        admin.dispose()


def test_the_application_role_cannot_disable_the_audit_trigger(
    roles: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    owner_url, app_url = roles
    app_role = make_url(app_url).username
    assert app_role is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZES_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("ZES_CASES_DATABASE_URL", owner_url)
    monkeypatch.setenv("ZES_CASES_APP_ROLE", app_role)
    assert main(["enforce", "migrate"]) == 0

    engine = make_engine(app_url)
    try:
        # The application does its work: it appends to the chain.
        with session_factory(engine, audit_key=AUDIT_KEY).begin() as session:
            audit.append(session, "anna", "login", at=datetime.now(UTC))
        for statement in (
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'mallory'",
            "TRUNCATE audit_log",
            "CREATE TABLE evil (id int)",
            "UPDATE alembic_version SET version_num = '0001'",
        ):
            with engine.connect() as connection, pytest.raises(DBAPIError) as refused:
                connection.exec_driver_sql(statement)
            assert "permission denied" in str(refused.value) or "must be owner" in str(
                refused.value
            ), statement
        with session_factory(engine, audit_key=AUDIT_KEY)() as session:
            assert audit.verify(session).ok and audit.verify(session).entries == 1
    finally:
        engine.dispose()

    # The owner can (that is why nothing but `zes enforce migrate` connects as it).
    owner = make_engine(owner_url)
    try:
        with owner.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
    finally:
        owner.dispose()
