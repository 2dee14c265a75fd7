"""Shared fixtures: the CLI runner and an HTTP client for the app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from triggerpoint.cli.main import app as cli_app
from triggerpoint.web.app import create_app


@pytest.fixture(scope="session")
def client() -> TestClient:
    return TestClient(create_app())


@pytest.fixture
def cli():
    """Run the CLI in-process: `cli("atlas", "list", "--json")` -> click Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, list(args))

    return run
