"""Clinic-local time for people, UTC for storage.

Timestamps are stored timezone-aware in UTC. Pages show them, and `datetime-local` form fields
are read, in the clinic's time zone, so nobody converts times in their head at the bedside.
The zone is the asking user's clinic's (`clinic.timezone`, set on /admin/clinic), which the
request's principal lookup (`accounts.deps`) places in a context variable once per request;
without one (the CLI, a clinic that never chose) it is `TRIGGERPOINT_TIMEZONE` (default UTC).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from triggerpoint.config import get_settings

FORM_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows by default

# The IANA name of the requesting clinic's zone; None: the deployment's setting.
_request_zone: ContextVar[str | None] = ContextVar("triggerpoint_clinic_zone", default=None)


def use_zone(name: str | None) -> None:
    """Show and read times in zone `name` for the rest of this request (its context).

    Each request runs in a context of its own (a task, or a worker thread's copy), so the
    value cannot leak into another request; None goes back to the deployment's zone.
    """
    _request_zone.set(name)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_name() -> str:
    """The IANA name times are shown in for this request (for labels: "Visit time (…)")."""
    return _request_zone.get() or get_settings().timezone


def clinic_zone() -> ZoneInfo:
    """The requesting clinic's zone, else `TRIGGERPOINT_TIMEZONE`. A stored name that no
    longer loads (tzdata changed) falls back to the setting rather than failing a page."""
    name = zone_name()
    try:
        return _zone(name)
    except (ValueError, KeyError):
        return _zone(get_settings().timezone)


def when(moment: datetime | None) -> str:
    """'2026-11-24 10:30 CET': date, time and the zone it is shown in."""
    if moment is None:
        return "—"
    return moment.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M %Z")


def day(moment: datetime | date | None, fmt: str = "%Y-%m-%d") -> str:
    """The calendar day in the clinic's zone (a late-evening visit is not dated tomorrow)."""
    if moment is None:
        return "—"
    if isinstance(moment, datetime):
        moment = moment.astimezone(clinic_zone())
    return moment.strftime(fmt)


def form_now() -> str:
    """Now, as a `datetime-local` field's default value."""
    return datetime.now(clinic_zone()).strftime(FORM_FORMAT)


def from_form(raw: str) -> str:
    """A `datetime-local` value (no zone) read as clinic time, as ISO 8601 with its offset.

    A value with an offset keeps it; anything unparsable is returned unchanged, for the
    schema's validator to name.
    """
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return (at if at.tzinfo else at.replace(tzinfo=clinic_zone())).isoformat()
