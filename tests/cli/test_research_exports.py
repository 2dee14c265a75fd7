"""`triggerpoint export redcap|odm|parquet`: files, `--json` summaries, bad input exits 2
naming the option, consent and clinic filters, and no identifier in any output byte."""

from __future__ import annotations

import json

import duckdb

from tests.research.exports.conftest import seed
from tests.research.exports.helpers import leaked


def _summary(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_all_three_exports_from_the_command_line(cli, app_client, alice, erin, tmp_path):
    a = seed(app_client, alice, twitches=(12, 13))
    b = seed(app_client, alice, research=False)
    e = seed(app_client, erin, twitches=(14, 15))
    clinic = str(alice.clinic_id)
    red = _summary(cli("export", "redcap", str(tmp_path / "rc"), "--clinic", clinic, "--json"))
    assert red["format"] == "redcap" and red["clinic_id"] == alice.clinic_id
    assert red["patients_included"] == 1 and red["patients_excluded_no_consent"] == 1
    assert sorted(p.rsplit("/", 1)[1] for p in red["files"]) == [
        "data_dictionary.csv",
        "records.csv",
    ]
    assert red["rows"]["patients"] == 1 and red["rows"]["needle_entries"] == 2
    odm = _summary(cli("export", "odm", str(tmp_path / "s.xml"), "--clinic", clinic, "--json"))
    assert odm["rows"]["visits"] == 2
    pq = _summary(cli("export", "parquet", str(tmp_path / "pq"), "--clinic", clinic, "--json"))
    assert len(pq["files"]) == 13 and pq["rows"]["measurements"] == 4
    twitches = duckdb.sql(
        f"SELECT list(twitch_count ORDER BY visit_no) FROM '{tmp_path}/pq/needle_entries.parquet'"
    ).fetchall()[0][0]
    assert twitches == [12, 13]  # clinic B's patient is not in clinic A's export
    assert not leaked(tmp_path, [a, b, e])
    every = _summary(cli("export", "parquet", str(tmp_path / "all"), "--json"))
    assert every["clinic_id"] is None and every["patients_included"] >= 2
    found = duckdb.sql(f"SELECT DISTINCT twitch_count FROM '{tmp_path}/all/needle_entries.parquet'")
    assert {12, 13, 14, 15} <= {r[0] for r in found.fetchall()}
    assert not leaked(tmp_path / "all", [a, b, e])


def test_the_plain_summary_says_how_many_patients(cli, app_client, alice, tmp_path):
    seed(app_client, alice)
    r = cli("export", "parquet", str(tmp_path), "--clinic", str(alice.clinic_id))
    assert r.exit_code == 0, r.output
    assert "1 patients with research consent (0 without, left out)" in r.stdout


def test_bad_input_exits_2_naming_the_option(cli, db, tmp_path):
    a_file = tmp_path / "taken.xml"
    a_file.write_text("keep me")
    cases = [
        (("export", "redcap", str(tmp_path), "--clinic", "999999"), "--clinic"),
        (("export", "parquet", str(a_file)), "DIR"),
        (("export", "redcap", str(a_file)), "DIR"),
        (("export", "odm", str(a_file)), "FILE"),
        (("export", "odm", str(tmp_path)), "FILE"),
        (("export", "odm", str(tmp_path / "no" / "such" / "f.xml")), "FILE"),
        (("export", "odm", str(tmp_path / "f.xml"), "--clinic", "0"), "--clinic"),
    ]
    for args, option in cases:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert option in r.output, (args, r.output)
    assert a_file.read_text() == "keep me"


def test_odm_force_overwrites(cli, app_client, alice, tmp_path):
    seed(app_client, alice)
    target = tmp_path / "s.xml"
    target.write_text("old")
    r = cli("export", "odm", str(target), "--force", "--clinic", str(alice.clinic_id))
    assert r.exit_code == 0, r.output
    assert target.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<ODM ')


def test_the_export_is_audited(cli, app_client, alice, tmp_path):
    from sqlalchemy import select

    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    seed(app_client, alice)
    _summary(cli("export", "redcap", str(tmp_path), "--clinic", str(alice.clinic_id), "--json"))
    with open_session(clinic_id=None) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "research-export")).all()
    assert any(e.detail["format"] == "redcap" and e.detail["patients"] == 1 for e in events)
