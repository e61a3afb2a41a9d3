"""The review app's pages, one module per area (as in full-stack-fastapi-template)."""
