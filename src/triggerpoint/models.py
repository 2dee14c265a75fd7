"""Every table, imported in one place so Alembic and `create_all` see the whole schema."""

from triggerpoint.accounts.models import ApiToken, Clinic, LoginAttempt, LoginSession, User
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.db import Base
from triggerpoint.records.models import (
    Consent,
    Diagnosis,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Clinic",
    "Consent",
    "Diagnosis",
    "Episode",
    "LoginAttempt",
    "LoginSession",
    "PainDrawing",
    "PainMark",
    "Patient",
    "User",
    "Visit",
]
