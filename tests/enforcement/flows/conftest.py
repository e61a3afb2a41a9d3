from __future__ import annotations

from tests.enforcement.casework.conftest import (  # noqa: F401  (fixtures used by name)
    case_db,
    postgres_db,
    sqlite_db,
)
