"""Patients with distinctive identifiers and a full course, built over the API, for the
research export tests: every identifier seeded here must never appear in an export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from tests.personas import new_patient, tag
from tests.reports.conftest import ENTRY, NO, Api
from triggerpoint.config import get_settings

VISITS = ("2026-10-01T10:00:00+00:00", "2026-10-08T10:00:00+00:00")


@pytest.fixture
def bundles(tmp_path, monkeypatch) -> Iterator[Path]:
    """export_dir for this test (settings read again, so a test may set others too)."""
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_DIR", str(tmp_path / "bundles"))
    get_settings.cache_clear()
    yield tmp_path / "bundles"
    get_settings.cache_clear()


@dataclass
class Seeded:
    patient_id: int
    secrets: list[str]
    visit_at: list[datetime]
    visits: list[int] = field(default_factory=list)
    research_consent: int | None = None


def seed(
    client,
    person,
    *,
    research: bool = True,
    dob: str = "1975-03-14",
    twitches: tuple[int, int] = (3, 1),
) -> Seeded:
    """A patient with two needling visits, a drawing, palpation, measurements and an AE,
    every free-text field and identifier set to a value unique to this call."""
    t = tag()
    given, family = f"Given{t}q", f"Family{t}z"
    email, phone, ext = f"mail{t}@example.org", f"+34 600 {int(t[:6], 16) % 900000:06d}", f"MRN-{t}"
    secret_texts = {
        "complaint": f"Complaint text {t} neck",
        "notes": f"Visit notes {t} private",
        "ae": f"Adverse description {t}",
        "action": f"Action taken {t}",
        "palp": f"Palpation note {t}",
        "context": f"context {t}",
    }
    api = Api(client, person)
    pid = new_patient(
        client,
        person,
        given_name=given,
        family_name=family,
        date_of_birth=dob,
        email=email,
        phone=phone,
        external_id=ext,
        height_cm=170,
        weight_kg=65,
    )
    ep = api.post(
        f"/api/patients/{pid}/episodes",
        {"complaint": secret_texts["complaint"], "diagnoses": [{"code": "M79.12"}]},
    )
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": f"{given} {family}",
            "signed_at": "2026-09-30T09:00:00+00:00",
        },
    )
    out = Seeded(pid, [given, family, email, phone, ext, dob, *secret_texts.values()], [])
    if research:
        out.research_consent = api.post(
            f"/api/patients/{pid}/consents",
            {
                "kind": "research",
                "signed_by": f"{given} {family}",
                "signed_at": "2026-09-30T09:05:00+00:00",
            },
        )["id"]
    for n, at in enumerate(VISITS):
        visit = api.post(
            f"/api/patients/{pid}/visits",
            {
                "visit_at": at,
                "episode_id": ep["id"],
                "notes": secret_texts["notes"],
                "pain_drawing": {
                    "complete": True,
                    "marks": [{"region": "right temple", "intensity": 6 - n}],
                },
            },
        )
        vid = visit["id"]
        out.visits.append(vid)
        out.visit_at.append(datetime.fromisoformat(at))
        api.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
        api.post(
            f"/api/visits/{vid}/palpation",
            {
                "site": "right upper trapezius",
                "finding": "familiar",
                "twitch": True,
                "note": secret_texts["palp"],
            },
        )
        sid = api.post("/api/needling-sessions", {"visit_id": vid})["id"]
        api.post(
            f"/api/needling-sessions/{sid}/entries",
            {**ENTRY, "muscle": "upper_trapezius", "twitch_count": twitches[n]},
        )
        s = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200)
        if n == 0:
            api.post(
                f"/api/needling-sessions/{sid}/adverse-events",
                {
                    "type": "bruising",
                    "severity": "mild",
                    "description": secret_texts["ae"],
                    "action_taken": secret_texts["action"],
                },
            )
        api.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
        day = at[:10]
        api.measure(
            pid,
            vid,
            "nprs",
            {"current": 7 - 3 * n},
            f"{day}T10:05:00+00:00",
            "pre",
            secret_texts["context"],
        )
        api.measure(pid, vid, "nprs", {"current": 5 - 3 * n}, f"{day}T10:45:00+00:00", "post")
    return out
