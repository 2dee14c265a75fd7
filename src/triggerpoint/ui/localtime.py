"""Clinic-local time for people, UTC for storage.

Timestamps are stored timezone-aware in UTC. Pages show them, and `datetime-local` form fields
are read, in the clinic's time zone (`TRIGGERPOINT_TIMEZONE`, an IANA name such as
`Europe/Madrid`; default UTC), so nobody converts times in their head at the bedside.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from triggerpoint.config import get_settings

FORM_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows by default


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


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
