"""Browser: an installation as `triggerpoint setup` leaves it, administered from the web app.

The admin logs in with the password setup printed and is made to change it, adds a user,
resets that user's password, sets the clinic's time zone (a typo first), revokes an API
token and filters the audit log; the new user logs in with the printed password and is made
to change it. A server of its own (the shared one has no admin), on a database made by the
real `triggerpoint setup` command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, served

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "quiet harbour lamps 42"
NEW_PASSWORD = "amber kestrel fjord 9"


@dataclass
class Install:
    url: str
    admin_password: str  # the one-time password setup printed


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Iterator[Install]:
    folder = tmp_path_factory.mktemp("admin-e2e")
    env = os.environ | {
        "TRIGGERPOINT_DATABASE_URL": f"sqlite:///{folder}/admin.sqlite3",
        "TRIGGERPOINT_AUDIT_KEY_FILE": str(folder / "key" / "audit.key"),
        "TRIGGERPOINT_AUDIT_CHECKPOINT_FILE": str(folder / "checkpoints.jsonl"),
        "COLUMNS": "200",  # rich wraps at the terminal width: one line, one password
    }
    cli = [sys.executable, "-m", "triggerpoint.cli.main"]
    setup = subprocess.run(
        [*cli, "setup"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    printed = re.search(r"one-time password (\S+)", setup.stdout)
    assert printed, setup.stdout
    with served(folder, env) as url:
        yield Install(url, printed.group(1))


def _login(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _change_password(page, current: str, new: str) -> None:
    assert page.url.endswith("/account/password"), page.url
    assert page.locator("text=one-time password").count() >= 1
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm_password", new)
    page.click("button:has-text('Save password')")
    page.wait_for_load_state("networkidle")
    assert "/account/password" not in page.url


def test_admin_runs_the_clinic_from_the_browser(page, install: Install):
    url = install.url
    # a printed password must be changed first: every page sends the admin to the form
    _login(page, url, "admin", install.admin_password)
    page.goto(f"{url}/admin")
    _change_password(page, install.admin_password, ADMIN_PASSWORD)

    page.goto(f"{url}/admin")
    assert page.locator("#fact-users").inner_text().startswith("1 active")
    screenshot(page, "admin-overview")

    # add a user: the one-time password is shown once
    page.goto(f"{url}/admin/users")
    page.fill("#username", "nurse.new")
    page.fill("#full_name", "Nora New")
    page.select_option("#role", "clinician")
    page.click("button:has-text('Add user')")
    first = page.locator("#one-time-password").inner_text()
    assert len(first) >= 16
    assert "must change password" in page.locator("#user-nurse\\.new").inner_text()

    # reset it: a new one-time password, the first no longer works
    page.click("#user-nurse\\.new button:has-text('Reset password')")
    reset = page.locator("#one-time-password").inner_text()
    assert reset != first
    expect(page.locator("#reset-user")).to_be_visible()
    screenshot(page, "admin-users")

    # the time zone: a typo is named with the zone meant, then saved
    page.goto(f"{url}/admin/clinic")
    page.fill("#timezone", "Europe/Madird")
    page.click("#clinic-form button[type=submit]")
    error = page.locator("#timezone-error").inner_text()
    assert "Europe/Madrid" in error
    page.fill("#timezone", "Europe/Madrid")
    page.click("#clinic-form button[type=submit]")
    assert "Europe/Madrid" in page.locator("#clinic-notice").inner_text()
    assert re.search(r"CES?T", page.locator("main").inner_text())
    screenshot(page, "admin-clinic")

    # an API token, revoked from the admin's token page
    page.goto(f"{url}/account/tokens")
    page.fill("#label", "lab import")
    page.click("button:has-text('Create token')")
    token_id = page.locator("#created-token").inner_text().split()[3]
    page.goto(f"{url}/admin/tokens")
    row = page.locator(f"#token-{token_id}")
    assert "lab import" in row.inner_text() and "active" in row.inner_text()
    assert re.search(r"CES?T", row.inner_text())  # shown in the clinic's zone
    row.locator("button:has-text('Revoke')").click()
    assert f"Revoked API token {token_id}" in page.locator("#token-notice").inner_text()
    assert "revoked" in page.locator(f"#token-{token_id}").inner_text()
    screenshot(page, "admin-tokens")

    # the audit log: filtered to the revocation; a bad filter is named on the page
    page.goto(f"{url}/admin/audit")
    assert page.locator("#chain-ok").is_visible()
    page.fill("#f-action", "revoke")
    page.click("#audit-filter button[type=submit]")
    # the submit returns once the filtered page starts loading: wait for its rows, do not count once
    rows = page.locator("#audit-events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("api_token")
    screenshot(page, "admin-audit")
    page.goto(f"{url}/admin/audit?since=2026-02-30")
    assert "must be a date" in page.locator("#since-error").inner_text()

    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/login"))

    # the new user: the first printed password is dead, the reset one must be changed
    _login(page, url, "nurse.new", first)
    assert "/login" in page.url and page.locator("text=Wrong username or password").count()
    _login(page, url, "nurse.new", reset)
    page.goto(f"{url}/patients")
    assert page.url.endswith("/account/password")
    screenshot(page, "admin-new-user-must-change")
    _change_password(page, reset, NEW_PASSWORD)
    page.goto(f"{url}/patients")
    assert page.url.endswith("/patients")
