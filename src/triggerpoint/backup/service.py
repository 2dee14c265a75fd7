"""Backup and restore: SQLite's online backup API, or pg_dump/pg_restore for PostgreSQL.

SQLite's backup copies a consistent snapshot while the app keeps running. PostgreSQL uses the
custom dump format so a restore can replace the whole schema in one go.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from triggerpoint.db import database_url, get_engine
from triggerpoint.errors import SetupError


class BackupError(SetupError):
    """A backup or restore that cannot be done; the message says why."""


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args = [
        "-h",
        u.host or "127.0.0.1",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
        "-d",
        u.database or "",
    ]
    env = {"PGPASSWORD": u.password} if u.password else {}
    return args, env


def _pg_tool(name: str) -> str:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise BackupError(f"{name} not found (install postgresql-client)")
    return found[-1]


def _sqlite_file(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has no file to back up or restore")
    return url.database


def backup(path: Path, *, url: str | None = None) -> Path:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        src = sqlite3.connect(_sqlite_file(parsed))
        dst = sqlite3.connect(str(path))
        with dst:
            src.backup(dst)
        dst.close()
        src.close()
        return path
    import os

    args, env = _pg_args(url)
    run = subprocess.run(
        [_pg_tool("pg_dump"), "-Fc", "-f", str(path), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if run.returncode:
        raise BackupError(f"pg_dump failed: {run.stderr.strip()}")
    return path


def restore(path: Path, *, url: str | None = None) -> None:
    """Replace the database's contents with the backup (the app should be stopped)."""
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    url = url or database_url()
    parsed = make_url(url)
    get_engine().dispose()
    if parsed.get_backend_name() == "sqlite":
        src = sqlite3.connect(str(path))
        if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path}: not a healthy SQLite backup")
        dst = sqlite3.connect(_sqlite_file(parsed))
        with dst:
            src.backup(dst)
        dst.close()
        src.close()
        return
    import os

    args, env = _pg_args(url)
    run = subprocess.run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            *args,
            str(path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if run.returncode:
        raise BackupError(f"pg_restore failed: {run.stderr.strip()}")
