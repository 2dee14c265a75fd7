"""Every table, imported in one place so Alembic and `create_all` see the whole schema."""

from triggerpoint.accounts.models import ApiToken, Clinic, LoginAttempt, LoginSession, User
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.dashboard.models import DashboardTally, OutcomeSeries, SessionTally
from triggerpoint.db import Base
from triggerpoint.examination.models import PalpationFinding
from triggerpoint.notes.models import NoteAddendum, NoteTemplate, SoapNote
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal.models import QuestionnaireRequest, QuestionnaireRule
from triggerpoint.portal.outbox import PortalMessage
from triggerpoint.ratelimit import RateLimitHit
from triggerpoint.records.models import (
    Consent,
    Diagnosis,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)
from triggerpoint.research.exports.models import ResearchExportJob
from triggerpoint.research.ltr.models import LtrFit, ResearchDataVersion
from triggerpoint.research.painmap.models import PainmapDrawing, PainmapTally
from triggerpoint.research.reliability.models import (
    Examination,
    Participant,
    Study,
    StudyExaminer,
    StudyFinding,
)
from triggerpoint.treatment.models import (
    Addendum,
    AdverseEvent,
    NeedleEntry,
    NeedlingSession,
    PlannedTarget,
    Screening,
    ScreeningConfirmation,
)

__all__ = [
    "Addendum",
    "AdverseEvent",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Clinic",
    "Consent",
    "DashboardTally",
    "Diagnosis",
    "Episode",
    "Examination",
    "LoginAttempt",
    "LoginSession",
    "LtrFit",
    "Measurement",
    "NeedleEntry",
    "NeedlingSession",
    "NoteAddendum",
    "NoteTemplate",
    "OutcomeSeries",
    "PainDrawing",
    "PainMark",
    "PainmapDrawing",
    "PainmapTally",
    "PalpationFinding",
    "Participant",
    "Patient",
    "PlannedTarget",
    "PortalMessage",
    "QuestionnaireRequest",
    "QuestionnaireRule",
    "RateLimitHit",
    "ResearchDataVersion",
    "ResearchExportJob",
    "Screening",
    "ScreeningConfirmation",
    "SessionTally",
    "SoapNote",
    "Study",
    "StudyExaminer",
    "StudyFinding",
    "User",
    "Visit",
]
