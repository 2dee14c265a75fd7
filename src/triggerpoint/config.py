"""All runtime settings in one place, read from `TRIGGERPOINT_*` environment variables."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIGGERPOINT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the SQLite file and backups live"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite at <data_dir>/triggerpoint.sqlite3. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    session_hours: float = Field(
        default=8.0, gt=0, le=24 * 30, description="Idle login session lifetime"
    )
    secure_cookies: bool | None = Field(
        default=None,
        description="Force the Secure cookie flag (default: on when the request is HTTPS)",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failures before a login is throttled"
    )
    login_lockout_minutes: int = Field(default=15, ge=1)
    inference_params: Path | None = Field(
        default=None, description="YAML file overriding the inference defaults"
    )
    timezone: str = Field(
        default="UTC",
        description="The clinic's IANA time zone (e.g. Europe/Madrid): pages show times in it "
        "and forms read times in it; storage is always UTC",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r} (e.g. Europe/Madrid)") from None
        return v


@cache
def get_settings() -> Settings:
    return Settings()
