"""Settings of the municipal exemption desk (`ZES_DESK_*`), frozen. Applications live in the
case database (`ZES_CASES_DATABASE_URL`); grants go to the register of `ZES_REDIS_URL`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from enforcement.exemptions.files import EXAMPLE_DIR
from enforcement.settings import ConfigError, first_error


class DeskSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZES_DESK_", env_file=".env", frozen=True, extra="ignore"
    )

    policy_dir: Path = Field(
        EXAMPLE_DIR,
        description="Folder with framework.yaml and municipalities/*.yaml (default: the "
        "shipped example framework and municipality).",
    )
    applications_per_minute: int = Field(
        5, ge=1, description="Applications and status look-ups per client address a minute."
    )
    retention_days: int = Field(
        90,
        ge=1,
        description="An application is kept this many days after its decision or, when "
        "granted, after the exemption's last day; then only its counts remain.",
    )


def load_desk_settings(**overrides: Any) -> DeskSettings:
    try:
        return DeskSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"setting {first_error(exc, 'ZES_DESK_')}") from None
