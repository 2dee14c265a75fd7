"""Browser tests: a real `triggerpoint serve` process and Debian's Chromium driven by Playwright.

`playwright install` cannot download browsers here, so we launch /usr/bin/chromium with the
flags a closed network needs. The server runs as its own process on its own SQLite file, so it
shares no settings or engine cache with the in-process database tests. Screenshots land in
test-results/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "bedside needles 4 tests"


@dataclass
class Site:
    url: str
    username: str
    password: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"test server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("test server did not start")


@contextmanager
def served(
    folder: Path,
    env: dict[str, str],
    *,
    command: Sequence[str] | None = None,
    timeout: float = 180,
) -> Iterator[str]:
    """`triggerpoint serve` on a free port as its own process, logging to folder/server.log:
    yields its base URL once /healthz answers (a loaded machine starts the app slowly, hence
    the generous timeout), and stops it afterwards. `command` replaces the program that is
    run before `serve --port N` (a launcher that patches something first)."""
    port = _free_port()
    program = list(command or [sys.executable, "-m", "triggerpoint.cli.main"])
    log = (folder / "server.log").open("w")  # a file, not a pipe nobody reads
    proc = subprocess.Popen(
        [*program, "serve", "--port", str(port)],
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, timeout=timeout)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print(f"server log: {folder / 'server.log'}")


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    """A migrated SQLite database with one clinician, served by a real server process."""
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder}/e2e.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = create_clinic(s, name="Browser test clinic", actor=Actor.system("e2e"))
        browser_clinician(s, clinic_id=clinic.id, username="dr.browser", full_name="Dr Browser")
        s.commit()
    engine.dispose()
    with served(folder, {"TRIGGERPOINT_DATABASE_URL": url}) as base:
        yield Site(base, "dr.browser", PASSWORD)


@pytest.fixture(scope="session")
def live_server(site: Site) -> str:
    return site.url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _is_script_error(message) -> bool:
    """Console errors that mean broken JS; HTTP 4xx answers are asserted by the tests themselves."""
    text = message.text
    expected_http = "Failed to load resource" in text and "status of 4" in text
    return message.type == "error" and not expected_http


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if _is_script_error(m) else None)
    yield p
    context.close()
    assert not errors, f"browser errors: {errors}"


@pytest.fixture
def clinician_page(page, site: Site):
    """A page logged in as the test clinic's clinician."""
    page.goto(f"{site.url}/login")
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[:500]
    return page


def browser_clinician(s: Session, *, clinic_id: int, username: str, full_name: str) -> None:
    """A clinician who signs in with PASSWORD at once (no forced change): the browser user."""
    user, _ = create_user(
        s,
        clinic_id=clinic_id,
        username=username,
        full_name=full_name,
        role="clinician",
        actor=Actor.system("e2e"),
        password=PASSWORD,
    )
    user.must_change_password = False


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
