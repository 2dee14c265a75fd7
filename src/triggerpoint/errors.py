"""The errors every domain raises, in one place, so no domain imports another just to fail.

Each entry layer maps them once: the JSON API to 404/409/422, pages to a marked field, the
CLI to exit code 2.
"""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input that is well-formed but wrong here; `field` names the field (``answers.x.detail``)."""

    def __init__(self, field: str, message: str, *, suggestions: list[str] | None = None) -> None:
        self.field = field
        self.suggestions = suggestions
        super().__init__(message)


class SafetyBlock(RuntimeError):
    """The action is refused for the patient's safety; the message says why and what to do."""
