""" "Latest" is the newest measurement by time, before or after needling, and says which
(issue 14, item 7): one rule, `outcomes.series.newest`, read by the outcomes page and the
progress report; the change since baseline and the class still come from the course."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.personas import Api, new_patient
from triggerpoint.outcomes import series

NPRS = "Numeric Pain Rating Scale"


def _row(html: str, name: str) -> list[str]:
    """The cells of the measures table's row for `name`, tags dropped."""
    (row,) = [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if name in r]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]


def _course(app_client, person) -> int:
    """NPRS 8 before needling on 7 Nov; on 14 Nov 7 before and 3 after needling."""
    api = Api(app_client, person)
    pid = new_patient(app_client, person, given_name="Latest", family_name="Value")
    for day, scores in (("2026-11-07", [("pre", 8)]), ("2026-11-14", [("pre", 7), ("post", 3)])):
        vid = api.post(f"/api/patients/{pid}/visits", {"visit_at": f"{day}T10:00:00+00:00"})["id"]
        for timing, value in scores:
            minutes = "05" if timing == "pre" else "45"
            api.post(
                f"/api/patients/{pid}/measurements",
                {
                    "instrument": "nprs",
                    "data": {"current": value},
                    "visit_id": vid,
                    "timing": timing,
                    "measured_at": f"{day}T10:{minutes}:00+00:00",
                },
            )
    return pid


def test_latest_is_the_post_needling_value_and_says_so(app_client, alice):
    pid = _course(app_client, alice)
    page = app_client.get(f"/patients/{pid}/outcomes", headers=alice.headers)
    assert page.status_code == 200
    _, baseline, latest, change, *_ = _row(page.text, NPRS)
    assert baseline == "8"
    assert latest == "3 after needling, 14 Nov"
    # The change over the course compares like with like: 8 -> 7, both before needling.
    assert change == "-1 to 7, before needling"


def test_the_progress_report_shows_the_same_latest(app_client, alice):
    pid = _course(app_client, alice)
    page = app_client.get(f"/patients/{pid}/reports/progress", headers=alice.headers)
    assert page.status_code == 200
    assert _row(page.text, NPRS)[2] == "3 after needling, 14 Nov"


def test_a_later_pre_needling_value_is_latest_without_a_second_note(app_client, alice):
    """When the newest value is also the course's last, the change needs no note."""
    api = Api(app_client, alice)
    pid = new_patient(app_client, alice, given_name="Plain", family_name="Course")
    for day, value in (("2026-11-07", 8), ("2026-11-14", 5)):
        api.post(
            f"/api/patients/{pid}/measurements",
            {
                "instrument": "nprs",
                "data": {"current": value},
                "timing": "pre",
                "measured_at": f"{day}T10:05:00+00:00",
            },
        )
    page = app_client.get(f"/patients/{pid}/outcomes", headers=alice.headers)
    _, _, latest, change, *_ = _row(page.text, NPRS)
    assert latest == "5 before needling, 14 Nov" and change == "-3"


def _m(id: int, at: str, score: float | None, timing: str = "", complete: bool = True) -> dict:
    return {
        "id": id,
        "measured_at": datetime.fromisoformat(at).replace(tzinfo=UTC),
        "score": score,
        "timing": timing,
        "complete": complete,
    }


def test_newest_goes_by_time_not_by_timing():
    rows = [
        _m(1, "2026-11-14T10:05", 7, "pre"),
        _m(2, "2026-11-14T10:45", 3, "post"),
        _m(3, "2026-11-07T10:05", 8, "pre"),  # entered later, measured earlier
    ]
    assert series.newest(rows)["id"] == 2
    assert series.newest(r for r in rows if series.in_course(r))["id"] == 1


def test_newest_skips_what_does_not_count_and_breaks_ties_by_id():
    rows = [
        _m(1, "2026-11-14T10:05", 7),
        _m(2, "2026-11-14T10:05", 6),  # same moment, recorded after: the newer
        _m(3, "2026-11-15T10:05", None),  # unscored
        _m(4, "2026-11-16T10:05", 2, complete=False),  # incomplete
    ]
    assert series.newest(rows)["id"] == 2
    assert series.newest([]) is None
    assert series.timing_words("post") == "after needling" and series.timing_words("") == ""
