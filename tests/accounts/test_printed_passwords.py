"""Every password the software prints (setup's admin, `user add`, an admin's reset, the demo
login) must be changed at first login; and `demo seed` goes where the admin will see it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from triggerpoint.accounts.models import Clinic, User
from triggerpoint.config import get_settings
from triggerpoint.db import get_engine, open_session
from triggerpoint.demo.generator import DEMO_CLINIC, DEMO_LOGIN, seed
from triggerpoint.records.models import Patient

ONE_TIME = re.compile(r"one-time password:?\s+(\S+)")


@pytest.fixture
def fresh_cli(fresh_db, tmp_path, monkeypatch):
    """A brand-new database (and audit key) that the in-process CLI acts on."""
    monkeypatch.setenv(
        "TRIGGERPOINT_DATABASE_URL", fresh_db.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("TRIGGERPOINT_AUDIT_KEY_FILE", str(tmp_path / "key" / "audit.key"))
    monkeypatch.setenv("TRIGGERPOINT_AUDIT_CHECKPOINT_FILE", str(tmp_path / "cp.jsonl"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield fresh_db
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def _user(engine, username: str) -> User:
    with open_session(clinic_id=None, engine=engine) as s:
        return s.scalars(select(User).where(User.username == username)).one()


def _patients(engine, clinic_id: int) -> int:
    with open_session(clinic_id=None, engine=engine) as s:
        return s.scalar(
            select(func.count()).select_from(Patient).where(Patient.clinic_id == clinic_id)
        )


def test_setup_then_demo_seed_puts_the_demo_in_the_admins_clinic(cli, fresh_cli):
    setup = cli("setup", "--clinic", "Setup clinic")
    assert setup.exit_code == 0, setup.output
    said = " ".join(setup.stdout.split())
    assert ONE_TIME.search(said) and "must change it at first login" in said
    admin = _user(fresh_cli, "admin")
    assert admin.must_change_password

    demo = cli("demo", "seed", "--patients", "2", "--if-empty")
    assert demo.exit_code == 0, demo.output
    said = " ".join(demo.stdout.split())  # the console wraps long lines
    assert "'Setup clinic'" in said and "must change it at first login" in said
    login = _user(fresh_cli, DEMO_LOGIN)
    assert login.must_change_password and login.clinic_id == admin.clinic_id
    assert _patients(fresh_cli, admin.clinic_id) == 2

    again = cli("demo", "seed", "--patients", "2", "--if-empty")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    more = cli("demo", "seed", "--patients", "1")  # extends the same clinic, no new login
    assert more.exit_code == 0 and "Added 1 patients" in more.stdout
    assert _patients(fresh_cli, admin.clinic_id) == 3
    with open_session(clinic_id=None, engine=fresh_cli) as s:
        assert s.scalar(select(func.count()).select_from(Clinic)) == 1


def test_user_add_prints_a_password_to_change(cli, fresh_cli):
    assert cli("setup").exit_code == 0
    added = cli("user", "add", "new.one", "--name", "New One")
    assert added.exit_code == 0, added.output
    assert ONE_TIME.search(added.stdout)
    assert _user(fresh_cli, "new.one").must_change_password


def test_demo_never_mixes_with_a_clinic_that_has_patients(fresh_db):
    with open_session(clinic_id=None, engine=fresh_db) as s:
        first = seed(s, patients=1, seed=1)  # no clinic at all: the demo clinic is made
        s.commit()
    with open_session(clinic_id=None, engine=fresh_db) as s:
        demo = s.get(Clinic, first.clinic_id)
        assert demo.name == DEMO_CLINIC
        assert first.username == DEMO_LOGIN and first.password
        assert s.scalars(select(User).where(User.username == DEMO_LOGIN)).one().must_change_password


def test_a_busy_installation_gets_a_demo_clinic_of_its_own(fresh_db):
    from tests.personas import add_clinic, add_person, new_patient

    with open_session(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, "Real clinic")
        person = add_person(s, clinic_id=clinic, username="real.doc", role="clinician")
        s.commit()
    with open_session(clinic_id=clinic, engine=fresh_db) as s:
        new_patient(s, person)
        s.commit()
    with open_session(clinic_id=None, engine=fresh_db) as s:
        result = seed(s, patients=1, seed=2)
        s.commit()
    assert result.clinic_id != clinic
    assert _patients(fresh_db, clinic) == 1
