"""Who is in the research registry: patients with a research consent in force.

Every research page, analysis and export counts only these patients. Withdrawing the consent
takes the patient out of every later analysis and export (records.service.consent_in_force
is the one rule for "this consent counts"; this is the same rule as a query).
"""

from __future__ import annotations

from sqlalchemy import Select, select

from triggerpoint.records.models import Consent
from triggerpoint.records.service import RESEARCH


def consented_patient_ids(*, clinic_id: int | None) -> Select[int]:
    """Ids of the patients (of one clinic, or of every clinic for None) whose research
    consent is in force: a subquery to filter any research query with."""
    q = select(Consent.patient_id).where(Consent.kind == RESEARCH, Consent.status == "active")
    if clinic_id is not None:
        q = q.where(Consent.clinic_id == clinic_id)
    return q.distinct()
