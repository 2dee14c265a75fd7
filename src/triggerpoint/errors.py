"""The errors every domain raises, in one place, so no domain imports another just to fail.

A small hierarchy under `DomainError`, each with a `field` (dotted, ``answers.x.detail``;
None when no single field is to blame) and a message:

- `NotFound` (404): the thing does not exist here (another clinic's row is not found either);
- `Conflict` (409): a stale edit (someone saved first) or a duplicate;
- `LinkGone` (410): a patient's link that was used, cancelled or has expired;
- `InvalidInput` (422): well-formed input that is wrong here;
- `SafetyBlock` (409): refused for the patient's safety; the message says why and what to do;
- `Forbidden` (403): the principal's role may not do this.

Each entry layer maps them once: the JSON API and pages in `web/app.py`
(`_install_error_handlers`), the CLI in `cli/output.py` (`domain_errors`, exit code 2).
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every error a service raises on purpose; `status` is its HTTP code."""

    status: ClassVar[int] = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class NotFound(DomainError, LookupError):
    """No such entity here; `entity` names its kind ("patient")."""

    status = 404

    def __init__(
        self,
        entity: str,
        entity_id: object,
        *,
        field: str | None = None,
        message: str | None = None,
    ) -> None:
        self.entity = entity
        self.entity_id = entity_id
        super().__init__(message or f"{entity} {entity_id} not found", field=field)


class Conflict(DomainError, RuntimeError):
    """A stale edit (someone saved first) or a duplicate."""

    status = 409


class Gone(DomainError, LookupError):
    """Something that existed and was removed on purpose (410), e.g. an export bundle
    deleted after its retention period: asking again will not bring it back."""

    status = 410


class LinkGone(DomainError, LookupError):
    """A patient's link that worked once and no longer does (410): used, cancelled or expired.
    `reason` says which; `language` is the page's language, so the refusal is in the
    patient's words. It carries nothing else of the record."""

    status = 410

    def __init__(self, reason: str, *, language: str = "en") -> None:
        self.reason = reason
        self.language = language
        super().__init__(f"this link can no longer be used ({reason})")


class InvalidInput(DomainError, ValueError):
    """Input that is well-formed but wrong here; `field` names the field (``answers.x.detail``)."""

    status = 422
    field: str  # always names one (a DomainError's may be None)

    def __init__(self, field: str, message: str, *, suggestions: list[str] | None = None) -> None:
        self.suggestions = suggestions
        super().__init__(message, field=field)


class SafetyBlock(DomainError, RuntimeError):
    """The action is refused for the patient's safety; the message says why and what to do."""

    status = 409


class Forbidden(DomainError, PermissionError):
    """The principal's role does not allow this action."""

    status = 403


class TooManyAttempts(DomainError, PermissionError):
    """Refused for now (login throttling); `retry_after` is in seconds."""

    status = 429


class KnowledgeError(ValueError):
    """Clinical data (atlas, parameters, rules) that cannot be used: a start-up failure, not
    a request's fault; the message names the file and the field."""


class SetupError(RuntimeError):
    """The installation cannot do this (an unsafe audit key file, a backup that fails)."""
