"""The officers' review web app: server-rendered pages on the casework service layer.

`app.create_app` builds the FastAPI app, `app.serve` runs it (and its /metrics server) on
127.0.0.1. Security lives in `core.security`, pages in `routes`, words in
`enforcement.messages.UI`.
"""

from enforcement.web.app import create_app, serve

__all__ = ["create_app", "serve"]
