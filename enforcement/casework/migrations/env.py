"""Alembic environment: online migrations against the configured URL."""

from __future__ import annotations

from alembic import context

from enforcement.casework.db import make_engine
from enforcement.casework.models import Base
from enforcement.flows import models as flow_models

# The flow statistics' tables share this schema and its history (`enforcement.flows.models`).
assert flow_models.FlowHour.metadata is Base.metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "alembic needs sqlalchemy.url (set by enforcement.casework.db.alembic_config)"
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
