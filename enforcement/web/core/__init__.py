"""Cross-cutting parts of the review app: security, templating, shared state."""
