"""The languages a patient's own pages (questionnaire links, messages) are offered in.

Why here: a patient's `preferred_language` is validated by records, and records may not
import the portal that holds the catalogues (portal builds on records). So the list lives
here, and `portal.i18n` refuses to load when its catalogues and this list disagree: adding
a language is its catalogue plus one line here, and forgetting either fails at start-up.
Codes are BCP 47 primary language subtags (RFC 5646), as FHIR's `Patient.communication`
uses them.
"""

from __future__ import annotations

# code -> its name in English (for the clinicians' pages) and in the language itself.
PATIENT_LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "English"),
    "es": ("Spanish", "Español"),
}


def language_problem(code: str) -> str | None:
    """Why `code` cannot be a patient's preferred language, or None when it can."""
    if code in PATIENT_LANGUAGES:
        return None
    known = ", ".join(PATIENT_LANGUAGES)
    return f"{code!r} is not a language the patient's pages are offered in; one of: {known}"
