"""The audit trail: append-only, one chain per clinic, each row chained to the one before it
in its chain by an HMAC.

`chain` is the clinic's id (0: system events); `seq` numbers the chain's events 1, 2, ...
Rows with NULL in both are the old global chain from before per-clinic chains, kept as one
closed legacy segment (see `audit.service`). `hash` and `prev_hash` hold 64 hex digits:
HMAC-SHA256 under the audit key (see `audit.keys`), or plain SHA-256 for events written
before keys existed. `AuditHead` holds each chain's newest MAC and count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("chain", "seq"),)  # a chain cannot fork
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    clinic_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    chain: Mapped[int | None] = mapped_column(Integer)  # None: the legacy global chain
    seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row per chain holding its newest MAC and count; locking it serialises its appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int | None] = mapped_column(Integer, unique=True)  # None: the legacy chain
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)
