"""One zip per background export: the export's files, and where such bundles live.

Why a zip: REDCap and Parquet exports are folders, ODM one file; a bundle makes every job's
result one download with one size and one SHA-256 to check it by. Files are stored
deflated (Parquet is compressed already; CSV and XML shrink well).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from sqlalchemy.engine import make_url

from triggerpoint.config import get_settings

CHUNK = 1 << 20


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
                z.write(f, f.relative_to(source).as_posix())
        digest = hashlib.sha256()
        with partial.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)  # a zip that failed half-way (a full disk)
    return target.stat().st_size, digest.hexdigest()
