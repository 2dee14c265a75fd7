"""Argon2 cost from the settings (issue 18): production keeps argon2-cffi's defaults, a
changed cost reaches new hashes, a cost under Argon2's floors is refused naming the field,
and a hash made at another cost still verifies and is re-made at the configured one."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters
from pydantic import ValidationError
from sqlalchemy import select

from tests.accounts.kit import address
from tests.accounts.test_throttle import _attempt
from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import hash_password, normalise_password, verify_password
from triggerpoint.config import Settings
from triggerpoint.db import open_session

FIELDS = ("argon2_time_cost", "argon2_memory_cost", "argon2_parallelism")
CHEAP = {"argon2_time_cost": 2, "argon2_memory_cost": 64, "argon2_parallelism": 2}


def _cost(password_hash: str) -> tuple[int, int, int]:
    p = extract_parameters(password_hash)
    return p.time_cost, p.memory_cost, p.parallelism


def test_the_default_cost_is_argon2_cffis_own(monkeypatch):
    """Unset, the settings hash exactly as `PasswordHasher()` does: production is unchanged."""
    for name in FIELDS:
        monkeypatch.delenv(f"TRIGGERPOINT_{name.upper()}", raising=False)
    library = PasswordHasher()
    settings = Settings(_env_file=None)
    assert (
        settings.argon2_time_cost,
        settings.argon2_memory_cost,
        settings.argon2_parallelism,
    ) == (
        library.time_cost,
        library.memory_cost,
        library.parallelism,
    )
    assert (library.time_cost, library.memory_cost, library.parallelism) == (3, 65536, 4)


def test_a_changed_cost_reaches_new_password_hashes(settings_env):
    settings_env(**CHEAP)
    made = hash_password("bedside needles 4 tests")
    assert _cost(made) == (2, 64, 2)
    assert verify_password(made, "bedside needles 4 tests")
    assert not verify_password(made, "bedside needles 4 test")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"argon2_time_cost": 0}, "argon2_time_cost"),
        ({"argon2_parallelism": 0}, "argon2_parallelism"),
        ({"argon2_memory_cost": 7, "argon2_parallelism": 1}, "argon2_memory_cost"),
        ({"argon2_memory_cost": 31, "argon2_parallelism": 4}, "argon2_memory_cost"),
        ({"argon2_memory_cost": "lots"}, "argon2_memory_cost"),
        ({"argon2_time_cost": 65}, "argon2_time_cost"),
        ({"argon2_parallelism": 65}, "argon2_parallelism"),
        ({"argon2_memory_cost": 2**21 + 1}, "argon2_memory_cost"),
    ],
)
def test_a_cost_outside_argon2s_floor_or_our_ceiling_is_refused_naming_the_field(values, field):
    with pytest.raises(ValidationError) as exc:
        Settings(_env_file=None, **values)
    assert [e["loc"] for e in exc.value.errors()] == [(field,)]


def test_the_ceilings_themselves_load():
    """2 GiB (RFC 9106's high-memory profile), 64 passes and 64 lanes are accepted."""
    top = Settings(
        _env_file=None, argon2_time_cost=64, argon2_memory_cost=2**21, argon2_parallelism=64
    )
    assert (top.argon2_time_cost, top.argon2_memory_cost, top.argon2_parallelism) == (64, 2**21, 64)


def test_the_memory_floor_is_8_kib_per_lane_exactly():
    """At the floor it loads and hashes; one KiB under it is refused (above)."""
    settings = Settings(
        _env_file=None, argon2_time_cost=1, argon2_memory_cost=32, argon2_parallelism=4
    )
    assert settings.argon2_memory_cost == 32
    assert (
        Settings(_env_file=None, argon2_memory_cost=8, argon2_parallelism=1).argon2_memory_cost == 8
    )


def test_a_hash_made_at_the_production_cost_verifies_under_a_cheaper_setting(settings_env):
    """Lowering the cost for a test run does not lock anyone out: a hash carries its cost."""
    production = PasswordHasher().hash("bedside needles 4 tests")
    settings_env(**CHEAP)
    assert verify_password(production, "bedside needles 4 tests")
    assert not verify_password(production, "bedside needles 4 testz")


def _stored_hash(user_id: int) -> str:
    with open_session(clinic_id=None) as s:
        return s.scalar(select(User.password_hash).where(User.id == user_id))


def test_a_hash_made_at_another_cost_lets_its_user_in_and_is_remade_at_the_configured_cost(
    staff, settings_env
):
    """Raising the cost protects existing users from their next login on; a wrong password
    changes nothing."""
    settings_env(**CHEAP)
    person = staff.clinician
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        normalise_password(person.password)
    )
    with open_session(clinic_id=None) as s:
        s.get(User, person.user_id).password_hash = old
        s.commit()
    where = address()
    assert _attempt(person.username, person.password + "x", where) == "wrong"
    assert _stored_hash(person.user_id) == old
    assert _attempt(person.username, person.password, where) == "ok"
    remade = _stored_hash(person.user_id)
    assert remade != old and _cost(remade) == (2, 64, 2)
    assert verify_password(remade, person.password)
    assert _attempt(person.username, person.password, where) == "ok"
    assert _stored_hash(person.user_id) == remade  # already at the cost: not re-made again
