"""Parquet export: every table read back and joined by DuckDB; de-identified; consent and
clinic filters; dates shifted by one offset per patient."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow.parquet as pq

from tests.reports.conftest import Api
from tests.research.exports.conftest import seed
from tests.research.exports.helpers import leaked, run
from triggerpoint.research.exports.schemas import TABLES


def _db(directory) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for t in TABLES:
        con.execute(
            f"CREATE VIEW {t.name} AS SELECT * FROM read_parquet('{directory}/{t.name}.parquet')"
        )
    return con


def test_parquet_round_trips_into_duckdb_and_joins(app_client, alice, tmp_path):
    a = seed(app_client, alice, twitches=(3, 1))
    b = seed(app_client, alice, twitches=(5, 2))
    summary = run("parquet", alice, tmp_path)
    assert summary.patients_included == 2 and summary.patients_excluded_no_consent == 0
    con = _db(tmp_path)
    assert con.execute("SELECT count(*) FROM patients").fetchone() == (2,)
    for t in TABLES:  # every table has rows here, and the summary counts them right
        n = con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
        assert n == summary.rows[t.name] and n > 0, t.name
    # Twitches per patient and visit, through visits -> patients: the joins hold.
    got = con.execute(
        """SELECT p.age_band, v.visit_no, sum(n.twitch_count)
           FROM needle_entries n JOIN visits v USING (research_id, visit_no)
           JOIN patients p USING (research_id)
           GROUP BY p.research_id, p.age_band, v.visit_no ORDER BY 3"""
    ).fetchall()
    assert got == [("50-54", 2, 1), ("50-54", 2, 2), ("50-54", 1, 3), ("50-54", 1, 5)]
    # NPRS change per visit joins measurements to sessions by visit_no.
    change = con.execute(
        """SELECT sum(CASE WHEN timing='pre' THEN score ELSE -score END)
           FROM measurements m JOIN needling_sessions s USING (research_id, visit_no)
           WHERE instrument = 'nprs' GROUP BY m.research_id, m.visit_no"""
    ).fetchall()
    assert sorted(change) == [(2.0,)] * 4
    assert not leaked(tmp_path, [a, b])
    text = " ".join(
        str(v)
        for t in TABLES
        for row in con.execute(f"SELECT * FROM {t.name}").fetchall()
        for v in row
    ).lower()
    for secret in a.secrets + b.secrets:
        assert secret.lower() not in text
    assert str(a.patient_id) not in set(con.execute("SELECT research_id FROM patients").fetchall())


def test_dates_are_shifted_by_one_offset_per_patient(app_client, alice, tmp_path):
    people = [seed(app_client, alice, twitches=(7, 1)), seed(app_client, alice, twitches=(8, 1))]
    run("parquet", alice, tmp_path)
    con = _db(tmp_path)
    first_twitch = dict(
        con.execute(
            "SELECT research_id, twitch_count FROM needle_entries WHERE visit_no = 1"
        ).fetchall()
    )
    for person, tw in zip(people, (7, 8), strict=True):
        rid = next(r for r, n in first_twitch.items() if n == tw)
        visits = con.execute(
            "SELECT visit_at FROM visits WHERE research_id = ? ORDER BY visit_no", [rid]
        ).fetchall()
        shifts = {got - real for (got,), real in zip(visits, person.visit_at, strict=True)}
        assert len(shifts) == 1
        shift = shifts.pop()
        assert shift != timedelta(0) and shift % timedelta(days=1) == timedelta(0)
        assert timedelta(days=-365) <= shift <= timedelta(days=365)
        # the same offset in the other tables: measurements, sessions, drawings
        pre = con.execute(
            "SELECT measured_at FROM measurements WHERE research_id = ? AND timing = 'pre' ORDER BY 1",
            [rid],
        ).fetchall()
        assert [m - shift for (m,) in pre] == [v + timedelta(minutes=5) for v in person.visit_at]
        # the consent was signed a day before the first visit; no consent table leaves
        assert all(t.name != "consents" for t in TABLES)


def test_only_patients_with_research_consent_in_force(app_client, alice, erin, tmp_path):
    seed(app_client, alice, twitches=(4, 4))
    seed(app_client, alice, research=False, twitches=(6, 6))
    withdrawn = seed(app_client, alice, twitches=(9, 9))
    consents = app_client.get(
        f"/api/patients/{withdrawn.patient_id}/consents", headers=alice.headers
    ).json()
    research = next(c for c in consents if c["kind"] == "research")
    Api(app_client, alice).post(
        f"/api/consents/{research['id']}/withdraw", {"version": research["version"]}, 200
    )
    seed(app_client, erin, twitches=(11, 11))  # clinic B, consented
    summary = run("parquet", alice, tmp_path)
    assert summary.patients_included == 1 and summary.patients_excluded_no_consent == 2
    con = _db(tmp_path)
    twitches = {r[0] for r in con.execute("SELECT twitch_count FROM needle_entries").fetchall()}
    assert twitches == {4}
    sites = con.execute("SELECT DISTINCT site FROM patients").fetchall()
    assert len(sites) == 1


def test_schema_is_explicit_and_dictionary_covers_every_column(app_client, alice, tmp_path):
    seed(app_client, alice)
    run("parquet", alice, tmp_path)
    dictionary = pq.read_table(tmp_path / "data_dictionary.parquet").to_pylist()
    listed = {(d["table"], d["column"]) for d in dictionary}
    for t in TABLES:
        schema = pq.read_schema(tmp_path / f"{t.name}.parquet")
        assert schema.names == t.names
        assert {(t.name, n) for n in schema.names} <= listed
        assert str(schema.field("research_id").type) == "string"
    visits = pq.read_schema(tmp_path / "visits.parquet")
    assert str(visits.field("visit_at").type) == "timestamp[us, tz=UTC]"
    assert (
        (tmp_path / "data_dictionary.csv")
        .read_text()
        .startswith("table,column,type,description,unit")
    )


def test_an_assistant_may_not_export(app_client, bob, tmp_path):
    import pytest

    from triggerpoint.errors import Forbidden

    with pytest.raises(Forbidden):
        run("parquet", bob, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_clinic_user_may_not_export_another_clinic(app_client, alice, carol, tmp_path):
    import pytest

    from triggerpoint.errors import Forbidden

    with pytest.raises(Forbidden):
        run("parquet", alice, tmp_path, clinic_id=carol.clinic_id)


def test_patients_over_89_are_pooled_in_every_format(app_client, alice, tmp_path):
    old = seed(app_client, alice, dob="1931-02-03", twitches=(21, 22))
    young = seed(app_client, alice, dob="1990-06-07", twitches=(23, 24))
    run("parquet", alice, tmp_path / "pq")
    rows = duckdb.sql(
        f"""SELECT p.age_years, p.age_band, p.birth_year, max(n.twitch_count)
            FROM '{tmp_path}/pq/patients.parquet' p
            JOIN '{tmp_path}/pq/needle_entries.parquet' n USING (research_id)
            GROUP BY ALL ORDER BY 4"""
    ).fetchall()
    assert rows == [(None, "90+", None, 22), (36, "35-39", 1990, 24)]
    run("redcap", alice, tmp_path / "rc")
    run("odm", alice, tmp_path / "s.xml")
    for path in (tmp_path / "rc" / "records.csv", tmp_path / "s.xml"):
        text = path.read_text()
        assert "1931" not in text and "90+" in text and "1990" in text
    assert not leaked(tmp_path, [old, young])
