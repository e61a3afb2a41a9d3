"""The Alembic migrations are the schema: they match the models on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from enforcement.casework.db import alembic_config, migrate
from enforcement.casework.models import Base
from tests.enforcement.casework.conftest import CaseDB


def test_migrations_match_the_models(case_db: CaseDB) -> None:
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
