"""HIPAA Safe Harbor de-identification for the research exports, per patient.

Safe Harbor (45 CFR 164.514(b)(2)(i)) lists 18 identifiers of the individual (and of their
relatives, employers and household) that must be removed. How each is handled here:

 (A) names: patient names are not exported; the consent signer's name and staff names
     (clinicians, recorders) are not exported either.
 (B) geographic subdivisions smaller than a state (address, city, ZIP): none is stored; the
     clinic, which could locate a patient, becomes a code random for each export (`site`).
 (C) all elements of dates except the year: every date and time of a patient is moved by one
     offset of 1-365 days (`reports.export.Pseudonyms`), the same in every table and file of
     an export, so intervals within a patient hold; the date of birth is never exported
     (age in years and a five-year band at the first visit instead); ages over 89 and the
     birth year of anyone 90 or over are pooled as "90+" with the birth year left empty.
 (D) telephone numbers, (E) fax numbers, (F) email addresses: not exported.
 (G) social security numbers, (H) medical record numbers, (I) health plan beneficiary
     numbers, (J) account numbers, (K) certificate/licence numbers: none is exported; the
     external id (MRN) is dropped, and database ids are replaced by the study id and
     per-patient sequence numbers (visit_no, episode_no, drawing_no).
 (L) vehicle identifiers, (M) device identifiers and serial numbers: none is stored.
 (N) URLs, (O) IP addresses: not exported (the audit log, which holds addresses, is not).
 (P) biometric identifiers, (Q) full-face photographs: none is stored.
 (R) any other unique identifying number, characteristic or code: free text that may hold
     any of the above (complaints, visit notes, over-depth reasons, adverse-event
     descriptions and actions, palpation notes, measurement context, questionnaire answers)
     is left out; only coded values, numbers and shifted dates leave.

The study id is a keyed HMAC-SHA256 of the patient's database id under a 256-bit key drawn
for each export and discarded with it (not a random id kept in a table). We chose the HMAC
because it needs no state shared between the tables of one export, which are streamed in
separate passes, and gives the same id everywhere in that export; with the key gone it
cannot be translated back to the record (the re-identification code rule, 164.514(c)), and
two exports never share ids, so files cannot be linked across exports.

Only patients whose research consent is in force are exported (`research.consent`).
Reference: HHS, "Guidance Regarding Methods for De-identification of Protected Health
Information in Accordance with the HIPAA Privacy Rule" (2012), section III.
"""

from __future__ import annotations

import secrets
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from triggerpoint.reports.export import Pseudonyms, age_band

OLDEST = 89  # Safe Harbor: ages over 89 are pooled


def age_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_fields(born: date, *, baseline: date, today: date) -> tuple[int | None, str, int | None]:
    """(age in years at baseline or None when over 89, five-year band, birth year or None).

    The birth year goes when the patient is over 89 at baseline or today: with a year of
    birth and today's date anyone could work out an age over 89.
    """
    at_baseline = age_years(born, baseline)
    old = at_baseline > OLDEST or age_years(born, today) > OLDEST
    return (
        None if at_baseline > OLDEST else at_baseline,
        age_band(born, baseline),
        None if old else born.year,
    )


class Deidentifier:
    """The pseudonyms of one export: study ids, date offsets and site codes."""

    def __init__(self, key: bytes | None = None) -> None:
        self.pseudonyms = Pseudonyms(key, id_hex=16)
        self._sites: dict[int, str] = {}
        self.ids: dict[int, str] = {}
        self.shifts: dict[int, int] = {}
        self._columns: tuple[pa.Array, pa.Array, pa.Array] | None = None

    def admit(self, patient_id: int) -> str:
        """Register an exported patient; returns their study id."""
        rid = self.pseudonyms.research_id(patient_id)
        self.ids[patient_id] = rid
        self.shifts[patient_id] = self.pseudonyms.shift_days(patient_id)
        return rid

    def id_of(self, patient_id: int) -> str:
        return self.ids.get(patient_id) or self.admit(patient_id)

    def shift_of(self, patient_id: int) -> int:
        if patient_id not in self.shifts:
            self.admit(patient_id)
        return self.shifts[patient_id]

    def columns(self, patient_ids: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """(patient ids, their study ids, their offsets in days) as Arrow arrays, every
        patient of `patient_ids` admitted first: the tables de-identify whole columns by
        looking the patient up in these."""
        if (
            self._columns is not None
            and pc.all(pc.is_in(patient_ids.drop_null(), value_set=self._columns[0])).as_py()
            is not False
        ):
            return self._columns
        for pid in pc.unique(patient_ids.drop_null()).to_pylist():
            if pid not in self.ids:
                self.admit(pid)
        known = list(self.ids)
        self._columns = (
            pa.array(known, pa.int64()),
            pa.array([self.ids[p] for p in known], pa.string()),
            pa.array([self.shifts[p] for p in known], pa.int64()),
        )
        return self._columns

    def site(self, clinic_id: int) -> str:
        if clinic_id not in self._sites:
            self._sites[clinic_id] = "S" + secrets.token_hex(4)
        return self._sites[clinic_id]
