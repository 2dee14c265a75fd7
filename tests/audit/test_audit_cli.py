"""`triggerpoint audit checkpoint|verify` and the key in `triggerpoint setup`, end to end."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.audit.helpers import append, cut_tail, swap

pytestmark = pytest.mark.usefixtures("cli_db")


def _flat(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


def test_checkpoint_appends_one_json_line_per_chain_each_time(cli, cli_db, audit_files):
    append(cli_db, 4)
    first = cli("audit", "checkpoint", "--json")
    assert first.exit_code == 0, first.output
    (out,) = json.loads(first.stdout)  # one chain so far: clinic 1's
    assert out["chain"] == 1 and out["v"] == 2
    assert (
        out["events"] == 5 and out["head_id"] == 5 and out["file"] == str(audit_files.checkpoints)
    )
    assert {"at", "head", "key_id", "mac", "scheme", "v"} <= out.keys()
    second = cli("audit", "checkpoint")
    assert second.exit_code == 0, second.output
    lines = audit_files.checkpoints.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {k: v for k, v in out.items() if k != "file"}
    assert lines[1] in second.stdout  # printed whole, on one line, for the clinic to copy
    assert json.loads(lines[1])["events"] == 6  # the first checkpoint is itself audited


def test_checkpoint_and_verify_cover_each_clinics_chain(cli, cli_db, audit_files):
    append(cli_db, 2)  # clinic 1
    append(cli_db, 3, clinic_id=2)
    out = json.loads(cli("audit", "checkpoint", "--json").stdout)
    assert [(ln["chain"], ln["events"]) for ln in out] == [(1, 3), (2, 4)]
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(c["chain"], c["events"], c["checkpoints"], c["ok"]) for c in data["chains"]] == [
        (1, 4, 1, True),
        (2, 5, 1, True),
    ]
    table = cli("audit", "verify")
    assert "Audit chains" in table.stdout and "clinic 2" in table.stdout


def test_verify_intact_exits_0(cli, cli_db):
    append(cli_db, 3)
    assert cli("audit", "checkpoint").exit_code == 0
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "chain intact, 1 checkpoint(s) compared" in _flat(result.stdout)
    data = json.loads(cli("audit", "verify", "--json").stdout)
    assert data["ok"] and data["problems"] == [] and data["warnings"] == []


def test_verify_names_a_cut_tail_and_exits_2(cli, cli_db):
    append(cli_db, 20)
    assert cli("audit", "checkpoint").exit_code == 0
    cut_tail(cli_db, keep=12)
    result = cli("audit", "verify")
    assert result.exit_code == 2
    assert "TAMPERED" in result.stdout
    assert "events 13-21 missing: checkpoint of" in _flat(result.stdout)
    data = json.loads(cli("audit", "verify", "--json").stdout)
    assert not data["ok"] and any("the chain has 12" in p for p in data["problems"])


def test_verify_names_swapped_events(cli, cli_db):
    append(cli_db, 8)
    swap(cli_db, 3, 4)
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 2
    assert any("events 3 and 4 are swapped" in p for p in json.loads(result.stdout)["problems"])


def test_verify_warns_about_a_deleted_checkpoint_file_and_exits_3(cli, cli_db, audit_files):
    append(cli_db, 3)
    assert cli("audit", "checkpoint").exit_code == 0
    audit_files.checkpoints.unlink()
    result = cli("audit", "verify")
    assert result.exit_code == 3
    assert "chain intact" in result.stdout
    assert f"checkpoint file {audit_files.checkpoints} is missing" in _flat(result.stderr)
    data = json.loads(cli("audit", "verify", "--json").stdout)
    assert data["ok"] and "deleted or moved" in data["warnings"][0]


def test_verify_with_a_copy_of_the_checkpoints(cli, cli_db, audit_files, tmp_path):
    append(cli_db, 6)
    assert cli("audit", "checkpoint", "--json").exit_code == 0
    copy = tmp_path / "usb-stick.json"
    copy.write_text(cli("audit", "checkpoint", "--json").stdout)  # pretty JSON is fine too
    audit_files.checkpoints.unlink()
    cut_tail(cli_db, keep=4)
    result = cli("audit", "verify", "--checkpoint", str(copy), "--json")
    assert result.exit_code == 2
    assert any("events 5-8 missing" in p for p in json.loads(result.stdout)["problems"])
    missing = cli("audit", "verify", "--checkpoint", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2 and "--checkpoint" in missing.stderr


def test_verify_names_a_changed_key(cli, cli_db, audit_files):
    append(cli_db, 3)
    assert cli("audit", "checkpoint").exit_code == 0
    audit_files.key.write_text(os.urandom(32).hex() + "\n")
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert sum("the audit key has changed" in p for p in problems) == 2, problems


def test_unsafe_key_file_is_refused_by_every_command(cli, cli_db, audit_files):
    append(cli_db, 1)
    os.chmod(audit_files.key, 0o644)
    for args in (("audit", "verify"), ("audit", "checkpoint"), ("setup",)):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "chmod 600" in _flat(result.stderr), args


def test_setup_creates_the_key_file(cli, cli_db, audit_files):
    result = cli("setup")
    assert result.exit_code == 0, result.output
    assert "Audit key created" in result.stdout
    assert stat.S_IMODE(audit_files.key.stat().st_mode) == 0o600
    again = cli("setup")
    assert again.exit_code == 0 and "Audit key created" not in again.stdout
    assert cli("audit", "checkpoint").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
