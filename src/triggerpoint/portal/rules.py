"""Clinic rules: questionnaire requests made automatically before matching visits.

A rule is a clinic's standing order, e.g. "NPRS + NDI before every visit for neck
episodes": what to ask (`instruments`, `pain_drawing`), which episodes (a complaint
containing one of `keywords`, or a diagnosis starting with one of `icd10_prefixes`) and when
(`days_before` the visit). `apply_rules` runs on a schedule (portal.jobs) and makes each
request through `portal.service.create_request`, the clinician's own service: the same
checks, the same row, the same audit event, by a principal that says it was the rule.

Who may manage rules: "clinical:write" (clinicians and admins), listing "clinical:read". A
rule selects patients by their complaint and diagnoses, which docs/security.md keeps from
assistants, and choosing which outcome measures a group of patients answers is a clinical
protocol, not account management ("users:manage"). Assistants get 403.

One request per (rule, visit), ever: a request the clinic cancelled is not made again, and
changing a rule does not re-ask for visits it already asked for. A unique index on
(rule_id, visit_id) keeps that true when two runs race. A rule's link expires an hour after
the visit starts (AFTER_VISIT_START), if its days have not run out before.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor, record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, NotFound
from triggerpoint.inputs import InputModel
from triggerpoint.outcomes.schemas import Instrument
from triggerpoint.portal import i18n, service
from triggerpoint.portal.models import QuestionnaireRequest, QuestionnaireRule
from triggerpoint.portal.schemas import MAX_DAYS, RequestIn
from triggerpoint.records import icd10
from triggerpoint.records.models import Episode, Visit

log = logging.getLogger(__name__)
ENTITY = "questionnaire_rule"
MIN_DAYS_BEFORE, MAX_DAYS_BEFORE, DAYS_BEFORE = 1, 14, 2
MAX_KEYWORDS, MAX_PREFIXES = 20, 12
RULE_ROLE = "rule"
# A rule asks "before the visit", so its link ends an hour after the appointment starts (the
# waiting room still counts; answers given days later would be mistaken for that visit's
# pre-treatment measures), or earlier when the rule's own days run out first.
AFTER_VISIT_START = timedelta(hours=1)
# What a rule's principal may do: ask a patient for questionnaires (create_request needs
# patient:write, its look-ups patient:read), nothing clinical and no user's rights.
RULE_PERMISSIONS = frozenset({"patient:read", "patient:write"})
# A code prefix: the category (M54) with, optionally, the dot and up to four more characters.
PREFIX = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{0,4})?$")

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
CodePrefix = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
RuleChannel = Literal["email", "sms"]  # a rule's link goes to the patient: nobody else sees it


# --- inputs and outputs -----------------------------------------------------------------


class RuleIn(InputModel):
    """A new rule (input from people and programs: see triggerpoint.inputs)."""

    name: Name = Field(title="Name")
    instruments: list[Instrument] = Field(
        default_factory=list, max_length=8, title="Questionnaires"
    )
    pain_drawing: bool = Field(default=False, title="Pain drawing")
    keywords: list[Keyword] = Field(
        default_factory=list,
        max_length=MAX_KEYWORDS,
        title="Keywords",
        description="The episode's complaint contains one (case and accents ignored)",
    )
    icd10_prefixes: list[CodePrefix] = Field(
        default_factory=list,
        max_length=MAX_PREFIXES,
        title="ICD-10-CM codes",
        description="Or one of its ICD-10-CM diagnoses starts with one, e.g. 'M54.2'",
    )
    days_before: int = Field(
        default=DAYS_BEFORE,
        ge=MIN_DAYS_BEFORE,
        le=MAX_DAYS_BEFORE,
        title="Days before the visit",
    )
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS,
        title="Link valid for (days)",
        description="Default: the request_days setting (7)",
    )
    channel: RuleChannel = Field(default="email", title="Send by")
    active: bool = Field(default=True, title="Active")


class RulePatch(InputModel):
    """A change to a rule: only the fields sent change; `version` is the one edited."""

    version: int = Field(ge=1, le=2_147_483_647)
    name: Name | None = None
    instruments: list[Instrument] | None = Field(default=None, max_length=8)
    pain_drawing: bool | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=MAX_KEYWORDS)
    icd10_prefixes: list[CodePrefix] | None = Field(default=None, max_length=MAX_PREFIXES)
    days_before: int | None = Field(default=None, ge=MIN_DAYS_BEFORE, le=MAX_DAYS_BEFORE)
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    channel: RuleChannel | None = None
    active: bool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    instruments: list[str]
    pain_drawing: bool
    keywords: list[str]
    icd10_prefixes: list[str]
    days_before: int
    expires_in_days: int | None
    channel: str
    active: bool
    created_at: datetime
    created_by: int | None
    version: int


FIELDS = tuple(f for f in RuleIn.model_fields)
# The page's names for the fields, in its error sentences (the models' titles).
LABELS = {f: info.title or f for f, info in RuleIn.model_fields.items()}
NULLABLE = frozenset({"expires_in_days"})  # null in a patch: back to the setting


# --- who acts for a rule -----------------------------------------------------------------


@dataclass(frozen=True)
class RulePrincipal(Principal):
    """A clinic rule acting for its clinic: may ask patients for questionnaires and nothing
    else; stores no user as the requester; audited as "questionnaire-rule:<id>"."""

    def can(self, permission: str) -> bool:
        return permission in RULE_PERMISSIONS

    @property
    def recorder(self) -> int | None:
        return None

    @property
    def actor(self) -> Actor:
        return Actor(None, self.clinic_id, self.username)


def rule_principal(*, clinic_id: int, rule_id: int) -> Principal:
    """The one way a rule acts: no user, the rule's clinic, named after the rule."""
    return RulePrincipal(0, clinic_id, f"questionnaire-rule:{rule_id}", RULE_ROLE)


# --- matching ----------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents, spaces collapsed: 'Cervicalgía  Aguda' -> 'cervicalgia aguda'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


def _compact(code: str) -> str:
    return code.replace(".", "").upper()


def keyword_matches(keyword: str, complaint: str) -> bool:
    """The folded complaint contains the folded keyword starting at a word: 'arm' finds
    'arm pain' and 'armpit' but not 'harm' (a plain substring would)."""
    word = fold(keyword)
    return bool(word) and re.search(rf"(?<!\w){re.escape(word)}", fold(complaint)) is not None


def matches(rule: QuestionnaireRule, episode: Episode) -> bool:
    """Whether the rule applies to the episode: a keyword in its complaint, or one of its
    diagnoses under one of the rule's code prefixes (either is enough)."""
    if any(keyword_matches(k, episode.complaint or "") for k in rule.keywords):
        return True
    codes = [_compact(d.code) for d in episode.diagnoses]
    return any(c.startswith(_compact(p)) for p in rule.icd10_prefixes for c in codes)


# --- validation --------------------------------------------------------------------------


def _check_instruments(data: RuleIn) -> None:
    """create_request's own check (one rule, one home), in the languages patients may have:
    the rule is valid if it can be put to patients in at least one of them."""
    asked = RequestIn(instruments=data.instruments, pain_drawing=data.pain_drawing)
    first: InvalidInput | None = None
    for language in i18n.languages():
        try:
            service._check_instruments(asked, language)
            return
        except InvalidInput as exc:
            first = first or exc
    if first is not None:
        raise first


def _prefixes(raw: list[str]) -> list[str]:
    out: list[str] = []
    for i, text in enumerate(raw):
        prefix = text.upper().rstrip(".")
        field = f"icd10_prefixes.{i}"
        if not PREFIX.match(prefix):
            raise InvalidInput(field, "must be the start of an ICD-10-CM code, e.g. M54 or M54.2")
        if not any(_compact(c).startswith(_compact(prefix)) for c in icd10.codes()):
            near = [c.code for c in icd10.nearest(prefix)]
            raise InvalidInput(
                field,
                f"must start a code of triggerpoint's ICD-10-CM list ({prefix} starts none)",
                suggestions=near,
            )
        if prefix not in out:
            out.append(prefix)
    return out


def _keywords(raw: list[str]) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(raw):
        if not any(c.isalnum() for c in word):
            raise InvalidInput(f"keywords.{i}", "must hold letters or digits")
        if fold(word) not in {fold(w) for w in out}:
            out.append(word)
    return out


def _checked(data: RuleIn) -> dict[str, Any]:
    """The rule's values, checked and normalised, or InvalidInput naming the field."""
    _check_instruments(data)
    keywords = _keywords(data.keywords)
    prefixes = _prefixes(data.icd10_prefixes)
    if not keywords and not prefixes:
        raise InvalidInput(
            "keywords",
            "give at least one keyword or ICD-10-CM code prefix: a rule matching every "
            "episode would ask every patient",
        )
    return {**data.model_dump(), "keywords": keywords, "icd10_prefixes": prefixes}


def _unique_name(session: Session, name: str, rule_id: int | None) -> None:
    q = select(QuestionnaireRule.id).where(QuestionnaireRule.name == name)
    if rule_id is not None:
        q = q.where(QuestionnaireRule.id != rule_id)
    if session.scalar(q) is not None:
        raise Conflict(f"the clinic already has a rule named {name!r}", field="name")


def _flush(session: Session, name: str) -> None:
    """Flush, turning a name taken meanwhile (the unique constraint) into a Conflict."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"the clinic already has a rule named {name!r}", field="name") from None


# --- the staff's functions ----------------------------------------------------------------


def create_rule(session: Session, *, principal: Principal, data: RuleIn) -> QuestionnaireRule:
    principal.require("clinical:write")
    values = _checked(data)
    _unique_name(session, values["name"], None)
    rule = QuestionnaireRule(**values, created_at=utcnow(), created_by=principal.recorder)
    session.add(rule)
    _flush(session, rule.name)
    record(
        session,
        actor=principal.actor,
        action="create",
        entity=ENTITY,
        entity_id=rule.id,
        detail={"instruments": rule.instruments, "days_before": rule.days_before},
    )
    return rule


def list_rules(session: Session, *, principal: Principal) -> list[QuestionnaireRule]:
    """The clinic's rules, active first, then by name."""
    principal.require("clinical:read")
    rows = list(
        session.scalars(
            select(QuestionnaireRule).order_by(
                QuestionnaireRule.active.desc(), QuestionnaireRule.name, QuestionnaireRule.id
            )
        )
    )
    record(session, actor=principal.actor, action="list", entity=ENTITY)
    return rows


def get_rule(session: Session, *, principal: Principal, rule_id: int) -> QuestionnaireRule:
    """The rule (another clinic's is not found: the session is confined to the clinic)."""
    principal.require("clinical:read")
    rule = session.get(QuestionnaireRule, rule_id)
    if rule is None:
        raise NotFound("questionnaire rule", rule_id)
    return rule


def _merged(rule: QuestionnaireRule, data: RulePatch) -> RuleIn:
    """The rule as it would be after the patch, validated as a new rule is."""
    sent = data.model_fields_set - {"version"}
    for name in sent:
        if getattr(data, name) is None and name not in NULLABLE:
            raise InvalidInput(name, "may not be null (leave it out to keep it)")
    values = {f: getattr(rule, f) for f in FIELDS}
    values.update({f: getattr(data, f) for f in sent})
    try:
        return RuleIn.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(".".join(str(p) for p in err["loc"]), err["msg"]) from None


def update_rule(
    session: Session, *, principal: Principal, rule_id: int, data: RulePatch
) -> QuestionnaireRule:
    """Change a rule (deactivate it with `active: false`). Requests already made stay."""
    principal.require("clinical:write")
    rule = get_rule(session, principal=principal, rule_id=rule_id)
    if rule.version != data.version:
        raise Conflict(
            f"questionnaire rule {rule_id} was changed by someone else (you edited version "
            f"{data.version}, it is now {rule.version}); reload and try again"
        )
    values = _checked(_merged(rule, data))
    _unique_name(session, values["name"], rule.id)
    changed = sorted(f for f in FIELDS if getattr(rule, f) != values[f])
    for field in changed:
        setattr(rule, field, values[field])
    if changed:
        _flush(session, rule.name)
    record(
        session,
        actor=principal.actor,
        action="update",
        entity=ENTITY,
        entity_id=rule.id,
        detail={"fields": changed},
    )
    return rule


def delete_rule(session: Session, *, principal: Principal, rule_id: int) -> None:
    """Delete a rule; the requests it made stay, no longer naming it."""
    principal.require("clinical:write")
    rule = get_rule(session, principal=principal, rule_id=rule_id)
    session.delete(rule)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="delete",
        entity=ENTITY,
        entity_id=rule_id,
        detail={"name": rule.name},
    )


# --- applying the rules ---------------------------------------------------------------------


def _due_visits(
    session: Session, rule: QuestionnaireRule, now: datetime
) -> list[tuple[Visit, Episode]]:
    """The clinic's visits in (now, now + days_before] with an episode, for which this rule
    has made no request yet (in any state: a cancelled one is not made again)."""
    asked = exists().where(
        QuestionnaireRequest.rule_id == rule.id, QuestionnaireRequest.visit_id == Visit.id
    )
    rows = session.execute(
        select(Visit, Episode)
        .join(Episode, Visit.episode_id == Episode.id)
        .where(
            Visit.visit_at > now,
            Visit.visit_at <= now + timedelta(days=rule.days_before),
            ~asked,
        )
        .options(selectinload(Episode.diagnoses))
        .order_by(Visit.visit_at, Visit.id)
    ).all()
    return [(visit, episode) for visit, episode in rows]


def _ask(session: Session, rule: QuestionnaireRule, visit: Visit) -> QuestionnaireRequest | None:
    """One request for this visit, by the rule, through create_request; None when
    create_request refuses it (e.g. no wording in the patient's language) or a concurrent
    run made it first. Each attempt is its own savepoint, so a refusal writes nothing."""
    try:
        data = RequestIn(
            instruments=rule.instruments,  # type: ignore[arg-type]  # checked when the rule was saved
            pain_drawing=rule.pain_drawing,
            expires_in_days=rule.expires_in_days,
            channel=rule.channel,  # type: ignore[arg-type]  # email or sms, checked likewise
            visit_id=visit.id,
            episode_id=visit.episode_id,
        )
        with session.begin_nested():
            row, _token = service.create_request(  # the worker makes the link when sending
                session,
                principal=rule_principal(clinic_id=rule.clinic_id, rule_id=rule.id),
                patient_id=visit.patient_id,
                data=data,
                rule_id=rule.id,
                expires_by=visit.visit_at + AFTER_VISIT_START,
            )
    except (InvalidInput, NotFound, ValidationError) as exc:
        log.info("rule %s made no request for visit %s: %s", rule.id, visit.id, exc)
        return None
    except IntegrityError:
        log.info("rule %s: visit %s was asked for by another run", rule.id, visit.id)
        return None
    return row


def apply_rules(session: Session, *, clinic_id: int, now: datetime) -> list[QuestionnaireRequest]:
    """Make the requests the clinic's active rules owe for visits coming up, and return
    them (the caller enqueues their sending after commit). Running it again makes nothing
    new. `session` must be confined to `clinic_id`."""
    if session.info.get("clinic_id") != clinic_id:
        raise RuntimeError("apply_rules needs a session confined to the clinic it applies")
    active = session.scalars(
        select(QuestionnaireRule)
        .where(QuestionnaireRule.active.is_(True))
        .order_by(QuestionnaireRule.id)
    ).all()
    made: list[QuestionnaireRequest] = []
    for rule in active:
        for visit, episode in _due_visits(session, rule, now):
            if matches(rule, episode) and (row := _ask(session, rule, visit)) is not None:
                made.append(row)
    return made
