"""One error hierarchy, mapped once per entry layer: the API/pages by status, the CLI to exit 2."""

from __future__ import annotations

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from triggerpoint.accounts.service import AccountError, Forbidden, LoginThrottled, UnknownAccount
from triggerpoint.atlas.loader import MuscleNotFoundError
from triggerpoint.bodychart.catalog import UnknownRegionError
from triggerpoint.cli.main import app as cli_app
from triggerpoint.cli.output import DomainErrorsExit2
from triggerpoint.errors import Conflict, DomainError, InvalidInput, NotFound, SafetyBlock
from triggerpoint.inference.service import DrawingError
from triggerpoint.outcomes.instruments import InstrumentError
from triggerpoint.web.app import _install_error_handlers

RAISED = {
    "not-found": (NotFound("patient", 7), 404),
    "conflict": (Conflict("visit 3 already has a needling session"), 409),
    "invalid": (InvalidInput("answers.pregnancy", "answer every question"), 422),
    "safety": (SafetyBlock("the patient has not been screened"), 409),
    "forbidden": (Forbidden("role 'assistant' may not clinical write"), 403),
    "account": (AccountError("password", "too short"), 422),
    "unknown-account": (UnknownAccount("username", "no such user"), 404),
    "throttled": (LoginThrottled(30), 429),
    "muscle": (MuscleNotFoundError("trapezious", ["trapezius"]), 404),
    "region": (UnknownRegionError("nek", ["neck"]), 422),
    "drawing": (DrawingError("pain.2", "unknown region"), 422),
    "instrument": (InstrumentError("items.3", "out of range"), 422),
}


@pytest.mark.parametrize("name", sorted(RAISED))
def test_every_domain_error_has_one_base_a_field_and_a_status(name: str) -> None:
    exc, status = RAISED[name]
    assert isinstance(exc, DomainError)
    assert exc.status == status
    assert str(exc) == exc.message


@pytest.fixture(scope="module")
def api() -> TestClient:
    app = FastAPI()
    _install_error_handlers(app)
    for name, (exc, _status) in RAISED.items():
        app.get(f"/api/{name}")(_raiser(exc))
    return TestClient(app)


def _raiser(exc: DomainError):
    def raise_it() -> None:
        raise exc

    return raise_it


@pytest.mark.parametrize("name", sorted(RAISED))
def test_the_api_maps_each_error_by_its_status(api: TestClient, name: str) -> None:
    exc, status = RAISED[name]
    response = api.get(f"/api/{name}")
    assert response.status_code == status
    if isinstance(exc, InvalidInput):
        (item,) = response.json()["detail"]
        assert item["loc"] == ["body", *exc.field.split(".")]
        assert item["msg"] == str(exc)
    else:
        assert response.json() == {"detail": str(exc)}


def test_a_throttled_login_says_when_to_retry(api: TestClient) -> None:
    response = api.get("/api/throttled")
    assert response.headers["Retry-After"] == "30"


def test_suggestions_reach_the_client(api: TestClient) -> None:
    (item,) = api.get("/api/region").json()["detail"]
    assert item["suggestions"] == ["neck"]


def test_the_cli_maps_any_domain_error_to_exit_2_naming_the_field() -> None:
    app = typer.Typer(cls=DomainErrorsExit2)

    @app.command()
    def show(pid: int) -> None:
        raise InvalidInput("patient_id", f"patient {pid} is archived")

    @app.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["show", "4"])
    assert result.exit_code == 2
    assert "patient_id: patient 4 is archived" in result.output


def test_the_real_cli_uses_the_mapping() -> None:
    assert typer.main.get_command(cli_app).__class__ is DomainErrorsExit2
