"""Clinic questionnaire rules through the service, on both engines: a rule is validated as a
clinician's request is, matches episodes by complaint keyword (case and accents ignored) or
ICD-10-CM prefix, asks once per (rule, visit) for visits in (now, now + days_before], never
again after a cancel, only within its clinic, and through create_request with the rule as
the audited actor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from tests.personas import Person, new_patient
from tests.portal.jobs_helpers import TEXTS

from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound
from triggerpoint.portal import i18n, jobs, rules, service
from triggerpoint.portal.models import QuestionnaireRequest, QuestionnaireRule
from triggerpoint.portal.outbox import PortalMessage
from triggerpoint.portal.schemas import RequestIn
from triggerpoint.records.models import Episode, Visit
from triggerpoint.records.schemas import EpisodeIn, VisitIn
from triggerpoint.records.service import create_episode, create_visit

NECK = {
    "name": "Neck: NPRS and NDI",
    "instruments": ["nprs", "ndi"],
    "keywords": ["neck", "cervical"],
    "icd10_prefixes": ["M54.2"],
}


@pytest.fixture
def texts(monkeypatch) -> Iterator[None]:
    """The tests' placeholder NDI catalogue, as a clinic would configure licensed wording."""
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def make_rule(person: Person, **fields) -> int:
    with unit_of_work(clinic_id=person.clinic_id) as s:
        return rules.create_rule(
            s, principal=person.principal, data=rules.RuleIn(**{**NECK, **fields})
        ).id


def booked(
    person: Person,
    at: datetime,
    *,
    complaint: str = "Stiff neck after work",
    codes: tuple[str, ...] = (),
    episode: bool = True,
    **patient_fields,
) -> tuple[int, int]:
    """A patient (with an email address) with one visit at `at`: (patient id, visit id)."""
    fields = {"email": "rosa@example.org", **patient_fields}
    with unit_of_work(clinic_id=person.clinic_id) as s:
        pid = new_patient(s, person, **fields)
        eid = None
        if episode:
            data = EpisodeIn(complaint=complaint, diagnoses=[{"code": c} for c in codes])
            eid = create_episode(s, principal=person.principal, patient_id=pid, data=data).id
        visit = create_visit(
            s, principal=person.principal, patient_id=pid, data=VisitIn(visit_at=at, episode_id=eid)
        )
        return pid, visit.id


def apply(person: Person, now: datetime) -> list[int]:
    with unit_of_work(clinic_id=person.clinic_id) as s:
        return [r.id for r in rules.apply_rules(s, clinic_id=person.clinic_id, now=now)]


def requests_for(person: Person, **where) -> list[QuestionnaireRequest]:
    with open_session(clinic_id=person.clinic_id) as s:
        q = select(QuestionnaireRequest).order_by(QuestionnaireRequest.id)
        for k, v in where.items():
            q = q.where(getattr(QuestionnaireRequest, k) == v)
        return list(s.scalars(q))


# --- validation -----------------------------------------------------------------------------


def test_create_normalises_and_audits(alice, db, texts):
    rid = make_rule(
        alice, keywords=["Neck", "neck ", "NÉCK", "cervical"], icd10_prefixes=["m54.2", "M54.2."]
    )
    with open_session(clinic_id=alice.clinic_id) as s:
        rule = s.get(QuestionnaireRule, rid)
        assert rule.keywords == ["Neck", "cervical"]  # duplicates once folded are dropped
        assert rule.icd10_prefixes == ["M54.2"]
        assert (rule.days_before, rule.channel, rule.active) == (2, "email", True)
        assert rule.created_by == alice.user_id
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "questionnaire_rule", AuditEvent.action == "create"
            )
        ).all()
        assert event.entity_id == str(rid) and event.user_id == alice.user_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"instruments": ["ppt"]}, "instruments.0"),  # measured by the clinician
        ({"instruments": ["nprs", "nprs"]}, "instruments.1"),
        ({"instruments": [], "pain_drawing": False}, "instruments"),
        ({"keywords": [], "icd10_prefixes": []}, "keywords"),
        ({"icd10_prefixes": ["54.2"]}, "icd10_prefixes.0"),
        ({"icd10_prefixes": ["M54.2", "U07"]}, "icd10_prefixes.1"),  # U: not ICD-10-CM here
        ({"icd10_prefixes": ["Q99"]}, "icd10_prefixes.0"),  # starts no listed code
        ({"keywords": ["--"]}, "keywords.0"),
    ],
)
def test_bad_rules_name_the_field(alice, db, texts, fields, field):
    with pytest.raises(InvalidInput) as caught:
        make_rule(alice, **fields)
    assert caught.value.field == field
    with open_session(clinic_id=alice.clinic_id) as s:
        assert s.scalar(select(func.count()).select_from(QuestionnaireRule)) == 0


def test_instruments_need_wording_as_requests_do(alice, db):
    """Without the clinic's licensed NDI wording a rule cannot ask for NDI, as a
    clinician's request cannot: the same check, the same field."""
    with pytest.raises(InvalidInput) as caught:
        make_rule(alice)
    assert caught.value.field == "instruments.1" and "no wording for ndi" in str(caught.value)
    assert make_rule(alice, instruments=["nprs"])  # shipped wording: fine


@pytest.mark.parametrize(
    "fields",
    [
        {"days_before": 0},
        {"days_before": 15},
        {"expires_in_days": 61},
        {"keywords": ["\ud800neck"]},
        {"name": ""},
        {"channel": "qr"},  # nobody would see the link
        {"surprise": 1},
    ],
)
def test_input_model_refuses(fields):
    with pytest.raises(ValidationError):
        rules.RuleIn(**{**NECK, **fields})


def test_assistant_may_not_manage_or_list_rules(alice, bob, db, texts):
    rid = make_rule(alice)
    with open_session(clinic_id=bob.clinic_id) as s:
        with pytest.raises(Forbidden):
            rules.create_rule(s, principal=bob.principal, data=rules.RuleIn(**NECK))
        with pytest.raises(Forbidden):
            rules.list_rules(s, principal=bob.principal)
        with pytest.raises(Forbidden):
            rules.delete_rule(s, principal=bob.principal, rule_id=rid)


def test_admin_may_manage_rules(dave, db, texts):
    rid = make_rule(dave)
    with open_session(clinic_id=dave.clinic_id) as s:
        assert [r.id for r in rules.list_rules(s, principal=dave.principal)] == [rid]


def test_duplicate_name_is_a_conflict(alice, db, texts):
    make_rule(alice)
    with pytest.raises(Conflict) as caught:
        make_rule(alice)
    assert caught.value.field == "name"


def test_update_deactivate_and_stale_version(alice, db, texts):
    rid = make_rule(alice)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        rule = rules.update_rule(
            s,
            principal=alice.principal,
            rule_id=rid,
            data=rules.RulePatch(version=1, days_before=5, active=False),
        )
        assert (rule.days_before, rule.active, rule.version) == (5, False, 2)
    with open_session(clinic_id=alice.clinic_id) as s:
        with pytest.raises(Conflict):  # edited version 1, it is 2 now
            rules.update_rule(
                s, principal=alice.principal, rule_id=rid, data=rules.RulePatch(version=1)
            )
        with pytest.raises(InvalidInput) as caught:
            rules.update_rule(
                s,
                principal=alice.principal,
                rule_id=rid,
                data=rules.RulePatch(version=2, name=None),
            )
        assert caught.value.field == "name"
        with pytest.raises(InvalidInput) as caught:  # the merged rule is checked as a new one
            rules.update_rule(
                s,
                principal=alice.principal,
                rule_id=rid,
                data=rules.RulePatch(version=2, keywords=[], icd10_prefixes=[]),
            )
        assert caught.value.field == "keywords"


# --- matching -------------------------------------------------------------------------------


def _episode(complaint: str, *codes: str) -> SimpleNamespace:
    return SimpleNamespace(complaint=complaint, diagnoses=[SimpleNamespace(code=c) for c in codes])


def _rule(keywords=(), prefixes=()) -> SimpleNamespace:
    return SimpleNamespace(keywords=list(keywords), icd10_prefixes=list(prefixes))


@pytest.mark.parametrize(
    ("keywords", "prefixes", "episode", "expected"),
    [
        (["neck"], [], _episode("Stiff NECK since Monday"), True),  # case ignored
        (["cervicalgía"], [], _episode("Cervicalgia aguda"), True),  # accents folded
        (["cuello"], [], _episode("Dolor de cuéllo"), True),
        (["dolor  de cuello"], [], _episode("Dolor de\tcuello"), True),  # spaces collapsed
        (["arm"], [], _episode("Armpit pain"), True),  # a word's start
        (["arm"], [], _episode("Self-harm screening negative"), False),  # not inside a word
        (["neck"], [], _episode("Low back pain"), False),
        ([], ["M54.2"], _episode("Pain", "M54.2"), True),
        ([], ["M54"], _episode("Pain", "M79.12", "M54.2"), True),  # any of its diagnoses
        ([], ["M79.1"], _episode("Pain", "M54.2"), False),
        ([], ["M54.2"], _episode("Pain"), False),  # no diagnosis yet
        (["neck"], ["M54.2"], _episode("Headache", "M54.2"), True),  # either criterion
    ],
)
def test_matching(keywords, prefixes, episode, expected):
    assert rules.matches(_rule(keywords, prefixes), episode) is expected  # type: ignore[arg-type]


# --- applying -------------------------------------------------------------------------------


def test_window_edges(alice, db, texts):
    """Visits in (now, now + days_before] are asked for; now itself, the past and one
    second beyond the window are not."""
    now = utcnow().replace(microsecond=0)
    rid = make_rule(alice, days_before=2)
    inside = {
        booked(alice, now + timedelta(hours=1))[1],
        booked(alice, now + timedelta(days=2))[1],  # exactly days_before ahead
    }
    outside = {
        booked(alice, now)[1],
        booked(alice, now - timedelta(hours=1))[1],
        booked(alice, now + timedelta(days=2, seconds=1))[1],
    }
    made = apply(alice, now)
    rows = requests_for(alice)
    assert len(made) == 2 and {r.visit_id for r in rows} == inside
    assert not outside & {r.visit_id for r in rows}
    for row in rows:
        assert row.rule_id == rid and row.episode_id is not None
        assert row.instruments == ["nprs", "ndi"] and row.channel == "email"
        assert row.created_by is None and row.status == "open"
    # The next day, the visit that was one second too far is inside the window.
    assert len(apply(alice, now + timedelta(days=1))) == 1


def test_rule_made_requests_are_audited_as_the_rule(alice, db, texts):
    now = utcnow()
    rid = make_rule(alice)
    booked(alice, now + timedelta(days=1))
    [request_id] = apply(alice, now)
    with open_session(clinic_id=alice.clinic_id) as s:
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "questionnaire_request", AuditEvent.action == "create"
            )
        ).all()
    assert event.entity_id == str(request_id)
    assert event.actor == f"questionnaire-rule:{rid}" and event.user_id is None
    assert event.clinic_id == alice.clinic_id and event.detail["rule_id"] == rid


def test_matching_by_keyword_or_code_and_not_otherwise(alice, db, texts):
    now = utcnow()
    make_rule(alice, keywords=["cervicalgía"], icd10_prefixes=["M54.2"])
    by_word = booked(alice, now + timedelta(days=1), complaint="CERVICALGIA tras accidente")[1]
    by_code = booked(alice, now + timedelta(days=1), complaint="Pain", codes=("M54.2",))[1]
    booked(alice, now + timedelta(days=1), complaint="Lateral elbow pain", codes=("M79.12",))
    booked(alice, now + timedelta(days=1), episode=False)  # no episode: nothing to match
    apply(alice, now)
    assert {r.visit_id for r in requests_for(alice)} == {by_word, by_code}


def test_idempotent_and_a_cancelled_request_is_not_made_again(alice, db, texts):
    now = utcnow()
    make_rule(alice)
    booked(alice, now + timedelta(days=1))
    [first] = apply(alice, now)
    assert apply(alice, now) == [] and apply(alice, now + timedelta(minutes=10)) == []
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        service.cancel_request(s, principal=alice.principal, request_id=first)
    assert apply(alice, now + timedelta(minutes=20)) == []
    [row] = requests_for(alice)
    assert row.status == "cancelled"


def test_a_changed_rule_does_not_ask_again_but_a_second_rule_does(alice, db, texts):
    now = utcnow()
    rid = make_rule(alice)
    booked(alice, now + timedelta(days=1))
    apply(alice, now)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        rules.update_rule(
            s,
            principal=alice.principal,
            rule_id=rid,
            data=rules.RulePatch(version=1, instruments=["nprs"]),
        )
    assert apply(alice, now) == []
    make_rule(alice, name="Neck drawing", instruments=[], pain_drawing=True)
    assert len(apply(alice, now)) == 1 and len(requests_for(alice)) == 2


def test_inactive_rules_ask_nothing(alice, db, texts):
    now = utcnow()
    make_rule(alice, active=False)
    booked(alice, now + timedelta(days=1))
    assert apply(alice, now) == []


def test_other_clinics_rules_and_visits_are_apart(alice, carol, erin, db, texts):
    now = utcnow()
    rid = make_rule(alice)
    booked(alice, now + timedelta(days=1))
    booked(erin, now + timedelta(days=1))  # clinic B: a matching visit, but no rule there
    assert apply(carol, now) == []
    assert len(apply(alice, now)) == 1
    assert requests_for(erin) == []
    with open_session(clinic_id=carol.clinic_id) as s:
        for call in (
            lambda: rules.get_rule(s, principal=carol.principal, rule_id=rid),
            lambda: rules.delete_rule(s, principal=carol.principal, rule_id=rid),
            lambda: rules.update_rule(
                s, principal=carol.principal, rule_id=rid, data=rules.RulePatch(version=1)
            ),
        ):
            with pytest.raises(NotFound):
                call()
        assert rules.list_rules(s, principal=carol.principal) == []
        with pytest.raises(RuntimeError):  # a session of clinic B applying clinic A's rules
            rules.apply_rules(s, clinic_id=alice.clinic_id, now=now)


def test_a_refused_patient_is_skipped_and_nothing_is_written(alice, db, texts, monkeypatch):
    """create_request refuses NDI for a patient whose language has no NDI wording: that
    visit is skipped (no row, no audit event); the others are asked."""
    now = utcnow()
    make_rule(alice)
    monkeypatch.setattr(i18n, "has_wording", lambda instrument, lang: lang == "en")
    booked(alice, now + timedelta(days=1), preferred_language="es")
    _, asked = booked(alice, now + timedelta(days=1), preferred_language="en")
    made = apply(alice, now)
    assert [r.visit_id for r in requests_for(alice)] == [asked] and len(made) == 1
    with open_session(clinic_id=alice.clinic_id) as s:
        creates = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity == "questionnaire_request", AuditEvent.action == "create")
        )
    assert creates == 1


def test_a_patient_without_email_still_gets_the_request(alice, db, texts):
    """create_request does not refuse a patient without an address, so neither does the
    rule: the request is made, and the usual outbox path records why it was not sent."""
    now = utcnow()
    make_rule(alice)
    booked(alice, now + timedelta(days=1), email=None)
    [rid] = apply(alice, now)
    assert jobs.deliver_request(rid) is False
    with open_session(clinic_id=alice.clinic_id) as s:
        [msg] = s.scalars(select(PortalMessage).where(PortalMessage.request_id == rid)).all()
    assert msg.status == "failed" and "no email address" in (msg.error or "")


def test_deleting_a_rule_keeps_its_requests(alice, db, texts):
    now = utcnow()
    rid = make_rule(alice)
    booked(alice, now + timedelta(days=1))
    [request_id] = apply(alice, now)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        rules.delete_rule(s, principal=alice.principal, rule_id=rid)
    [row] = requests_for(alice)
    assert row.id == request_id and row.rule_id is None and row.status == "open"


def test_one_request_per_rule_and_visit_even_when_runs_race(alice, db, texts, monkeypatch):
    """A run that read the visits before another run committed its request (simulated: the
    "not asked yet" filter is bypassed) hits the unique index, makes nothing and audits
    nothing; nor can create_request make a second one for that (rule, visit) by itself."""
    now = utcnow()
    rid = make_rule(alice)
    booked(alice, now + timedelta(days=1))
    [first] = apply(alice, now)
    stale: list = []

    def every_visit(session, rule, now):
        rows = session.execute(
            select(Visit, Episode)
            .join(Episode, Visit.episode_id == Episode.id)
            .options(selectinload(Episode.diagnoses))
        ).all()
        stale.extend(rows)
        return [(v, e) for v, e in rows]

    monkeypatch.setattr(rules, "_due_visits", every_visit)
    assert apply(alice, now) == [] and len(stale) == 1
    assert [r.id for r in requests_for(alice)] == [first]
    with open_session(clinic_id=alice.clinic_id) as s:
        creates = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity == "questionnaire_request", AuditEvent.action == "create")
        )
        assert creates == 1
        row = s.get(QuestionnaireRequest, first)
        data = RequestIn(instruments=["nprs"], visit_id=row.visit_id)
        with pytest.raises(IntegrityError):
            service.create_request(
                s, principal=alice.principal, patient_id=row.patient_id, data=data, rule_id=rid
            )


def test_a_rule_made_link_ends_an_hour_into_its_visit_or_with_its_days(alice, db, texts):
    """A link asked for "before the visit" does not outlive it: answers given days later
    would pass for that visit's pre-treatment measures."""
    now = utcnow().replace(microsecond=0)
    make_rule(alice, days_before=3, expires_in_days=7)
    soon = now + timedelta(days=2)
    _, near = booked(alice, soon)
    apply(alice, now)
    [row] = requests_for(alice, visit_id=near)
    assert row.expires_at == soon + rules.AFTER_VISIT_START  # the visit comes before 7 days
    short = make_rule(alice, name="Short link", days_before=3, expires_in_days=1)
    apply(alice, now)
    [row] = requests_for(alice, visit_id=near, rule_id=short)
    assert row.expires_at == row.created_at + timedelta(days=1)  # its own day runs out first


def test_a_clinicians_request_keeps_its_days_even_with_a_visit(alice, db, texts):
    now = utcnow()
    pid, vid = booked(alice, now + timedelta(days=1))
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        row, _ = service.create_request(
            s,
            principal=alice.principal,
            patient_id=pid,
            data=RequestIn(visit_id=vid, instruments=["nprs"]),
        )
        assert row.expires_at == row.created_at + timedelta(days=get_settings().request_days)
