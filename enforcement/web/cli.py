"""`zes enforce serve`: the review app's command. `zes.cli` mounts it beside the casework
commands, since casework speaks no HTTP and so cannot mount it itself."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from enforcement.casework.cli import DevOption
from enforcement.casework.db import migrate
from enforcement.casework.settings import load_case_settings, review_keys
from enforcement.settings import ConfigError, load_settings, require_keys
from enforcement.web.app import serve


def serve_command(dev: DevOption = False) -> None:
    """Run the review web app (127.0.0.1 by default) and its metrics endpoint."""
    settings, cases = load_settings(), load_case_settings()
    # Refused before the database is touched (serve checks again for its other callers).
    require_keys("the review app", review_keys(settings, cases), dev=dev)
    url = cases.url(settings.work_dir)
    try:
        migrate(url)
    except Exception as exc:  # an unreachable or unwritable database is a user problem
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"case database {shown}: {exc}") from None
    serve(settings, cases, dev=dev)
