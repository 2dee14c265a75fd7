"""The admin's audit log page (/admin/audit): the clinic's events only, newest first, paged,
filtered, bad filters shown on the page (never a 500), and the chain's verdict."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.audit.pages import PAGE_SIZE
from triggerpoint.audit.service import record
from triggerpoint.db import open_session

EVENT_ID = re.compile(r'<tr id="event-(\d+)">')


def _ids(html: str) -> list[int]:
    return [int(i) for i in EVENT_ID.findall(html)]


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="event-\d+">(.*?)</tr>', html, re.S)


def _reads(person, n: int, *, entity_id: int = 1) -> None:
    with open_session(clinic_id=None) as s:
        for i in range(n):
            record(
                s,
                actor=person.actor,
                action="read",
                entity="patient",
                entity_id=entity_id,
                detail={"i": i},
            )
        s.commit()


def test_admin_sees_only_the_clinics_events_newest_first(app_client, dave, alice, carol):
    ours = new_patient(app_client, alice)
    theirs = new_patient(app_client, carol)
    admin, _ = logged_in(app_client, dave)
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    ids = _ids(page.text)
    assert ids == sorted(ids, reverse=True) and ids
    rows = " ".join(_rows(page.text))
    assert f"<td>patient</td><td>{ours}</td>" in rows
    assert "carol" not in rows and f"<td>patient</td><td>{theirs}</td>" not in rows


def test_pages_of_50_follow_one_another_without_overlap(app_client, dave, alice):
    _reads(alice, PAGE_SIZE + 7)
    admin, _ = logged_in(app_client, dave)
    first = admin.get("/admin/audit", params={"action": "read"}).text
    older = re.search(r'href="/admin/audit(\?[^"]+)" id="older-page"', first)
    assert older, "a second page is offered"
    second = admin.get("/admin/audit" + older.group(1).replace("&amp;", "&")).text
    a, b = _ids(first), _ids(second)
    assert len(a) == PAGE_SIZE and len(b) == 7 and max(b) < min(a)
    assert 'id="older-page"' not in second and 'id="newest-page"' in second


def test_filters_by_user_action_entity_and_day(app_client, dave, alice, bob):
    _reads(alice, 2, entity_id=4242)
    _reads(bob, 1, entity_id=4243)
    admin, _ = logged_in(app_client, dave)

    def rows(**params: str) -> list[str]:
        resp = admin.get("/admin/audit", params=params)
        assert resp.status_code == 200, resp.text
        return _rows(resp.text)

    by_alice = rows(user="alice", action="read")
    assert len(by_alice) >= 2 and all("<td>alice</td>" in r for r in by_alice)
    assert len(rows(entity="patient", entity_id="4242")) == 2
    assert len(rows(entity_id="4243")) == 1
    today = date.today()
    day = timedelta(days=1)
    assert len(rows(entity_id="4242", since=str(today - day), until=str(today + day))) == 2
    assert rows(entity_id="4242", since=str(today + 2 * day)) == []
    assert rows(entity_id="4242", until=str(today - 2 * day)) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-45"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"until": "0001-01-01"}, "until"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "until"),
        ({"user": "nobody.at.all"}, "user"),
        ({"user": "carol"}, "user"),  # another clinic's user is nobody here
        ({"before": "abc"}, "before"),
        ({"before": "99999999999999999999"}, "before"),
        ({"action": "x" * 5000}, "action"),
        ({"entity_id": "1\x00"}, "entity-id"),
    ],
)
def test_bad_filters_are_shown_on_the_page(app_client, dave, carol, params, field):
    admin, _ = logged_in(app_client, dave)
    resp = admin.get("/admin/audit", params=params)
    assert resp.status_code == 422, resp.text
    assert f'id="{field}-error"' in resp.text and _ids(resp.text) == []


def test_the_chain_verdict_is_shown_and_can_be_refreshed(app_client, dave, alice):
    admin, csrf = logged_in(app_client, dave)
    page = admin.get("/admin/audit").text
    verdict = re.search(r'id="chain-(ok|broken|error)"', page)
    assert verdict, page[:2000]
    _reads(alice, 3)
    resp = admin.post("/admin/audit/verify", data={"csrf_token": csrf}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/audit"
    after = admin.get("/admin/audit").text
    assert re.search(r'id="chain-(ok|broken|error)"', after)
    assert "newer events not yet checked" not in after  # verified just now, all of it


def test_the_chain_verifies_on_an_untouched_database(app_client, dave, alice):
    """In this rolled-back database the chain is whole (tampering tests use their own)."""
    _reads(alice, 1)
    admin, csrf = logged_in(app_client, dave)
    admin.post("/admin/audit/verify", data={"csrf_token": csrf})
    page = admin.get("/admin/audit").text
    assert 'id="chain-ok"' in page, page[page.find("chain-status") :][:1500]


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_only_admins_read_the_log(app_client, request, who):
    person = request.getfixturevalue(who)
    client, csrf = logged_in(app_client, person)
    assert client.get("/admin/audit").status_code == 403
    assert client.post("/admin/audit/verify", data={"csrf_token": csrf}).status_code == 403


def test_a_long_chain_is_not_verified_on_every_visit(app_client, dave, alice, monkeypatch):
    import triggerpoint.audit.pages as pages

    monkeypatch.setattr(pages, "_last", {})
    monkeypatch.setattr(pages, "VERIFY_ON_VIEW", 0)  # every chain counts as long
    admin, csrf = logged_in(app_client, dave)
    assert 'id="chain-unknown"' in admin.get("/admin/audit").text
    admin.post("/admin/audit/verify", data={"csrf_token": csrf})
    _reads(alice, 2)
    page = admin.get("/admin/audit").text
    assert 'id="chain-ok"' in page and "2 newer events not yet checked" in page
