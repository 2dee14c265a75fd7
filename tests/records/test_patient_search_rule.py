"""Patient search: one rule (`records.service.search_patients`), and the CLI, the API and the
page all use it, so the same query finds the same patients everywhere.

The rule matches the start of any word of the name, accents and case aside, or the external
id exactly. The queries below tell it apart from a substring match (the CLI's old copy):
'noz' and 'ana' are inside 'Muñoz' and 'Santana' but start no word of them.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient

PEOPLE = {  # key -> (given, family, external id)
    "munoz": ("Ana", "Muñoz", None),
    "santana": ("Luis", "Santana", None),
    "noz": ("Pedro", "Noz", None),
    "muller": ("Jörg", "Müller-Lüdenscheidt", "EXT-7731"),
}
QUERIES = {  # query -> the patients (keys of PEOPLE) it must find
    "munoz": {"munoz"},
    "MUÑOZ": {"munoz"},
    "mu": {"munoz", "muller"},
    "noz": {"noz"},
    "unoz": set(),
    "ana": {"munoz"},
    "santana": {"santana"},
    "ludenscheidt": set(),  # a word of its own only after the hyphen: not a word start here
    "muller-lud": {"muller"},
    "joerg": set(),
    "jorg": {"muller"},
    "EXT-7731": {"muller"},
    "ext-77": set(),  # the external id matches whole, never in part
    "%": set(),  # LIKE's wildcards are literal characters in a query
    "mu_oz": set(),
}


@pytest.fixture
def patients(app_client, alice, carol) -> dict[str, int]:
    ids = {
        key: new_patient(
            app_client, alice, given_name=given, family_name=family, external_id=external
        )
        for key, (given, family, external) in PEOPLE.items()
    }
    # Another clinic's Muñoz: the CLI (every clinic) finds her, alice's API and page do not.
    ids["other clinic"] = new_patient(app_client, carol, given_name="Eva", family_name="Muñoz")
    return ids


def _api(app_client, alice, q: str) -> list[int]:
    r = app_client.get("/api/patients", params={"q": q, "limit": 200}, headers=alice.headers)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


def _page(browser, q: str) -> list[int]:
    r = browser.get("/patients", params={"q": q})
    assert r.status_code == 200, r.text
    return [int(i) for i in re.findall(r'<tr><td><a href="/patients/(\d+)">', r.text)]


def _cli(cli, q: str) -> list[tuple[int, int]]:
    r = cli("patients", "list", "--search", q, "--limit", "100000", "--json")
    assert r.exit_code == 0, r.output
    return [(row["id"], row["clinic_id"]) for row in json.loads(r.stdout)]


def test_cli_api_and_page_find_the_same_patients(app_client, cli, alice, patients):
    browser, _csrf = logged_in(app_client, alice)
    ours = {v: k for k, v in patients.items()}
    for q, expected in QUERIES.items():
        api = _api(app_client, alice, q)
        page = _page(browser, q)
        everywhere = _cli(cli, q)
        in_clinic = [pid for pid, clinic in everywhere if clinic == alice.clinic_id]
        assert {ours[i] for i in api if i in ours} == expected, q
        assert api == page == in_clinic, q  # same patients, same order
        other = patients["other clinic"]
        assert (other in {pid for pid, _ in everywhere}) == (
            q.lower() in ("munoz", "mu", "muñoz")
        ), q
        assert other not in api


def test_an_empty_search_lists_everyone_on_every_path(app_client, cli, alice, patients):
    browser, _csrf = logged_in(app_client, alice)
    api = _api(app_client, alice, "")
    mine = {v for k, v in patients.items() if k != "other clinic"}
    assert set(api) == mine == set(_page(browser, ""))
    everywhere = {pid for pid, _ in _cli(cli, "")}
    assert mine | {patients["other clinic"]} <= everywhere


@pytest.mark.parametrize("q", ["\x00", "mu\x00noz"])
def test_a_query_with_a_nul_is_refused_naming_q(app_client, alice, q) -> None:
    """PostgreSQL takes no NUL in a text parameter: the search refuses it as bad input (422
    on `q`), never as a server error."""
    resp = app_client.get("/api/patients", params={"q": q}, headers=alice.headers)
    assert resp.status_code == 422, resp.text
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["query", "q"] and "NUL" in item["msg"]
