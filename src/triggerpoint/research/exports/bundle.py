"""One zip per background export: the export's files, and where such bundles live.

Why a zip: REDCap and Parquet exports are folders, ODM one file; a bundle makes every job's
result one download with one size and one SHA-256 to check it by. CSV and XML files are
deflated (they shrink well); Parquet files are stored as they are, being compressed already
(zstd per column chunk: deflating them again took time and saved about 8%).

Each attempt at a job works under names of its own (`job-<id>-<attempt>.partial/` for the
export's files, `job-<id>-<attempt>.zip` for the zip before it is renamed to its final name
in the transaction that records the job done), so a worker whose lease ran out never writes
over the files of the worker that took the job after it.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

from sqlalchemy.engine import make_url

from triggerpoint.config import get_settings

CHUNK = 1 << 20
STORED = {".parquet"}  # already compressed: zipped as they are


def export_dir() -> Path:
    """The setting, else exports/ beside the SQLite database (data_dir for PostgreSQL)."""
    settings = get_settings()
    if settings.export_dir is not None:
        return settings.export_dir
    from triggerpoint.db import database_url

    u = make_url(database_url())
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database).resolve().parent / "exports"
    return settings.data_dir / "exports"


def write_zip(source: Path, target: Path) -> tuple[int, str]:
    """Zip every file under `source` (names relative to it) into `target`, written beside it
    first and renamed, so a half-written bundle never has the final name. (size, sha256)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for f in sorted(p for p in source.rglob("*") if p.is_file()):
                kind = zipfile.ZIP_STORED if f.suffix in STORED else zipfile.ZIP_DEFLATED
                z.write(f, f.relative_to(source).as_posix(), compress_type=kind)
        digest = hashlib.sha256()
        with partial.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)  # a zip that failed half-way (a full disk)
    return target.stat().st_size, digest.hexdigest()


def work_dir(job_id: int, attempt: int) -> Path:
    """Where one attempt at a job writes the export's files before they are zipped."""
    return export_dir() / f"job-{job_id}-{attempt}.partial"


def staged_zip(job_id: int, attempt: int) -> Path:
    """One attempt's zip, renamed to the job's final name when the job is recorded done."""
    return export_dir() / f"job-{job_id}-{attempt}.zip"


def discard_attempt(job_id: int, attempt: int) -> None:
    """Delete whatever one attempt at a job left behind: its work folder, its zip, the zip's
    partial file (a worker killed mid-write leaves them; a failure removes its own). Also
    the work folder of the release before attempts had names (`job-<id>.partial`)."""
    shutil.rmtree(work_dir(job_id, attempt), ignore_errors=True)
    shutil.rmtree(export_dir() / f"job-{job_id}.partial", ignore_errors=True)
    zipped = staged_zip(job_id, attempt)
    zipped.unlink(missing_ok=True)
    zipped.with_suffix(".zip.partial").unlink(missing_ok=True)
