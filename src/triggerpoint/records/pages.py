"""Web pages for patient records: list and search, create, the patient timeline, pain drawings.

Pages call the same service functions as the JSON API; forms that fail validation come back
with the user's input and a message beside each field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from triggerpoint.accounts.deps import PageForm, PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.accounts.service import Principal
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, NotFound
from triggerpoint.records import icd10, schemas, service
from triggerpoint.records.languages import PATIENT_LANGUAGES
from triggerpoint.records.models import Consent
from triggerpoint.records.schemas import RecordId
from triggerpoint.ui import localtime
from triggerpoint.ui.forms import labelled, parse_form
from triggerpoint.ui.templating import field_label, templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
PAGE_SIZE = 25
# Sections other domains add to the patient page: each gives template variables for one
# patient, read in the page's own session. They append themselves (portal.pages), since
# records may not import the domains built on it (that would be a cycle of packages).
PATIENT_PAGE_EXTRAS: list[Callable[[Session, Principal, int], dict[str, Any]]] = []
CONSENT_KINDS = {service.DRY_NEEDLING: "Dry needling", service.RESEARCH: "Research use"}


@pages.get("/patients", response_class=HTMLResponse)
def patient_list(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    rows, total = service.list_patients(
        session, principal=principal, q=q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return templates().TemplateResponse(
        request,
        "records/patients.html",
        {
            "principal": principal,
            "rows": rows,
            "total": total,
            "q": q or "",
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
        },
    )


@pages.get("/patients/new", response_class=HTMLResponse)
def patient_new(request: Request, principal: PagePrincipal) -> Response:
    principal.require("patient:write")
    return templates().TemplateResponse(
        request,
        "records/patient_form.html",
        {"principal": principal, "form": {}, "errors": {}, "languages": PATIENT_LANGUAGES},
    )


@pages.post("/patients/new", response_class=HTMLResponse)
def patient_create(
    request: Request, principal: PagePrincipal, session: PageSession, form_data: PageForm
) -> Response:
    form = dict(form_data)
    data, errors = parse_form(schemas.PatientIn, form)
    if data is not None:
        try:
            patient = service.create_patient(session, principal=principal, data=data)
            return RedirectResponse(f"/patients/{patient.id}", status_code=303)
        except Conflict as exc:
            session.rollback()
            errors = {"external_id": str(exc)}
    return templates().TemplateResponse(
        request,
        "records/patient_form.html",
        {"principal": principal, "form": form, "errors": errors, "languages": PATIENT_LANGUAGES},
        status_code=422,
    )


@pages.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    from triggerpoint.bodychart.svg import chart_symbols, render_thumbnail

    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    visits = service.list_visits(session, principal=principal, patient_id=patient_id)
    consents = service.list_consents(session, principal=principal, patient_id=patient_id)
    active = service.active_consent(session, patient_id=patient_id, kind=service.DRY_NEEDLING)
    research = service.active_consent(session, patient_id=patient_id, kind=service.RESEARCH)
    # Pain drawings and episodes are clinical: not read (nor audited as read) for other roles.
    clinical = principal.can("clinical:read")
    drawings = (
        service.list_pain_drawings(session, principal=principal, patient_id=patient_id)
        if clinical
        else []
    )
    episodes = (
        service.episodes_out(session, principal=principal, patient_id=patient_id)
        if clinical
        else []
    )
    by_visit: dict[int | None, list] = {}
    for d in drawings:
        by_visit.setdefault(d.visit_id, []).append(d)

    symbols = [chart_symbols()]  # the chart itself, handed out with the first thumbnail only

    def thumbs(drawing) -> list[str]:
        """Both views of one drawing as `<use>` of the shared chart plus its marked regions."""
        shading = {m.region_id: "pain" for m in drawing.marks}
        views = [render_thumbnail(v, shading=shading) for v in ("anterior", "posterior")]
        views[0] = "".join(symbols) + views[0]
        symbols.clear()
        return views

    timeline = [
        {
            "number": number,
            "visit": service.visit_out(v, principal),
            "drawings": [(d, thumbs(d)) for d in by_visit.get(v.id, [])],
        }
        for number, v in service.numbered_newest_first(visits)
    ]
    return templates().TemplateResponse(
        request,
        "records/patient.html",
        {
            "principal": principal,
            "p": patient,
            "timeline": timeline,
            "consents": consents,
            "active_consent": active,
            "research_consent": research,
            "consent_kinds": CONSENT_KINDS,
            "languages": PATIENT_LANGUAGES,
            "episodes": episodes,
            **_diagnosis_extras(patient_id),
            **{
                k: v
                for f in PATIENT_PAGE_EXTRAS
                for k, v in f(session, principal, patient_id).items()
            },
            "loose_drawings": [(d, thumbs(d)) for d in by_visit.get(None, [])],
        },
    )


@pages.get("/patients/{patient_id}/draw", response_class=HTMLResponse)
def drawing_editor(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    from triggerpoint.bodychart.svg import render_view

    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    charts = {v: render_view(v) for v in ("anterior", "posterior")}
    return templates().TemplateResponse(
        request,
        "records/draw.html",
        {
            "principal": principal,
            "p": patient,
            "charts": charts,
            "now": localtime.form_now(),
        },
    )


@pages.post("/patients/{patient_id}/draw", response_class=HTMLResponse)
def drawing_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form: PageForm,
) -> Response:
    """Save a visit with its pain drawing in one transaction (both or neither)."""
    marks = []
    for raw in form.getlist("mark"):
        region, _, intensity = str(raw).partition(":")
        marks.append(
            {"region": region, "intensity": int(intensity) if intensity.isdigit() else None}
        )
    visit_at = str(form.get("visit_at") or "")
    drawing = {"complete": form.get("complete") == "complete", "marks": marks}
    visit_data, errors = parse_form(
        schemas.VisitIn,
        {
            "visit_at": localtime.from_form(visit_at),
            "pain_drawing": drawing,
        },
    )
    # The drawing's fields are the form's own: `marks`, as the schema names them (the rule
    # for a drawing without marks is the schema's, the same as the API's).
    errors = {k.removeprefix("pain_drawing."): v for k, v in errors.items()}
    if not errors and visit_data:
        try:
            service.create_visit(
                session, principal=principal, patient_id=patient_id, data=visit_data
            )
            return RedirectResponse(f"/patients/{patient_id}", status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors[exc.field] = str(exc)
    return _refused(errors)


# --- demographics ----------------------------------------------------------------------


def _patient_form(p: schemas.PatientOut) -> dict[str, object]:
    """The stored demographics as the form's fields (numbers and dates as typed)."""
    fields = p.model_dump(include=set(schemas.PatientUpdate.model_fields))
    return {k: "" if v is None else str(v) for k, v in fields.items()}


@pages.get("/patients/{patient_id}/edit", response_class=HTMLResponse)
def patient_edit(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    principal.require("patient:write")
    patient = schemas.PatientOut.model_validate(
        service.get_patient(session, principal=principal, patient_id=patient_id)
    )
    return templates().TemplateResponse(
        request,
        "records/patient_form.html",
        {
            "principal": principal,
            "p": patient,
            "form": _patient_form(patient),
            "errors": {},
            "languages": PATIENT_LANGUAGES,
        },
    )


@pages.post("/patients/{patient_id}/edit", response_class=HTMLResponse)
def patient_update(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    """Save through `update_patient`: a stale version (someone saved first) is a 409 shown
    on the form with the user's input kept, never a 500."""
    principal.require("patient:write")
    patient = schemas.PatientOut.model_validate(
        service.get_patient(session, principal=principal, patient_id=patient_id)
    )
    form = {k: str(v) for k, v in form_data.items()}
    data, errors = parse_form(schemas.PatientUpdate, form)
    status = 422
    if data is not None:
        try:
            service.update_patient(session, principal=principal, patient_id=patient_id, data=data)
            return RedirectResponse(f"/patients/{patient_id}", status_code=303)
        except Conflict as exc:
            session.rollback()
            errors, status = {exc.field or "version": str(exc)}, 409
    return templates().TemplateResponse(
        request,
        "records/patient_form.html",
        {
            "principal": principal,
            "p": patient,
            "form": form,
            "errors": errors,
            "languages": PATIENT_LANGUAGES,
        },
        status_code=status,
    )


# --- research consent ------------------------------------------------------------------


def _research_form(
    request: Request,
    principal: Principal,
    patient: Any,
    form: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return templates().TemplateResponse(
        request,
        "records/consent_research.html",
        {"principal": principal, "p": patient, "form": form, "errors": errors},
        status_code=status,
    )


@pages.get("/patients/{patient_id}/consents/research", response_class=HTMLResponse)
def research_consent_form(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    """The research consent, apart from the needling one: signed now unless changed."""
    principal.require("patient:write")
    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    return _research_form(request, principal, patient, {"signed_at": localtime.form_now()}, {})


@pages.post("/patients/{patient_id}/consents/research", response_class=HTMLResponse)
def research_consent_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    """Record it through `record_consent` (kind research, audited). The clinician ticks that
    the patient agreed: without the tick nothing is recorded."""
    principal.require("patient:write")
    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    form = _form_text(form_data)
    data, errors = parse_form(
        schemas.ConsentIn,
        {
            "kind": service.RESEARCH,
            "signed_by": form.get("signed_by", ""),
            "signer_relation": form.get("signer_relation") or "self",
            "signed_at": localtime.from_form(form.get("signed_at", "")),
        },
    )
    if form.get("agreed") != "on":
        errors["agreed"] = "tick this once the patient has agreed"
    if data is not None and not errors:
        service.record_consent(session, principal=principal, patient_id=patient_id, data=data)
        return RedirectResponse(f"/patients/{patient_id}#research-consent", status_code=303)
    return _research_form(request, principal, patient, form, errors, 422)


# --- consent withdrawal ----------------------------------------------------------------


def _patients_consent(
    session: Session, principal: Principal, patient_id: int, consent_id: int
) -> Consent:
    """The patient's consent by id (another patient's or clinic's is not found here)."""
    consents = service.list_consents(session, principal=principal, patient_id=patient_id)
    found = next((c for c in consents if c.id == consent_id), None)
    if found is None:
        raise NotFound("consent", consent_id)
    return found


@pages.get("/patients/{patient_id}/consents/{consent_id}/withdraw", response_class=HTMLResponse)
def consent_withdraw_confirm(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    consent_id: RecordId,
) -> Response:
    """The confirm step: what is withdrawn and what follows (needling is refused)."""
    principal.require("patient:write")
    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    consent = _patients_consent(session, principal, patient_id, consent_id)
    return templates().TemplateResponse(
        request,
        "records/consent_withdraw.html",
        {
            "principal": principal,
            "p": patient,
            "consent": consent,
            "error": None,
            "research": consent.kind == service.RESEARCH,
        },
    )


@pages.post("/patients/{patient_id}/consents/{consent_id}/withdraw", response_class=HTMLResponse)
def consent_withdraw(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    consent_id: RecordId,
    form_data: PageForm,
) -> Response:
    """Withdraw through `withdraw_consent` (audited); a stale or repeated withdrawal is a 409
    on the confirm page."""
    principal.require("patient:write")
    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    consent = _patients_consent(session, principal, patient_id, consent_id)
    version = _record_id(str(form_data.get("version") or ""))
    error = None if version is not None else "the form is out of date: reload the page"
    if version is not None:
        try:
            service.withdraw_consent(
                session, principal=principal, consent_id=consent_id, version=version
            )
            anchor = "research-consent" if consent.kind == service.RESEARCH else "consent-status"
            return RedirectResponse(f"/patients/{patient_id}#{anchor}", status_code=303)
        except Conflict as exc:
            session.rollback()
            error = str(exc)
            consent = _patients_consent(session, principal, patient_id, consent_id)
    return templates().TemplateResponse(
        request,
        "records/consent_withdraw.html",
        {
            "principal": principal,
            "p": patient,
            "consent": consent,
            "error": error,
            "research": consent.kind == service.RESEARCH,
        },
        status_code=409 if version is not None else 422,
    )


# --- start a visit -----------------------------------------------------------------------


def _refused(errors: dict[str, str]) -> Response:
    """A form's errors as one plain sentence per field, each naming the field by its label."""
    text = "; ".join(labelled(v, field_label(k)) for k, v in errors.items())
    return Response(text, status_code=422, media_type="text/plain")


@pages.post("/patients/{patient_id}/visits/start")
def visit_start(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    """A visit now (through `create_visit`), then its page, where the visit is worked through."""
    raw = str(form_data.get("episode_id") or "")
    data, errors = parse_form(schemas.VisitIn, {"visit_at": utcnow(), "episode_id": raw or None})
    if data is None:
        return _refused(errors)
    visit = service.create_visit(session, principal=principal, patient_id=patient_id, data=data)
    return RedirectResponse(f"/visits/{visit.id}", status_code=303)


# --- episodes and diagnoses ----------------------------------------------------------------


def same_site(next_url: str | None, default: str) -> str:
    """`next` if it is a path on this site (no scheme, host, backslash or control
    character), else `default`: a form may return the user there, nowhere else."""
    if (
        next_url
        and len(next_url) <= 500
        and next_url.startswith("/")
        and not next_url.startswith("//")
        and next_url.isascii()
        and next_url.isprintable()
        and "\\" not in next_url
    ):
        return next_url
    return default


def _diagnosis_extras(patient_id: int) -> dict[str, object]:
    """What the diagnosis partial reads beside its documented context: the codes for the
    search box's list (billable ones only: they are the ones a diagnosis may carry)."""
    return {
        "icd10_options": [c for c in icd10.codes().values() if c.billable],
        "next": f"/patients/{patient_id}#episodes",
    }


def _diagnoses_page(
    request: Request,
    session: Session,
    principal: Principal,
    patient_id: int,
    *,
    next_url: str,
    errors: dict[str, str],
    form: dict[str, str],
    status: int = 200,
) -> Response:
    """The diagnosis partial on a page of its own: the form's errors, or a link target."""
    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    episodes = service.episodes_out(session, principal=principal, patient_id=patient_id)
    code = form.get("code") or form.get("first_code") or ""
    return templates().TemplateResponse(
        request,
        "records/diagnoses.html",
        {
            "principal": principal,
            "patient": patient,
            "episodes": episodes,
            "errors": errors,
            "form": form,
            **_diagnosis_extras(patient_id),
            "next": next_url,
            "suggestions": icd10.suggestions(code) if code and errors else [],
        },
        status_code=status,
    )


def _form_text(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _episode_id(form: dict[str, str]) -> int | None:
    """The form's episode id (a record id: positive, 32-bit), or None."""
    return _record_id(form.get("episode_id", ""))


def _record_id(raw: str) -> int | None:
    """A positive 32-bit id typed as ASCII digits ('²' is a digit to str.isdigit), or None."""
    ok = raw.isascii() and raw.isdigit() and len(raw) <= 10
    return int(raw) if ok and 0 < int(raw) <= 2_147_483_647 else None


@pages.get("/patients/{patient_id}/diagnoses", response_class=HTMLResponse)
def diagnoses_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    principal.require("clinical:read")
    back = same_site(next, f"/patients/{patient_id}#episodes")
    return _diagnoses_page(
        request, session, principal, patient_id, next_url=back, errors={}, form={}
    )


@pages.post("/patients/{patient_id}/diagnoses", response_class=HTMLResponse)
def diagnosis_add(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    """Add a diagnosis through `add_diagnosis`, then back to `next` (the patient page, or the
    visit page that included the form)."""
    principal.require("clinical:write")
    service.get_patient(session, principal=principal, patient_id=patient_id)
    form = _form_text(form_data)
    back = same_site(form.get("next"), f"/patients/{patient_id}#episodes")
    data, errors = parse_form(schemas.DiagnosisIn, {"code": form.get("code", "")})
    episode_id = _episode_id(form)
    if episode_id is None:
        errors["episode_id"] = "choose the episode"
    status = 422
    if data is not None and episode_id is not None:
        try:
            service.add_diagnosis(
                session,
                principal=principal,
                patient_id=patient_id,
                episode_id=episode_id,
                data=data,
            )
            return RedirectResponse(back, status_code=303)
        except (InvalidInput, Conflict) as exc:
            session.rollback()
            errors, status = {exc.field or "code": str(exc)}, exc.status
    return _diagnoses_page(
        request,
        session,
        principal,
        patient_id,
        next_url=back,
        errors=errors,
        form=form,
        status=status,
    )


@pages.post("/patients/{patient_id}/diagnoses/remove", response_class=HTMLResponse)
def diagnosis_remove(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    principal.require("clinical:write")
    service.get_patient(session, principal=principal, patient_id=patient_id)
    form = _form_text(form_data)
    back = same_site(form.get("next"), f"/patients/{patient_id}#episodes")
    episode_id = _episode_id(form)
    if episode_id is None:
        errors = {"episode_id": "choose the episode"}
        return _diagnoses_page(
            request,
            session,
            principal,
            patient_id,
            next_url=back,
            errors=errors,
            form=form,
            status=422,
        )
    try:
        service.remove_diagnosis(
            session,
            principal=principal,
            patient_id=patient_id,
            episode_id=episode_id,
            code=form.get("code", ""),
        )
    except InvalidInput as exc:
        session.rollback()
        return _diagnoses_page(
            request,
            session,
            principal,
            patient_id,
            next_url=back,
            errors={exc.field: str(exc)},
            form=form,
            status=422,
        )
    return RedirectResponse(back, status_code=303)


@pages.post("/patients/{patient_id}/episodes", response_class=HTMLResponse)
def episode_create(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    """Open an episode (complaint, onset, and a first diagnosis if given) via `create_episode`."""
    principal.require("clinical:write")
    service.get_patient(session, principal=principal, patient_id=patient_id)
    form = _form_text(form_data)
    back = same_site(form.get("next"), f"/patients/{patient_id}#episodes")
    first = form.get("first_code", "").strip()
    data, errors = parse_form(
        schemas.EpisodeIn,
        {
            "complaint": form.get("complaint", ""),
            "onset_date": form.get("onset_date", ""),
            "diagnoses": [{"code": first}] if first else [],
        },
    )
    # The first diagnosis is the form's `first_code`, whatever the schema calls it.
    errors = {("first_code" if k.startswith("diagnoses") else k): v for k, v in errors.items()}
    if data is not None:
        service.create_episode(session, principal=principal, patient_id=patient_id, data=data)
        return RedirectResponse(back, status_code=303)
    return _diagnoses_page(
        request, session, principal, patient_id, next_url=back, errors=errors, form=form, status=422
    )
