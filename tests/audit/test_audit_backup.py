"""A backup holds the chain but not its key: restored beside the same key, it verifies."""

from __future__ import annotations

import pytest

from tests.audit.helpers import append, check, checkpoint
from triggerpoint.backup.service import backup, restore

pytestmark = pytest.mark.usefixtures("audit_files")


def test_backup_restore_round_trip_verifies(fresh_db, tmp_path):
    url = fresh_db.url.render_as_string(hide_password=False)
    append(fresh_db, 10)
    checkpoint(fresh_db)
    path = backup(tmp_path / "tp.backup", url=url)
    append(fresh_db, 3, start=10)  # written after the backup: the restore loses them
    fresh_db.dispose()
    restore(path, url=url)
    fresh_db.dispose()
    result = check(fresh_db)
    assert result.ok and result.events == 12 and result.checkpoints == 1, result.problems
    assert not result.warnings
    append(fresh_db, 2, start=20)
    assert check(fresh_db).ok


def test_restore_of_an_older_backup_is_explained_by_later_checkpoints(fresh_db, tmp_path):
    url = fresh_db.url.render_as_string(hide_password=False)
    append(fresh_db, 5)
    path = backup(tmp_path / "tp.backup", url=url)
    append(fresh_db, 4, start=5)
    line = checkpoint(fresh_db)
    fresh_db.dispose()
    restore(path, url=url)
    fresh_db.dispose()
    result = check(fresh_db)
    # the events written after the backup are gone, and verify says which ones
    assert any(
        "events 7-10 missing" in p and "recorded 10 events, the chain has 6" in p
        for p in result.problems
    ), result.problems
    assert line["events"] == 10
