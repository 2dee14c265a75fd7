"""All runtime settings in one place, read from `TRIGGERPOINT_*` environment variables."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2.profiles import RFC_9106_HIGH_MEMORY, RFC_9106_LOW_MEMORY
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIGGERPOINT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the SQLite file and backups live"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_in_flight: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Requests one app process handles at once; beyond it the app answers 503 "
        "with Retry-After: 1 straight away rather than queueing without limit (/healthz is "
        "exempt). Each `serve --workers` process has its own",
    )
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
        default=5,
        ge=1,
        description="Failed logins for one username from one address before each further "
        "attempt from there must wait (exponential backoff; other addresses are unaffected)",
    )
    login_lockout_minutes: int = Field(
        default=15, ge=1, description="The longest backoff wait after failed logins"
    )
    login_backoff_seconds: int = Field(
        default=30, ge=1, description="The first backoff wait; it doubles with each failure"
    )
    login_address_max_failures: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one address, for any usernames, before that address "
        "must wait (password spraying)",
    )
    login_address_window_minutes: int = Field(
        default=60, ge=1, description="How long failures from one address are counted"
    )
    login_failure_memory_hours: float = Field(
        default=24,
        gt=0,
        description="How long failures for one username from one address are counted "
        "(a successful login forgets them)",
    )
    proxy_hops: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Reverse proxies in front of the app that append to X-Forwarded-For; "
        "0 (the default) trusts no X-Forwarded-For and uses the connection's address",
    )
    # Argon2id cost of new password hashes. The defaults are argon2-cffi's own
    # `PasswordHasher()` (RFC 9106 low-memory profile); a stored hash carries its parameters,
    # so hashes made at another cost still verify and are re-made at this cost at login.
    # Ceilings: a cost a typo could make huge (a login that needs terabytes) is refused at
    # load, not found at the first login; memory up to RFC 9106's high-memory profile (2 GiB).
    argon2_time_cost: int = Field(
        default=RFC_9106_LOW_MEMORY.time_cost,
        ge=1,
        le=64,
        description="Argon2 passes over memory for a new password hash. Lower it for test "
        "runs only (tools/mutation.py does): it weakens every password hashed meanwhile",
    )
    argon2_parallelism: int = Field(
        default=RFC_9106_LOW_MEMORY.parallelism,
        ge=1,
        le=64,
        description="Argon2 lanes for a new password hash",
    )
    argon2_memory_cost: int = Field(
        default=RFC_9106_LOW_MEMORY.memory_cost,
        ge=8,
        le=RFC_9106_HIGH_MEMORY.memory_cost,
        description="Argon2 memory for a new password hash, in KiB; at least 8 x "
        "argon2_parallelism. Lower it for test runs only",
    )
    token_days: int = Field(
        default=90, ge=1, le=365, description="Default lifetime of a new API token, in days"
    )
    rate_limit_suggest: str = Field(
        # The live suggest page asks again after every mark, so a quick drawing needs room.
        default="120/minute",
        description="Per-user limit on /api/suggest (`limits` notation, e.g. 120/minute)",
    )
    rate_limit_pdf: str = Field(default="10/minute", description="Per-user limit on PDF reports")
    rate_limit_fhir: str = Field(
        default="10/minute", description="Per-user limit on FHIR export and import"
    )
    rate_limit_portal: str = Field(
        default="60/minute", description="Per-address limit on the patient's link pages (/r/)"
    )
    rate_limit_portal_miss: str = Field(
        default="10/minute",
        description="Unknown patient links per address before the address is refused",
    )
    inference_params: Path | None = Field(
        default=None, description="YAML file overriding the inference defaults"
    )
    suggest_max_terms: float = Field(
        default=3e7,
        ge=1e5,
        le=1e10,
        description="Most work one suggestion may do, in the engine's terms (sweep state updates, "
        "enumerated configurations x findings) summed over the drawing's components; beyond it "
        "the bounded approximation answers and says so. 3e7 is under a second of CPU",
    )
    trust_forwarded_proto: bool = Field(
        default=False,
        description="Behind a TLS-terminating proxy: believe its X-Forwarded-Proto header, so "
        "HTTPS requests get HSTS. Leave off unless only the proxy can reach the app",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="Secret key (mode 0600) the audit chain's HMACs are made with; keep it "
        "outside the database and back it up apart from it. Default: audit.key beside the "
        "SQLite database, or in data_dir for PostgreSQL (see docs/security.md)",
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description="Append-only file of audit checkpoints (one JSON line each, written by "
        "`triggerpoint audit checkpoint`). Default: audit-checkpoints.jsonl beside the SQLite "
        "database, or in data_dir for PostgreSQL",
    )
    timezone: str = Field(
        default="UTC",
        description="The clinic's IANA time zone (e.g. Europe/Madrid): pages show times in it "
        "and forms read times in it; storage is always UTC",
    )

    # Delivery of questionnaire requests (portal/messages.py) and the job queue (portal/jobs.py).
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for the patients' questionnaire emails; unset: no email is "
        "sent (the message waits in the outbox and the worker logs why)",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port (587 submission)")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="starttls (port 587), ssl (implicit TLS, port 465) or none (a relay on "
        "localhost only: the message and the link would cross the network in clear)",
    )
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server asks")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_timeout_seconds: float = Field(
        default=30, gt=0, le=600, description="How long one SMTP conversation may take"
    )
    mail_from: str = Field(
        default="triggerpoint@localhost",
        description="The From address of the questionnaire emails (the clinic's own address)",
    )
    sms_sender: str = Field(
        default="triggerpoint.portal.messages:LoggingSms",
        description="module:Class of the SMS adapter (a `SmsSender`); the default only logs "
        "that a message would have been sent, with no provider assumed",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address patients reach the app at: their questionnaire links are "
        "<public_base_url>/r/<token> (behind a proxy: the public https:// address)",
    )
    instrument_texts_dir: Path | None = Field(
        default=None,
        description="Folder of licensed questionnaire wording (<instrument>.<lang>.yaml, e.g. "
        "ndi.es.yaml), read before the wording we ship (NPRS only)",
    )
    queue_url: str | None = Field(
        default=None,
        description="Where the job queue keeps its tasks: sqlite:///path (default: "
        "<data_dir>/jobs.sqlite3, one machine), or for workers on several machines "
        "postgresql://user:pass@host/db (tables huey_*) or redis://host:6379/0",
    )
    export_dir: Path | None = Field(
        default=None,
        description="Folder of research export bundles (one zip per background export job). "
        "Default: exports/ beside the SQLite database, or in data_dir for PostgreSQL",
    )
    export_lease_seconds: int = Field(
        default=600,
        ge=1,
        le=86_400,
        description="How long a research export job's worker may go without reporting "
        "progress (each table, or each chunk of 500 patients for ODM, renews it) before the "
        "job counts as abandoned and is queued again. Longer than the slowest part takes",
    )
    export_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Workers that may claim one research export job; when the last one "
        "stops mid-export the job is marked failed",
    )
    export_retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="Days a finished research export's bundle is kept; then the file is "
        "deleted and the job shows `expired` (the row stays, for the audit trail)",
    )
    request_days: int = Field(
        default=7, ge=1, le=90, description="Default lifetime of a questionnaire link, in days"
    )
    reminder_days_before_expiry: int = Field(
        default=2,
        ge=0,
        le=30,
        description="Remind the patient once when this many days are left of an unanswered "
        "request (0: no reminders)",
    )

    @field_validator("argon2_memory_cost")
    @classmethod
    def _argon2_memory(cls, v: int, info: ValidationInfo) -> int:
        """Argon2's own floor: 8 KiB per lane (argon2_parallelism is declared first)."""
        lanes = info.data.get("argon2_parallelism")
        if lanes is not None and v < 8 * lanes:
            raise ValueError(
                f"{v} KiB is under Argon2's floor of 8 KiB per lane: at least {8 * lanes} "
                f"for argon2_parallelism {lanes}"
            )
        return v

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, v: str | None) -> str | None:
        schemes = ("sqlite:///", "postgresql://", "postgresql+psycopg://", "redis://", "rediss://")
        if v is not None and not v.startswith((*schemes, "memory:")):
            raise ValueError(
                f"not a queue URL: {v!r} (sqlite:///path/jobs.sqlite3, "
                "postgresql://user:pass@host/db or redis://host:6379/0)"
            )
        return v

    @field_validator(
        "rate_limit_suggest",
        "rate_limit_pdf",
        "rate_limit_fhir",
        "rate_limit_portal",
        "rate_limit_portal_miss",
    )
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from limits import parse

        try:
            parse(v)
        except ValueError:
            raise ValueError(
                f"not a rate limit: {v!r} (e.g. 30/minute, 10 per 5 minutes)"
            ) from None
        return v

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
