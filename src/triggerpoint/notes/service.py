"""SOAP notes: one per visit, written from the clinic's templates, signed, then amended only
by addenda.

Every rule about a note lives here once; the JSON API, the form, the needling session's
signature (`treatment.service.sign` calls `sign_visit_note`), FHIR and the demo all call it:
* a visit has at most one note; it is read and written by roles with clinical permissions,
  and another clinic's visit is not found (the session is confined to the principal's clinic);
* a stale edit (the version read is not the version stored) is refused with Conflict;
* a signed note never changes: an edit is refused with Conflict naming the note, and what
  the clinician adds later is a dated, attributed addendum;
* a template fills only the sections left empty; it never overwrites typed text.
Every read and write appends an audit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, KnowledgeError, NotFound
from triggerpoint.notes import schemas
from triggerpoint.notes.models import NoteAddendum, NoteTemplate, SoapNote
from triggerpoint.records.models import Visit
from triggerpoint.records.service import get_record

TEMPLATES_FILE = "data/templates.yaml"
CONTENT = tuple(schemas.NoteContent.model_fields)
ENTITY = "soap_note"


# --- templates ----------------------------------------------------------------------------


@cache
def default_templates() -> schemas.TemplateFile:
    """The built-in templates (notes/data/templates.yaml), validated once."""
    text = resources.files("triggerpoint.notes").joinpath(TEMPLATES_FILE).read_text("utf-8")
    return load_templates(text, f"notes/{TEMPLATES_FILE}")


def load_templates(text: str, where: str) -> schemas.TemplateFile:
    """Templates from YAML text; a broken file is a KnowledgeError naming the file and the
    field (shipped data that cannot be used, not a request's fault)."""
    try:
        return schemas.TemplateFile.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{where}: not YAML ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        at = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise KnowledgeError(f"{where}: {at}: {err['msg']}") from None


def _template_out(row: NoteTemplate) -> schemas.NoteTemplateOut:
    return schemas.NoteTemplateOut(
        key=f"clinic-{row.id}",
        id=row.id,
        name=row.name,
        builtin=False,
        **{s: getattr(row, s) for s in schemas.SECTIONS},
    )


def list_templates(session: Session, *, principal: Principal) -> list[schemas.NoteTemplateOut]:
    """The clinic's own templates by name, or the built-in ones while it has none."""
    principal.require("clinical:read")
    rows = list(session.scalars(select(NoteTemplate).order_by(NoteTemplate.name)))
    if rows:
        return [_template_out(r) for r in rows]
    return [
        schemas.NoteTemplateOut(key=key, id=None, builtin=True, **spec.model_dump())
        for key, spec in default_templates().templates.items()
    ]


def create_template(
    session: Session, *, principal: Principal, data: schemas.NoteTemplateIn
) -> schemas.NoteTemplateOut:
    """A clinic template (clinicians and admins: both write clinical text). Names are unique
    within the clinic. The clinic's first template replaces the built-in list for it."""
    principal.require("clinical:write")
    if session.scalar(select(NoteTemplate.id).where(NoteTemplate.name == data.name)) is not None:
        raise Conflict(f"the clinic already has a note template named {data.name!r}")
    row = NoteTemplate(created_by=principal.user_id, **data.model_dump())
    session.add(row)
    session.flush()
    record(
        session, actor=principal.actor, action="create", entity="note_template", entity_id=row.id
    )
    return _template_out(row)


def _template(session: Session, principal: Principal, key: str) -> schemas.NoteTemplateOut:
    found = {t.key: t for t in list_templates(session, principal=principal)}
    if key not in found:
        raise InvalidInput(
            "template", f"no template {key!r} here; this clinic has: {', '.join(found)}"
        )
    return found[key]


def apply_template(content: dict[str, Any], template: schemas.NoteTemplateOut) -> dict[str, Any]:
    """The one rule for templates: a section left empty gets the template's text; a section
    with anything typed in it keeps it, whatever the template says."""
    return {
        **content,
        **{
            s: getattr(template, s)
            for s in schemas.SECTIONS
            if not content.get(s) and getattr(template, s)
        },
    }


# --- notes --------------------------------------------------------------------------------


def _visit(session: Session, visit_id: int) -> Visit:
    """The visit, or NotFound: another clinic's visit is not found here, never forbidden."""
    visit: Visit = get_record(session, Visit, visit_id, "visit")
    return visit


def note_for_visit(session: Session, *, visit_id: int) -> SoapNote | None:
    """This visit's note, if one was written (a visit has at most one)."""
    return session.scalar(select(SoapNote).where(SoapNote.visit_id == visit_id))


def get_note(session: Session, *, principal: Principal, visit_id: int) -> SoapNote:
    """The visit's note (audited read); NotFound when the visit has none."""
    principal.require("clinical:read")
    _visit(session, visit_id)
    note = note_for_visit(session, visit_id=visit_id)
    if note is None:
        raise NotFound("note", visit_id, message=f"visit {visit_id} has no SOAP note yet")
    record(session, actor=principal.actor, action="read", entity=ENTITY, entity_id=note.id)
    return note


def find_note(session: Session, *, principal: Principal, visit_id: int) -> SoapNote | None:
    """Like `get_note`, but None when the visit has none (pages show an empty form)."""
    principal.require("clinical:read")
    _visit(session, visit_id)
    note = note_for_visit(session, visit_id=visit_id)
    if note is not None:
        record(session, actor=principal.actor, action="read", entity=ENTITY, entity_id=note.id)
    return note


def has_examination(note: SoapNote | schemas.NoteOut | None) -> bool:
    """Whether the note records examination findings or an assessment (the visit stepper's
    "examination" step): the objective text, range of motion, palpation or the assessment."""
    return note is not None and any(
        getattr(note, k) for k in ("objective", "rom_findings", "palpation_summary", "assessment")
    )


def _refuse_if_signed(note: SoapNote) -> None:
    if note.status == "signed":
        raise Conflict(
            f"SOAP note {note.id} (visit {note.visit_id}) is signed and cannot change;"
            " add an addendum instead"
        )


def save_note(
    session: Session,
    *,
    principal: Principal,
    visit_id: int,
    data: schemas.NoteIn,
    at: datetime | None = None,
) -> SoapNote:
    """Create the visit's note, or replace an unsigned one's content (send the version read).

    A template named in `data.template` fills the sections left empty (`apply_template`).
    `at` dates a new note (the demo generator's past visits; not user input); else now."""
    principal.require("clinical:write")
    visit = _visit(session, visit_id)
    content = data.model_dump(include=set(CONTENT))
    if data.template:
        content = apply_template(content, _template(session, principal, data.template))
    note = note_for_visit(session, visit_id=visit_id)
    if note is None:
        if data.version is not None:
            raise Conflict(f"visit {visit_id} has no note (version {data.version}); reload")
        note = note_row(
            visit_id=visit.id,
            patient_id=visit.patient_id,
            content=content,
            author_id=principal.user_id,
            at=at,
        )
        session.add(note)
        session.flush()
        record(
            session,
            actor=principal.actor,
            action="create",
            entity=ENTITY,
            entity_id=note.id,
            detail={"visit_id": visit_id, "template": data.template},
        )
        return note
    _refuse_if_signed(note)
    if data.version is None or data.version != note.version:
        raise Conflict(
            f"SOAP note {note.id} was changed by someone else (you edited version"
            f" {data.version}, it is now {note.version}); reload and try again"
        )
    changed = sorted(k for k, v in content.items() if getattr(note, k) != v)
    for key, value in content.items():
        setattr(note, key, value)
    note.updated_by = principal.user_id
    _flush(session, note)
    record(
        session,
        actor=principal.actor,
        action="update",
        entity=ENTITY,
        entity_id=note.id,
        detail={"visit_id": visit_id, "fields": changed, "template": data.template},
    )
    return note


def note_row(
    *,
    visit_id: int,
    patient_id: int,
    content: dict[str, Any],
    author_id: int | None,
    at: datetime | None = None,
) -> SoapNote:
    """A new note's row from validated content (`NoteContent`), for `save_note` and
    `import_note`: `at` dates it (past visits of the demo or an import; else now)."""
    extra: dict[str, Any] = {} if at is None else {"created_at": at, "updated_at": at}
    return SoapNote(
        visit_id=visit_id,
        patient_id=patient_id,
        created_by=author_id,
        updated_by=author_id,
        **schemas.NoteContent.model_validate(content).model_dump(),
        **extra,
    )


def _flush(session: Session, note: SoapNote) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(
            f"SOAP note {note.id} was changed by someone else; reload and try again"
        ) from None


def _sign(session: Session, principal: Principal, note: SoapNote, at: datetime, how: str) -> None:
    note.status, note.signed_by, note.signed_at = "signed", principal.user_id, at
    _flush(session, note)
    record(
        session,
        actor=principal.actor,
        action="sign",
        entity=ENTITY,
        entity_id=note.id,
        detail={"visit_id": note.visit_id, "with": how},
    )


def sign_note(
    session: Session, *, principal: Principal, visit_id: int, data: schemas.SignNoteIn
) -> SoapNote:
    """Sign the visit's note on its own (a visit without needling, or before the session is
    signed). The version read must be the version stored; an empty note is not signed."""
    principal.require("clinical:write")
    _visit(session, visit_id)
    note = note_for_visit(session, visit_id=visit_id)
    if note is None:
        raise NotFound("note", visit_id, message=f"visit {visit_id} has no SOAP note to sign")
    _refuse_if_signed(note)
    if note.version != data.version:
        raise Conflict(
            f"SOAP note {note.id} changed since you read it (version {note.version}); reload and"
            " check before signing"
        )
    if not any(getattr(note, k) not in (None, "") for k in CONTENT):
        raise InvalidInput("subjective", "the note is empty: write at least one section first")
    _sign(session, principal, note, utcnow(), "note")
    return note


def sign_visit_note(
    session: Session, *, principal: Principal, visit_id: int, at: datetime
) -> SoapNote | None:
    """Sign the visit's note with its needling session, in the session's transaction and at
    its time. No note, or one already signed: nothing to do."""
    principal.require("clinical:write")
    note = note_for_visit(session, visit_id=visit_id)
    if note is None or note.status == "signed":
        return note
    _sign(session, principal, note, at, "needling_session")
    return note


def add_note_addendum(
    session: Session, *, principal: Principal, visit_id: int, data: schemas.NoteAddendumIn
) -> NoteAddendum:
    """Words added to a signed note, dated and attributed (an unsigned note is edited)."""
    principal.require("clinical:write")
    _visit(session, visit_id)
    note = note_for_visit(session, visit_id=visit_id)
    if note is None:
        raise NotFound("note", visit_id, message=f"visit {visit_id} has no SOAP note")
    if note.status != "signed":
        raise Conflict(
            f"SOAP note {note.id} is not signed yet: edit it directly; addenda are for signed notes"
        )
    addendum = NoteAddendum(note_id=note.id, text=data.text, author_id=principal.user_id)
    session.add(addendum)
    session.flush()
    session.expire(note, ["addenda"])
    record(
        session,
        actor=principal.actor,
        action="addendum",
        entity=ENTITY,
        entity_id=note.id,
        detail={"addendum_id": addendum.id, "visit_id": visit_id},
    )
    return addendum


def import_note(
    session: Session,
    *,
    principal: Principal,
    visit_id: int,
    content: schemas.NoteContent,
    at: datetime,
    author: str,
    signed_at: datetime | None = None,
    signer: str | None = None,
    addenda: Sequence[tuple[schemas.NoteAddendumIn, datetime, str | None]] = (),
) -> SoapNote:
    """A historical note from another system (FHIR import): its own times, its author's and
    signer's names (they are not users here), signed or not as it was. Held to today's
    rules: the visit's only note, content as `NoteContent` takes it, addenda only on a
    signed note. The importer is recorded as `created_by` and in the audit trail."""
    principal.require("clinical:write")
    visit = _visit(session, visit_id)
    if note_for_visit(session, visit_id=visit_id) is not None:
        raise Conflict(f"visit {visit_id} already has a SOAP note")
    if addenda and signed_at is None:
        raise InvalidInput("addenda", "addenda belong to a signed note; this one is not final")
    note = note_row(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        content=content.model_dump(),
        author_id=principal.user_id,
        at=at,
    )
    note.imported_author = author
    if signed_at is not None:
        note.status, note.signed_at, note.imported_signer = "signed", signed_at, signer
    note.addenda = [
        NoteAddendum(text=a.text, created_at=when, imported_author=who) for a, when, who in addenda
    ]
    session.add(note)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="import",
        entity=ENTITY,
        entity_id=note.id,
        detail={"visit_id": visit_id, "signed": signed_at is not None, "addenda": len(addenda)},
    )
    return note


# --- output -------------------------------------------------------------------------------


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


def people(session: Session, note: SoapNote) -> tuple[str | None, str | None, list[str | None]]:
    """Who wrote the note, who signed it and who wrote each addendum, by name: users of this
    clinic, or the names an imported note came with."""
    names = _names(session, [note.created_by, note.signed_by, *(a.author_id for a in note.addenda)])
    author = note.imported_author or names.get(note.created_by or 0)
    signer = note.imported_signer or names.get(note.signed_by or 0)
    authors = [a.imported_author or names.get(a.author_id or 0) for a in note.addenda]
    return author, signer, authors


def note_out(session: Session, note: SoapNote) -> schemas.NoteOut:
    """The note with its author's, signer's and addenda authors' names, addenda oldest first."""
    author, signer, authors = people(session, note)
    out = schemas.NoteOut.model_validate(note)
    return out.model_copy(
        update={
            "author": author,
            "signer": signer,
            "addenda": [
                a.model_copy(update={"author": who})
                for a, who in zip(out.addenda, authors, strict=True)
            ],
        }
    )


def print_view(note: schemas.NoteOut | None) -> dict[str, Any] | None:
    """What the printed note shows per section: its structured findings (labelled, only
    those recorded) and its text. None when there is no note."""
    if note is None:
        return None
    sections = []
    for s in schemas.SECTIONS:
        facts = [
            (schemas.LABELS[k], _shown(getattr(note, k)))
            for k, section in schemas.SECTION_OF.items()
            if section == s and getattr(note, k) is not None
        ]
        sections.append(
            {"key": s, "title": schemas.SECTION_TITLES[s], "facts": facts, "text": getattr(note, s)}
        )
    return {"note": note, "sections": sections}


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
