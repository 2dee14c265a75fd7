"""`triggerpoint patients list --json` uses TRIGGERPOINT_DATABASE_URL and the same services."""

from __future__ import annotations

import json

from tests.personas import CLINIC_A, new_patient


def test_patients_list_json(cli, app_client, alice):
    new_patient(
        app_client,
        alice,
        given_name="Cli",
        family_name="Listed",
        date_of_birth="1990-02-03",
        sex="other",
    )
    result = cli("patients", "list", "--search", "listed", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and rows[0]["name"] == "Cli Listed" and rows[0]["clinic"] == CLINIC_A
    assert set(rows[0]) == {"id", "name", "clinic", "clinic_id", "date_of_birth", "external_id"}
