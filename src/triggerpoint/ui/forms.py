"""Form helpers: pydantic validation errors as one message per field, for re-rendered forms."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{'date_of_birth': 'must not be in the future', ...} (first message per field)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "form"
        msg = err["msg"].removeprefix("Value error, ")
        out.setdefault(name, msg)
    return out


def parse_form(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate form fields (empty strings mean 'not given') into a model, or return errors."""
    cleaned = {k: (None if v == "" else v) for k, v in data.items() if k != "csrf_token"}
    try:
        return model.model_validate(cleaned), {}
    except ValidationError as exc:
        return None, field_errors(exc)
