"""The officers' review web app: server-rendered pages on the casework service layer.

`app.create_app` builds the FastAPI app, `app.serve` runs it (and its /metrics server) on
127.0.0.1. The security rules are pure functions in `core.security`; `middleware` applies
them to every request (headers, CSRF) and `deps` gives routes what they need (the context,
a database session, the user, roles, the municipality scope). Pages live in `routes`, words
in `enforcement.messages.UI`; the login and counter tables are `casework.logins`.
"""

from enforcement.web.app import create_app, serve

__all__ = ["create_app", "serve"]
