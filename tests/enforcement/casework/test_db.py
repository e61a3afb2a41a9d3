"""The Alembic migrations are the schema: they match the models on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from enforcement.casework.consumer import short_reason
from enforcement.casework.db import alembic_config, migrate
from enforcement.casework.models import Base, User
from tests.enforcement.casework.conftest import CaseDB


def test_migrations_match_the_models(case_db: CaseDB) -> None:
    import enforcement.flows.models  # noqa: F401  (the flow tables share the schema)

    with case_db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migrate_is_idempotent(case_db: CaseDB) -> None:
    migrate(case_db.url)
    with case_db.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    # The newest migration (one head: a second one would mean two unmerged schema changes).
    heads = ScriptDirectory.from_config(alembic_config(case_db.url)).get_heads()
    assert [version] == heads


def test_sqlite_runs_in_wal_mode(sqlite_db: CaseDB) -> None:
    with sqlite_db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_database_errors_never_carry_the_bound_values(case_db: CaseDB) -> None:
    """SQLAlchemy's error text lists the bound parameters, plates included, unless the
    engine hides them: such a text ends up in logs and dead letters. PostgreSQL's own DETAIL
    line can still quote a value, so the intake keeps the first line only."""
    row = insert(User).values(
        username="VNB12X", password_hash="x", role="reviewer", active=True,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    with case_db.engine.begin() as connection:
        connection.execute(row)
    with pytest.raises(IntegrityError) as refused, case_db.engine.begin() as connection:
        connection.execute(row)  # the same user name again
    text = str(refused.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in text
    assert "'VNB12X'" not in text  # no parameter list (PostgreSQL's DETAIL line may quote it)
    assert "VNB12X" not in short_reason(refused.value)  # what the intake logs and dead-letters
