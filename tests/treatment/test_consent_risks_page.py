"""The consent risk frequencies have one home, `safety.rates.consent_risks`, computed from
data/published_rates.yaml: the consent page and the printed consent form both show it.

The control changes a figure in the data (a stand-in for `published()`) and both show the
new figure, so neither can be holding a copy.
"""

from __future__ import annotations

import copy

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.safety import rates


@pytest.fixture
def pages(app_client, alice):
    pid = new_patient(app_client, alice)
    browser, _csrf = logged_in(app_client, alice)

    def get() -> tuple[str, str]:
        form = browser.get(f"/patients/{pid}/consent")
        report = browser.get(f"/patients/{pid}/reports/consent")
        assert form.status_code == report.status_code == 200
        return form.text, report.text

    return get


def test_the_consent_page_shows_the_published_figures(pages):
    form, report = pages()
    for risk in rates.consent_risks():
        line = form.split(f'value="{risk["key"]}"', 1)[1].split("</label>", 1)[0]
        assert risk["label"] in line and f"({risk['summary']})" in line, risk["key"]
        for rate in risk["rates"]:
            assert rate["text"] in report, risk["key"]
    # The figures as the papers give them (bruising 7.55% in Brady 2014, bleeding 16% in Boyce).
    assert "7.55% of sessions (about 1 in 13), Brady et al. 2014" in form
    assert "16% of sessions (about 1 in 6), Boyce et al. 2020" in form
    assert "about 1 in 13 treatments (7.6%)" not in form  # the old hard-coded wording


def test_a_changed_figure_in_the_data_changes_page_and_form(pages, monkeypatch):
    studies = copy.deepcopy(rates.published())
    brady = next(s for s in studies if s["id"] == "brady_2014")
    brady["by_type"]["bruising"] = 25.0
    monkeypatch.setattr(rates, "published", lambda: studies)
    form, report = pages()
    assert "25% of sessions (about 1 in 4), Brady et al. 2014" in form
    assert "25% of sessions (about 1 in 4)" in report
    assert "7.55%" not in form and "7.55%" not in report
