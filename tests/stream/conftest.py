"""The stream tests' fixtures: `harness` (tests.stream.harness)."""

from tests.stream.harness import harness  # noqa: F401  (fixtures used by name)
