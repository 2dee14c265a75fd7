"""Research exports as background jobs (issue 17, "At scale"): requested over the API or the
page, run by the huey task (immediate mode, as the portal's API tests run theirs), progress
written to the job row as each part is done, the zip downloaded by the same clinic only, and
its contents the same de-identified export the CLI writes. Both engines (the personas run on
each)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import duckdb
import pytest
from sqlalchemy import select, update

from tests.conftest import logged_in
from tests.research.exports.conftest import seed
from tests.research.exports.helpers import leaked
from triggerpoint.accounts.models import User
from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work
from triggerpoint.research.exports import jobs
from triggerpoint.research.exports.models import FORMATS, ResearchExportJob
from triggerpoint.research.exports.schemas import TABLES, ExportFormat

URL = "/api/research/exports"


@pytest.fixture
def bundles(tmp_path, monkeypatch) -> Iterator[Path]:
    """export_dir for this test."""
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_DIR", str(tmp_path / "bundles"))
    get_settings.cache_clear()
    yield tmp_path / "bundles"
    get_settings.cache_clear()


@pytest.fixture
def progress_seen(monkeypatch) -> list[tuple[str, int, int, int]]:
    """(status, parts_done, parts_total, rows_done) of the job row, read in a session of its
    own after each progress write: what a page polling it would have shown."""
    seen: list[tuple[str, int, int, int]] = []
    real = jobs._set

    def spy(job_id: int, *, engine=None, **values) -> None:
        real(job_id, engine=engine, **values)
        with open_session(clinic_id=None, engine=engine) as s:
            j = s.get(ResearchExportJob, job_id)
            seen.append((j.status, j.parts_done, j.parts_total, j.rows_done))

    monkeypatch.setattr(jobs, "_set", spy)
    return seen


def _request(client, person, fmt: str, expect: int = 202) -> dict:
    r = client.post(URL, json={"format": fmt}, headers=person.headers)
    assert r.status_code == expect, r.text
    return r.json()


def _bundle(client, person, job: dict) -> zipfile.ZipFile:
    r = client.get(job["download"], headers=person.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_formats_agree():
    assert get_args(ExportFormat) == FORMATS


def test_parquet_job_runs_with_progress_and_round_trips_into_duckdb(
    app_client, alice, bundles, immediate, progress_seen, tmp_path
):
    a = seed(app_client, alice, twitches=(3, 1))
    b = seed(app_client, alice, research=False)
    queued = _request(app_client, alice, "parquet")
    assert queued["status"] == "queued" and queued["download"] is None

    job = app_client.get(f"{URL}/{queued['id']}", headers=alice.headers).json()
    assert job["status"] == "done", job
    total = len(TABLES) + 1  # the tables, then the zip
    assert job["progress"]["parts_done"] == job["progress"]["parts_total"] == total
    assert job["progress"]["fraction"] == 1.0 and job["error"] is None
    # Written as it went: one row per table, seen by another session while running.
    running = [p for p in progress_seen if p[0] == "running"]
    assert [p[1] for p in running] == list(range(1, len(TABLES) + 1))
    assert {p[2] for p in running} == {total}
    rows = [p[3] for p in running]
    assert rows == sorted(rows) and rows[-1] == job["progress"]["rows_done"] > 0

    z = _bundle(app_client, alice, job)
    assert sorted(z.namelist()) == sorted(
        [f"{t.name}.parquet" for t in TABLES] + ["data_dictionary.parquet", "data_dictionary.csv"]
    )
    out = tmp_path / "unzipped"
    z.extractall(out)
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t.name} AS SELECT * FROM read_parquet('{out}/{t.name}.parquet')")
    assert con.execute("SELECT count(*) FROM patients").fetchone() == (1,)  # consented only
    assert con.execute("SELECT sum(twitch_count) FROM needle_entries").fetchone() == (4,)
    assert (
        sum(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES)
        == (job["progress"]["rows_done"])
    )
    assert not leaked(out, [a, b])


@pytest.mark.parametrize("fmt", ["odm", "redcap"])
def test_odm_and_redcap_jobs_bundle_their_files(
    fmt, app_client, alice, bundles, immediate, progress_seen, tmp_path
):
    a = seed(app_client, alice)
    b = seed(app_client, alice, research=False)
    job_id = _request(app_client, alice, fmt)["id"]
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert job["status"] == "done", job
    assert [p[:3] for p in progress_seen if p[0] == "running"] == (
        [("running", 1, 2)]  # one chunk of patients
        if fmt == "odm"
        else [("running", n, len(TABLES) + 1) for n in range(1, len(TABLES) + 1)]
    )
    z = _bundle(app_client, alice, job)
    out = tmp_path / "unzipped"
    z.extractall(out)
    if fmt == "odm":
        assert z.namelist() == ["export.odm.xml"]
        root = ET.parse(out / "export.odm.xml").getroot()
        subjects = root.iter("{http://www.cdisc.org/ns/odm/v1.3}SubjectData")
        assert len(list(subjects)) == 1
    else:
        assert sorted(z.namelist()) == ["data_dictionary.csv", "records.csv"]
        with (out / "records.csv").open(newline="", encoding="utf-8") as f:
            assert len({r["record_id"] for r in csv.DictReader(f)}) == 1
    assert not leaked(out, [a, b])


def test_the_job_is_audited_as_the_user_who_asked(app_client, alice, bundles, immediate):
    seed(app_client, alice)
    job = _request(app_client, alice, "parquet")
    app_client.get(f"/api/research/exports/{job['id']}/download", headers=alice.headers)
    with open_session(clinic_id=None) as s:
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("research-export%"), AuditEvent.user_id == alice.user_id)
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == [
        "research-export-request",
        "research-export",
        "research-export-download",
    ]
    assert events[1].detail["patients"] == 1 and events[1].detail["format"] == "parquet"


def test_another_clinic_sees_no_job_and_gets_no_file(
    app_client, alice, erin, carol, bundles, immediate
):
    seed(app_client, alice)
    job = _request(app_client, alice, "redcap")
    for other in (erin, carol):
        for path in (f"{URL}/{job['id']}", f"{URL}/{job['id']}/download"):
            r = app_client.get(path, headers=other.headers)
            assert r.status_code == 404, (other.username, path, r.text)
        assert app_client.get(URL, headers=other.headers).json() == []
    client, _ = logged_in(app_client, erin)
    assert client.get(f"/research/exports/{job['id']}/download").status_code == 404
    assert [j["id"] for j in app_client.get(URL, headers=alice.headers).json()] == [job["id"]]


def test_who_may_and_bad_input(app_client, alice, bob, dave, bundles):
    r = app_client.post(URL, json={"format": "parquet"}, headers=bob.headers)
    assert r.status_code == 403  # an assistant reads nothing clinical, so exports nothing
    assert app_client.get(URL, headers=bob.headers).status_code == 403
    for body in ({"format": "xlsx"}, {}, {"format": "odm", "clinic_id": 2}):
        r = app_client.post(URL, json=body, headers=alice.headers)
        assert r.status_code == 422, r.text
        assert any(e["loc"][-1] in ("format", "clinic_id") for e in r.json()["detail"]), r.json()
    assert app_client.get(f"{URL}/0", headers=alice.headers).status_code == 422
    # Not run yet (no worker here): found, but no file to download.
    job = _request(app_client, dave, "odm")  # an admin may, too
    assert job["status"] == "queued"
    r = app_client.get(f"{URL}/{job['id']}/download", headers=dave.headers)
    assert r.status_code == 409 and "queued" in r.text


def test_a_failure_is_recorded_on_the_job(app_client, alice, bundles, immediate, monkeypatch):
    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jobs, "write_zip", full_disk)
    job = _request(app_client, alice, "parquet")
    got = app_client.get(f"{URL}/{job['id']}", headers=alice.headers).json()
    assert got["status"] == "failed" and got["finished_at"] is not None
    assert got["error"] == "cannot write the export: No space left on device"
    r = app_client.get(f"{URL}/{job['id']}/download", headers=alice.headers)
    assert r.status_code == 409
    assert not list(bundles.glob("job-*"))  # the work folder is cleaned up
    with open_session(clinic_id=None) as s:  # and the export, never delivered, is not audited
        n = s.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == "research-export", AuditEvent.user_id == alice.user_id
            )
        ).all()
    assert n == []


def test_a_user_disabled_before_the_job_ran_gets_no_export(app_client, dave, bundles):
    job = _request(app_client, dave, "parquet")  # queued; the worker comes later
    with unit_of_work(clinic_id=None) as s:
        s.execute(update(User).where(User.id == dave.user_id).values(active=False))
    assert jobs.execute(job["id"]) is False
    assert jobs.execute(job["id"]) is False  # run twice: claimed once, nothing more
    with open_session(clinic_id=None) as s:
        row = s.get(ResearchExportJob, job["id"])
        assert row.status == "failed" and "no longer active" in row.error
        assert row.result_file is None


def test_the_page_requests_and_shows_progress_and_the_link(app_client, alice, bundles, immediate):
    seed(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    page = client.get("/research/exports")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "No exports requested yet" in page.text
    bad = client.post("/research/exports", data={"format": "xlsx", "csrf_token": csrf})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    assert "format must be one of redcap, odm, parquet" in bad.text
    r = client.post(
        "/research/exports", data={"format": "parquet", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get("/research/exports").text
    [job_id] = re.findall(r'href="/research/exports/(\d+)/download"', page)
    assert f"{len(TABLES) + 1} of {len(TABLES) + 1} parts" in page
    assert 'http-equiv="refresh"' not in page  # nothing running: no refresh
    got = client.get(f"/research/exports/{job_id}/download")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    assert zipfile.ZipFile(io.BytesIO(got.content)).testzip() is None


def test_a_queued_job_refreshes_the_page(app_client, alice, bundles):
    client, csrf = logged_in(app_client, alice)
    client.post("/research/exports", data={"format": "odm", "csrf_token": csrf})
    page = client.get("/research/exports").text
    assert "waiting for a worker" in page and 'http-equiv="refresh"' in page
