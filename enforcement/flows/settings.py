"""Settings of the flow statistics (`ZES_FLOWS_*`), frozen. The rows live in the case
database (`ZES_CASES_DATABASE_URL`); the broker is the case settings' unless set here."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings

from enforcement.settings import load_role_settings, role_settings_config


class FlowSettings(BaseSettings):
    model_config = role_settings_config("ZES_FLOWS_")

    broker: str | None = Field(
        None, description="Kafka bootstrap servers; default the case settings' broker."
    )
    topic: str = Field("flows", description="Flow batches from the stream workers.")
    dead_letter_topic: str = Field("flows-dead-letter", description="Flow records unreadable.")
    group: str = Field("zes-flows", description="Consumer group of the flows sink.")
    batch: int = Field(500, ge=1, description="Records per sink transaction.")
    session_timeout_s: float = Field(6.0, gt=0, description="Consumer group session timeout.")
    retention_years: int = Field(
        10,
        ge=1,
        description="Hourly and daily flow rows are kept this many years (policy "
        "trends run to 2030 and beyond); the batch log only 30 days.",
    )
    min_cell: int = Field(
        5,
        ge=1,
        description="Open data: a figure from fewer distinct vehicles than this (however "
        "many entries) is shown as '<k', and totals holding one are rounded (k; 1 switches "
        "suppression off).",
    )
    vehicle_digest_days: int = Field(
        2,
        ge=1,
        description="A day's keyed vehicle digests (which tell 5 entries of one vehicle from "
        "5 vehicles) are replaced by distinct counts this many days after it, when late "
        "passages from an edge spool are unlikely; later ones still count, as a lower bound.",
    )
    metrics_port: int = Field(9105, ge=0, le=65535, description="Sink /metrics port (0: off).")
    metrics_host: str = Field("127.0.0.1", description="Sink /metrics address.")


def load_flow_settings(**overrides: Any) -> FlowSettings:
    return load_role_settings(FlowSettings, **overrides)
