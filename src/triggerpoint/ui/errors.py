"""One error shape for bad input, matching FastAPI's own 422 body.

`{"detail": [{"loc": ["query", "region"], "msg": "...", "type": "...", "suggestions": [...]}]}`
so clients handle our domain errors and pydantic's validation errors the same way.
"""

from __future__ import annotations

from fastapi import HTTPException


class FieldError(HTTPException):
    def __init__(
        self,
        loc: tuple[str, ...],
        msg: str,
        *,
        type_: str = "value_error",
        suggestions: list[str] | None = None,
        status_code: int = 422,
    ) -> None:
        item: dict[str, object] = {"loc": list(loc), "msg": msg, "type": type_}
        if suggestions is not None:
            item["suggestions"] = suggestions
        super().__init__(status_code=status_code, detail=[item])
