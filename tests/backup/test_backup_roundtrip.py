"""`triggerpoint backup` / `restore` round-trip on both engines."""

from __future__ import annotations

from sqlalchemy import select, text

from triggerpoint.backup.service import backup, restore
from triggerpoint.db import open_session
from triggerpoint.records.models import Patient


def _names(engine) -> list[str]:
    with open_session(clinic_id=None, engine=engine) as s:
        return sorted(s.scalars(select(Patient.family_name)))


def test_backup_restore_round_trip(fresh_db, world, tmp_path):
    url = fresh_db.url.render_as_string(hide_password=False)
    with fresh_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clinic (id, name, created_at) VALUES (1, 'Backup clinic', CURRENT_TIMESTAMP)"
            )
        )
        for i, name in enumerate(["Alpha", "Bravo", "Charlie"], start=1):
            conn.execute(
                text(
                    "INSERT INTO patient (id, clinic_id, given_name, family_name, search_name, date_of_birth, sex, version, created_at, updated_at) "
                    "VALUES (:i, 1, 'X', :n, :s, '1970-01-01', 'female', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"i": i, "n": name, "s": name.lower()},
            )
    path = backup(tmp_path / "tp.backup", url=url)
    assert path.stat().st_size > 0
    with fresh_db.begin() as conn:
        conn.execute(text("DELETE FROM patient WHERE family_name = 'Bravo'"))
        conn.execute(text("UPDATE patient SET family_name = 'Changed' WHERE family_name = 'Alpha'"))
    assert _names(fresh_db) == ["Changed", "Charlie"]
    fresh_db.dispose()
    restore(path, url=url)
    fresh_db.dispose()
    assert _names(fresh_db) == ["Alpha", "Bravo", "Charlie"]


def test_restore_rejects_missing_file(cli, tmp_path):
    result = cli("restore", str(tmp_path / "nope.backup"))
    assert result.exit_code == 2 and "no such file" in result.stderr
