"""Outcome tests under mutation testing (issue 18).

`rule_for` is cached. mutmut's stats run (MUTANT_UNDER_TEST=stats) runs the whole folder in
one process and records which tests reach each function; with the cache, only the first test
to ask for a rule reaches `_ppt_rule`, `_nprs_rule`, `_rom_rule` and `_figure_rule`, so their
mutants were tried against that one test alone. Clearing the cache before each test of the
stats run records every test that needs the rule. Ordinary runs keep the cache.
"""

from __future__ import annotations

import os

import pytest

from triggerpoint.outcomes.thresholds import rule_for


@pytest.fixture(autouse=True)
def _every_test_reaches_the_rules_it_uses():
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        rule_for.cache_clear()
