"""Requests the route matrices (tests/mixins.py) make to the palpation routes: the API's
(tests/examination/test_routes.py) and the visit page's forms (treatment's routes)."""

from __future__ import annotations

from tests.mixins import Ids
from tests.personas import Api

FINDING = {"site": "right upper trapezius", "finding": "familiar", "twitch": True}
FINDING_FORM = {"site": "right upper trapezius", "finding": "familiar", "twitch": "on"}


def palpated(api: Api, ids: Ids) -> Ids:
    """`prepare` step: a finding recorded at the owned visit (`finding_id`)."""
    out = api.post(f"/api/visits/{ids['visit_id']}/palpation", FINDING)
    return {"finding_id": out["id"]}
