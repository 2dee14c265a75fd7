"""A consent time a minute ahead of the server's clock is "now"; a time that has not happened
yet is refused, naming `signed_at` (issue 14: a time typed one minute ahead failed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from triggerpoint.db import utcnow
from triggerpoint.records.schemas import CLOCK_SKEW, ConsentIn

CONSENT = {
    "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Ana Ruiz",
}


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(minutes=1), CLOCK_SKEW / 2])
def test_a_time_a_little_ahead_of_the_server_is_accepted(ahead):
    signed = utcnow() + ahead
    assert ConsentIn(**CONSENT, signed_at=signed).signed_at == signed


@pytest.mark.parametrize("ahead", [CLOCK_SKEW + timedelta(minutes=1), timedelta(days=1)])
def test_a_time_that_has_not_happened_yet_is_refused_naming_signed_at(ahead):
    with pytest.raises(ValidationError) as exc:
        ConsentIn(**CONSENT, signed_at=utcnow() + ahead)
    (error,) = exc.value.errors()
    assert error["loc"] == ("signed_at",) and "must not be in the future" in error["msg"]


def test_the_tolerance_is_minutes_not_hours():
    assert timedelta(minutes=1) <= CLOCK_SKEW <= timedelta(minutes=10)
