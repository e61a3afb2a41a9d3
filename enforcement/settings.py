"""Settings for every zes process: environment (`ZES_*`) or a `.env` file, frozen.

The law's parameters and the zone catalogue can be overridden by a TOML file
(`ZES_LAW_FILE`), so a municipality's dates and the disputed switches are data:

    [params]                      # any LawParams field
    van_e6_last_day = 2027-12-31

    [[zones]]                     # adds a zone or replaces one with the same id
    id = "utrecht"
    name = "Utrecht"
    municipality = "Utrecht"
    start = 2025-01-01
    sanction_interval_hours = 48
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from enforcement.areas import AreaCatalog, AreaSpec
from enforcement.keys import DEV_HASH_SECRET, GENERATE, KeySetting, key_problem
from enforcement.model import Zone
from enforcement.params import LawParams
from enforcement.zones import DEFAULT_ZONES, ZoneCatalog, zone_id

_REPO_ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("zes.settings")


def _default_shared() -> Path | None:
    for candidate in (Path.cwd().parent / "shared", _REPO_ROOT.parent / "shared"):
        if candidate.is_dir():
            return candidate
    return None


RoleSettings = TypeVar("RoleSettings", bound=BaseSettings)


class ConfigError(ValueError):
    """A settings or law-file problem, reported as one readable line."""


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")


def role_settings_config(env_prefix: str) -> SettingsConfigDict:
    """The settings of one role, from `env_prefix`* variables and `.env`, frozen.

    extra="ignore": one `.env` serves every role, so it holds ZES_STREAM_*, ZES_CASES_* and
    other roles' keys that are not ours. The files people write by hand (the law TOML, the
    site YAML) keep extra="forbid", where a typo must be caught."""
    return SettingsConfigDict(env_prefix=env_prefix, env_file=".env", frozen=True, extra="ignore")


class Settings(BaseSettings):
    model_config = role_settings_config("ZES_")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis holding the vehicle/exemption register: redis://, rediss://, "
        "unix://, redis+sentinel:// or redis+cluster://.",
    )
    register_prefix: str = Field(
        "zes",
        description="Key prefix of the register in Redis (tests use their own); not empty, "
        "no braces (they mark a Redis Cluster hash slot).",
    )
    hash_secret: SecretStr = Field(
        SecretStr(DEV_HASH_SECRET),
        description="Key for the keyed plate hash used in Redis keys, de-duplication keys "
        "and logs: 32 random bytes as hex or base64 (every role refuses the development "
        "default without --dev).",
    )
    shared_dir: Path | None = Field(
        default_factory=_default_shared,
        description="The read-only shared folder (models, photos, domain cases).",
    )
    model_dir: Path | None = Field(
        None, description="ONNX plate models; defaults to SHARED_DIR/models."
    )
    data_dir: Path | None = Field(
        None, description="Sample photos and videos; defaults to SHARED_DIR/data."
    )
    law_file: Path | None = Field(
        None, description="TOML file overriding law parameters and zones (see module doc)."
    )
    work_dir: Path = Field(
        Path("var"), description="Where generated files (synthetic register, spools) go."
    )

    # Checked here too, so a typo is one line at start-up, not a traceback from the register.
    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must start with {', '.join(REDIS_SCHEMES)}")
        return value

    @field_validator("register_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        if not value or "{" in value or "}" in value:
            raise ValueError("must not be empty or contain braces")
        return value

    @property
    def hash_key(self) -> KeySetting:
        return KeySetting("ZES_HASH_SECRET", self.hash_secret)

    @property
    def models(self) -> Path | None:
        return self.model_dir or (self.shared_dir / "models" if self.shared_dir else None)

    @property
    def data(self) -> Path | None:
        return self.data_dir or (self.shared_dir / "data" if self.shared_dir else None)


class _ZoneOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, description="Slug; derived from the name when absent.")
    name: str = Field(description="Display name.")
    municipality: str | None = Field(None, description="Defaults to the name.")
    start: date | None = Field(description="First day; omit for a municipality without zone.")
    warning_until: date | None = Field(None, description="Last day of the warning period.")
    sanction_interval_hours: int = Field(24, description="24 or 48 (R35).")
    day_permit_min_class: int | None = Field(None, description="Minimum class for R22.")
    aliases: tuple[str, ...] = Field((), description="Other names for the zone.")


class _LawFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict, description="LawParams overrides.")
    zones: list[_ZoneOverride] = Field(default_factory=list, description="Zones to add/replace.")
    areas: list[AreaSpec] = Field(
        default_factory=list, description="Access-window areas (see enforcement.areas)."
    )


def first_error(exc: ValidationError, prefix: str = "") -> str:
    """A validation error as one readable line: the first field's path and message (never
    pydantic's URL). With an environment `prefix` the field is named as its variable
    (`ZES_CASES_PORT`)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if prefix:
        where = f"{prefix}{where}".upper()
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def require_keys(role: str, keys: Iterable[KeySetting], *, dev: bool) -> list[str]:
    """The start-up check of every role (review app, intake, stream worker, edge agent):
    refuse a development value, a passphrase or fewer than 32 random bytes, whatever the
    listen address, with one `ConfigError` naming the settings. With `dev` (`--dev`) each
    problem is logged as a warning and returned instead."""
    problems = [p for p in map(key_problem, keys) if p is not None]
    if problems and not dev:
        raise ConfigError(
            f"{role} refuses to start: {'; '.join(problems)}. Set each to 32 random bytes as "
            f"hex or base64 (e.g. {GENERATE}), or pass --dev on a development machine"
        )
    for problem in problems:
        log.warning("%s: %s (allowed by --dev: development only)", role, problem)
    return problems


def load_role_settings(settings: type[RoleSettings], **overrides: Any) -> RoleSettings:
    """`settings` read from the environment; a bad value is one `ConfigError` line naming
    its variable (with the class's env_prefix)."""
    try:
        return settings(**overrides)
    except ValidationError as exc:
        prefix = str(settings.model_config.get("env_prefix", ""))
        raise ConfigError(f"setting {first_error(exc, prefix)}") from None


def load_settings(**overrides: Any) -> Settings:
    return load_role_settings(Settings, **overrides)


def _law_file(settings: Settings) -> tuple[_LawFile, LawParams]:
    assert settings.law_file is not None
    try:
        raw = tomllib.loads(settings.law_file.read_text(encoding="utf-8"))
        spec = _LawFile.model_validate(raw)
        return spec, LawParams.model_validate(spec.params)
    except FileNotFoundError:
        raise ConfigError(f"law file {settings.law_file} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"law file {settings.law_file}: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"law file {settings.law_file}: {first_error(exc)}") from None


def load_areas(settings: Settings) -> AreaCatalog:
    """The access-window areas of the law file (none without one)."""
    if settings.law_file is None:
        return AreaCatalog()
    spec, _ = _law_file(settings)
    try:
        return AreaCatalog(spec.areas)
    except ValueError as exc:
        raise ConfigError(f"law file {settings.law_file}: {exc}") from None


def load_law(settings: Settings) -> tuple[LawParams, ZoneCatalog]:
    """The law parameters and zone catalogue, with the law file's overrides applied."""
    if settings.law_file is None:
        return LawParams(), ZoneCatalog(DEFAULT_ZONES)
    spec, params = _law_file(settings)
    zones = {z.id: dataclasses.replace(z, params=params) for z in DEFAULT_ZONES}
    for item in spec.zones:
        zone = Zone(
            id=item.id or zone_id(item.name),
            name=item.name,
            municipality=item.municipality or item.name,
            start=item.start,
            warning_until=item.warning_until,
            sanction_interval_hours=item.sanction_interval_hours,
            day_permit_min_class=item.day_permit_min_class,
            params=params,
            aliases=item.aliases,
        )
        if zone.sanction_interval_hours not in (24, 48):
            raise ConfigError(f"zone {zone.id}: sanction_interval_hours must be 24 or 48")
        zones[zone.id] = zone
    return params, ZoneCatalog(zones.values())
