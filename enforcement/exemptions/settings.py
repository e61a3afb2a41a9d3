"""Settings of the municipal exemption desk (`ZES_DESK_*`), frozen. Applications live in the
case database (`ZES_CASES_DATABASE_URL`); grants go to the register of `ZES_REDIS_URL`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings

from enforcement.exemptions.files import EXAMPLE_DIR
from enforcement.settings import load_role_settings, role_settings_config


class DeskSettings(BaseSettings):
    model_config = role_settings_config("ZES_DESK_")

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
    return load_role_settings(DeskSettings, **overrides)
