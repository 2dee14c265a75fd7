"""Tests that call many rate-limited routes (PDFs, FHIR, suggestions) as the shared personas.

The per-user counters live in the database and outlast a module, so one module's calls could
push a later module's over the limit within the same minute. `generous_rate_limits()` lifts
the limits while it is open and, when it closes, forgets these groups' counts (no test relies
on counts left by another module; the login throttle's counters are left alone).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from triggerpoint.config import get_settings

GROUPS = ("PDF", "FHIR", "SUGGEST")


@contextmanager
def generous_rate_limits() -> Iterator[None]:
    from sqlalchemy import delete, or_

    from triggerpoint.db import open_session
    from triggerpoint.ratelimit import RateLimitHit

    names = [f"TRIGGERPOINT_RATE_LIMIT_{g}" for g in GROUPS]
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "100000/minute"))
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        with open_session(clinic_id=None) as session:
            keys = [RateLimitHit.key.like(f"LIMITER/{g.lower()}/%") for g in GROUPS]
            session.execute(delete(RateLimitHit).where(or_(*keys)))
            session.commit()
