"""Which measurements make up a measure series, and when a series is judged: one rule.

Every view that reads a series calls this module: the patient's outcomes page and API, the
trajectory plots, the progress report (page and PDF), the FHIR export's Observation status,
and the dashboard (its derived tallies, the bulk registry, the rebuild and the raw-table
reference query).

* A measurement **counts** (`scored`) when it is complete and has a score. Too many missing
  items leave it unscored: it is listed as incomplete, never plotted or compared.
* A series' **course** (`in_course`) is what its baseline, latest and classification come
  from: the counting measurements taken before needling or without timing. A score taken
  after needling belongs to the immediate pre/post change of its visit (`around_needling`).
* A series is **judged** (`judged`) once its course has a baseline and a later score; a
  rating of change (GROC, whose rule is a "rating") is judged from its one rating.
* The **latest** value a page shows (`newest`) is the newest counting measurement by time,
  before or after needling, named with its timing; the course's last score stays what the
  change since baseline and the classification are computed from.

Each rule is written once, as conditions on a measurement's fields, and read two ways: as a
Python predicate on a row (an ORM object or a mapping) and as a SQL condition on columns (the
entity, an alias, or a table's `.c`). So the pages and the dashboard's SQL cannot drift apart;
tests/dashboard/test_series_rule.py checks on generated rows that both readings agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, Literal

from sqlalchemy import and_, or_

from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.thresholds import rule_for

Op = Literal["true", "not_null", "in", "not_in"]
Condition = tuple[str, Op, tuple[Any, ...]]

SCORED: tuple[Condition, ...] = (("complete", "true", ()), ("score", "not_null", ()))
COURSE: tuple[Condition, ...] = (*SCORED, ("timing", "not_in", ("post",)))
AROUND_NEEDLING: tuple[Condition, ...] = (*SCORED, ("timing", "in", ("pre", "post")))
MIN_COURSE = 2  # a baseline and a later score
DEFAULTS = {"timing": "", "context": ""}  # what a mapping row (the bulk registry) may leave out


# --- the conditions, read in Python and in SQL ------------------------------------------


def _value(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, DEFAULTS.get(name))
    return getattr(row, name)


def _holds(conditions: tuple[Condition, ...], row: Any) -> bool:
    """SQL's three-valued logic, read in Python: a missing (NULL) value meets no condition."""
    for name, op, values in conditions:
        v = _value(row, name)
        if op == "true":
            ok = v is not None and bool(v)
        elif op == "not_null":
            ok = v is not None
        elif op == "in":
            ok = v is not None and v in values
        else:  # "not_in"
            ok = v is not None and v not in values
        if not ok:
            return False
    return True


def _sql(conditions: tuple[Condition, ...], columns: Any) -> Any:
    parts = []
    for name, op, values in conditions:
        col = getattr(columns, name)
        if op == "true":
            parts.append(col.is_(True))
        elif op == "not_null":
            parts.append(col.is_not(None))
        elif op == "in":
            parts.append(col.in_(values))
        else:  # "not_in"
            parts.append(col.not_in(values))
    return and_(*parts)


def scored(row: Any) -> bool:
    """The measurement counts at all: complete and scored."""
    return _holds(SCORED, row)


def in_course(row: Any) -> bool:
    """The measurement belongs to its series' course (baseline -> latest, the classification)."""
    return _holds(COURSE, row)


def around_needling(row: Any) -> bool:
    """The measurement is one half of a visit's immediate pre/post change."""
    return _holds(AROUND_NEEDLING, row)


def scored_sql(columns: Any) -> Any:
    """`scored` as a SQL condition on the columns of `measurement` (entity, alias or `.c`)."""
    return _sql(SCORED, columns)


def in_course_sql(columns: Any) -> Any:
    """`in_course` as a SQL condition."""
    return _sql(COURSE, columns)


def around_needling_sql(columns: Any) -> Any:
    """`around_needling` as a SQL condition."""
    return _sql(AROUND_NEEDLING, columns)


# --- the newest value ---------------------------------------------------------------------

TIMING_WORDS = {"pre": "before needling", "post": "after needling"}


def newest(rows: Iterable[Any]) -> Any | None:
    """The newest counting measurement by time (`measured_at`, then id), before or after
    needling: the "latest" the outcomes page and the progress report show. None if none
    counts."""
    best = None
    for row in rows:
        if scored(row) and (
            best is None or _order(row) >= _order(best)  # ">=": the later row of a tie
        ):
            best = row
    return best


def _order(row: Any) -> tuple[Any, Any]:
    return (_value(row, "measured_at"), _value(row, "id") or 0)


def timing_words(timing: str | None) -> str:
    """How a measurement's timing reads beside its value ("after needling"; "" if none)."""
    return TIMING_WORDS.get(timing or "", "")


# --- when a series is judged --------------------------------------------------------------


@cache
def ratings() -> tuple[str, ...]:
    """Instruments whose rule is a rating of change (GROC): one rating is judged."""
    return tuple(sorted(i for i in definitions() if rule_for(i).kind == "rating"))


def _judged(instrument: Any, n: Any, is_in: Callable, any_: Callable) -> Any:
    """Written once for Python values and SQL columns, as `thresholds._tests` is."""
    return any_(is_in(instrument, ratings()), n >= MIN_COURSE)


def judged(instrument: str, n: int) -> bool:
    """Whether a series with `n` course scores is classified at all."""
    return bool(_judged(instrument, n, lambda v, vs: v in vs, lambda *c: any(c)))


def judged_sql(instrument: Any, n: Any) -> Any:
    """`judged` as a SQL condition over an instrument column and a course-count column."""
    return _judged(instrument, n, lambda c, vs: c.in_(vs), or_)
