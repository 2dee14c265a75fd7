"""Consent labels say each thing once: a risk's label names the risk and its frequency is the
summary's (`safety.rates.consent_risks`), so the consent page and the printed form never read
"Infection (rare) (rare)". Checked on every risk the generator produces and on both pages."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.safety import rates

FREQUENCY_WORDS = {"rare", "rarely", "common", "uncommon", "serious", "often", "very"}
ADJACENT = re.compile(r"\(([^()]*)\)\s*\(([^()]*)\)")


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text) if len(w) > 2}


def repeated_in_adjacent_parentheses(text: str) -> list[str]:
    """Words found in two parentheses that follow each other: '(rare) (rare)' -> ['rare']."""
    out: list[str] = []
    for m in ADJACENT.finditer(text):
        out += sorted(_words(m.group(1)) & _words(m.group(2)))
    return out


def test_the_check_finds_what_the_issue_saw():
    assert repeated_in_adjacent_parentheses("Infection (rare) (rare)") == ["rare"]
    assert repeated_in_adjacent_parentheses("Pneumothorax (rare but serious) (rare)") == ["rare"]
    assert repeated_in_adjacent_parentheses("Bruising (7.55% of sessions)") == []


@pytest.mark.parametrize("risk", rates.consent_risks(), ids=lambda r: r["key"])
def test_each_risk_line_says_its_frequency_once(risk):
    assert not _words(risk["label"]) & FREQUENCY_WORDS, risk["label"]
    assert "(" not in risk["label"], risk["label"]  # the form adds the one parenthesis
    line = risk["line"]
    assert line == f"{risk['label']} ({risk['summary']})"
    assert not repeated_in_adjacent_parentheses(line), line
    # The words of the summary's opening appear once in the whole line.
    first = risk["summary"].split(";")[0].split(":")[0]
    for word in _words(first):
        assert len(re.findall(rf"\b{word}\b", line.lower())) == len(
            re.findall(rf"\b{word}\b", risk["summary"].lower())
        ), (word, line)


def test_every_consent_risk_is_a_generated_line():
    keys = [r["key"] for r in rates.consent_risks()]
    assert keys == list(rates.RISKS)
    lines = {r["key"]: r["line"] for r in rates.consent_risks()}
    assert lines["infection"] == "Infection (rare)"
    assert lines["broken_needle"] == "Broken or retained needle (very rare)"
    assert lines["pneumothorax"].startswith(
        "Pneumothorax when needling over the chest wall (rare but serious: "
    )


def _visible(page: str) -> str:
    body = page.split("<main", 1)[-1]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_the_consent_page_and_the_printed_form_say_it_once(app_client, alice):
    pid = new_patient(app_client, alice)
    browser, _csrf = logged_in(app_client, alice)
    for path in (f"/patients/{pid}/consent", f"/patients/{pid}/reports/consent"):
        resp = browser.get(path)
        assert resp.status_code == 200, path
        text = _visible(resp.text)
        assert "Infection" in text, path
        assert not repeated_in_adjacent_parentheses(text), (path, text)
        assert "(rare) (rare)" not in text and "(very rare) (very rare)" not in text
