"""The base of every model that accepts input from a person or a program.

Hostile or impossible values are refused here, per field, before anything reaches a service
or a database: the same 422 naming the field on both engines, instead of a 500 on one of them.

* The NUL character: PostgreSQL cannot store it in text, and no clinical text needs it.
* Unpaired surrogates (``"\\ud800"`` in JSON text): Python's json accepts them, but no UTF-8
  encoder can write them, so the database driver (or the response) would fail.
* Non-finite numbers: Python's json accepts ``NaN``, ``Infinity`` and ``-Infinity``, and
  ``1e400`` parses to infinity; JSON itself has no such numbers, PostgreSQL's JSONB refuses
  them and every score computed from them is meaningless. Integers too large for any
  computation (beyond 2**53) are refused with them.
* Dates and datetimes outside 1900-01-01 .. 2200-12-31 (datetimes compared in UTC): no
  clinical record is dated there, and ``0001-01-01T00:30:00+01:00`` overflows when
  converted to UTC for storage. A field with a narrower rule of its own (a date of birth)
  is named in `own_date_rule` and answers in that rule's words instead.
* Nesting deeper than MAX_DEPTH, anywhere.

These walk dicts (keys and values) and lists with an explicit stack, so a deeply nested
value cannot exhaust Python's recursion limit. Free-form JSON (`FreeJson`) is also bounded
in size (MAX_FREE_JSON_BYTES serialised, MAX_FREE_JSON_ITEMS keys and items).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2200, 12, 31)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_AFTER_LATEST = datetime(2201, 1, 1, tzinfo=UTC)
DATE_RANGE = f"must be between {EARLIEST_DATE} and {LATEST_DATE}"
MAX_INT = 2**53  # the largest integer every JSON reader (and a float) holds exactly
MAX_DEPTH = 32
MAX_FREE_JSON_BYTES = 64 * 1024
MAX_FREE_JSON_DEPTH = 8
MAX_FREE_JSON_ITEMS = 1000

NUL = "must not contain the NUL character"
SURROGATE = "must not contain unpaired surrogates"
NOT_FINITE = "must be a finite number (NaN and Infinity are not numbers)"
TOO_BIG = f"must be a number between -{MAX_INT} and {MAX_INT}"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def _where(path: tuple[str, ...]) -> str:
    return f" (at {'.'.join(path)})" if path else ""


def _key(key: object, index: int) -> str:
    """A path step for a dict key, printable whatever the key holds."""
    if isinstance(key, str) and len(key) <= 40 and key.isprintable() and _text_problem(key) is None:
        return key
    return f"<key {index}>"


def input_problem(value: Any) -> str | None:
    """What is wrong with a raw input value (walking dicts and lists), or None."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(v, str):
            if problem := _text_problem(v):
                return problem + _where(path)
        elif isinstance(v, float):
            if not math.isfinite(v):
                return NOT_FINITE + _where(path)
        elif isinstance(v, int) and not isinstance(v, bool):
            if not -MAX_INT <= v <= MAX_INT:
                return TOO_BIG + _where(path)
        elif isinstance(v, dict):
            for i, (k, item) in enumerate(v.items()):
                step = _key(k, i)
                if isinstance(k, str) and (problem := _text_problem(k)):
                    return f"{problem} (in a key{' at ' + '.'.join(path) if path else ''})"
                stack.append((item, (*path, step)))
        elif isinstance(v, list | tuple | set | frozenset):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(v))
    return None


def date_problem(value: Any) -> str | None:
    """Why a parsed date or datetime is outside the plausible clinical range, or None.

    The year is checked first, so a datetime whose UTC conversion would overflow
    (``0001-01-01T00:30:00+01:00``) is refused without converting it."""
    if isinstance(value, datetime):
        if not EARLIEST_DATE.year <= value.year <= LATEST_DATE.year:
            return DATE_RANGE
        if value.tzinfo is None or value.utcoffset() is None:
            ok = _EARLIEST.replace(tzinfo=None) <= value < _AFTER_LATEST.replace(tzinfo=None)
        else:
            ok = _EARLIEST <= value < _AFTER_LATEST
        return None if ok else DATE_RANGE + " (in UTC)"
    if isinstance(value, date):
        return None if EARLIEST_DATE <= value <= LATEST_DATE else DATE_RANGE
    if isinstance(value, list | tuple | set | frozenset):
        return next((p for p in map(date_problem, value) if p), None)
    if isinstance(value, dict):
        return next((p for p in map(date_problem, value.values()) if p), None)
    return None


def _bounded_json(value: Any) -> Any:
    """Free-form JSON kept to a size a clinical record needs (checked without recursion)."""
    items, stack = 0, [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_FREE_JSON_DEPTH:
            raise ValueError(f"is nested more than {MAX_FREE_JSON_DEPTH} levels deep")
        if isinstance(v, dict | list):
            items += len(v)
            if items > MAX_FREE_JSON_ITEMS:
                raise ValueError(f"has more than {MAX_FREE_JSON_ITEMS} keys and items")
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    if size > MAX_FREE_JSON_BYTES:
        raise ValueError(
            f"is {size} bytes as JSON; at most {MAX_FREE_JSON_BYTES // 1024} KiB is accepted"
        )
    return value


# A JSON object whose shape the field's consumer checks (e.g. an instrument's items).
FreeJson = Annotated[dict[str, Any], AfterValidator(_bounded_json)]


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
    # Date fields whose own validator keeps them inside DATE_RANGE, in its own words.
    own_date_rule: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_hostile_values(cls, value: Any) -> Any:
        if problem := input_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _plausible_dates(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name not in cls.own_date_rule and (problem := date_problem(value)):
            raise ValueError(problem)
        return value
