"""Who may issue, revoke and see API tokens: the rule lives in accounts.service."""

from __future__ import annotations

import pytest

from triggerpoint.accounts.service import (
    AccountError,
    Forbidden,
    issue_api_token,
    list_api_tokens,
    revoke_api_token,
)
from triggerpoint.db import open_session


def _issue(actor, username: str) -> int:
    with open_session(clinic_id=None) as s:
        info, _ = issue_api_token(s, actor=actor, username=username, label="rule test")
        s.commit()
    return info.id


def _revoke(actor, token_id: int) -> None:
    with open_session(clinic_id=None) as s:
        revoke_api_token(s, actor=actor, token_id=token_id)
        s.commit()


def test_owner_and_own_clinic_admin_may_manage_tokens(world):
    clinician = world.clinician_a.principal
    _revoke(clinician.actor, _issue(clinician.actor, clinician.username))
    _revoke(world.admin_a.principal.actor, _issue(clinician.actor, clinician.username))


@pytest.mark.parametrize("who", ["assistant_a", "admin_b", "clinician_b"])
def test_others_may_not(world, who):
    actor = getattr(world, who).principal.actor
    target = world.clinician_a.principal
    token_id = _issue(target.actor, target.username)
    with pytest.raises(Forbidden):
        _issue(actor, target.username)
    with pytest.raises(Forbidden):
        _revoke(actor, token_id)


def test_a_clinic_session_sees_only_its_clinic(world):
    with open_session(clinic_id=world.clinic_b) as s:
        users = {t.username for t in list_api_tokens(s)}
        with pytest.raises(AccountError) as err:
            list_api_tokens(s, username=world.clinician_a.principal.username)
    assert users and all(u.endswith("_b") or u.endswith(".b") for u in users)
    assert err.value.field == "username"


def test_clinic_filter(world):
    with open_session(clinic_id=None) as s:
        tokens = list_api_tokens(s, clinic_id=world.clinic_a)
    assert tokens and {t.clinic_id for t in tokens} == {world.clinic_a}
