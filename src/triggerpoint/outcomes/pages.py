"""Pages: record an outcome measure in the browser, and the patient's outcomes at a glance.

The form for each instrument is built from `instruments.yaml`; scoring and range checks are
the service's, so a rejected item comes back beside its own field with the user's input kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from triggerpoint.accounts.deps import PageForm, PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.errors import InvalidInput
from triggerpoint.outcomes import schemas, service
from triggerpoint.outcomes.forms import ORDER, instrument_forms, parse_measurement_form
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.records import service as records
from triggerpoint.records.schemas import RecordId
from triggerpoint.reports import service as reports
from triggerpoint.ui import localtime
from triggerpoint.ui.forms import field_errors
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Instrument = Annotated[str, Query(pattern="^(" + "|".join(ORDER) + ")$")]


def _sites() -> list[str]:
    from triggerpoint.atlas.loader import load_atlas

    return sorted(f"{tp.muscle.name} {tp.tp_id} ({tp.side})" for tp in load_atlas().trigger_points)


def _form_context(
    session: Any,
    principal: Any,
    patient_id: int,
    instrument: str,
    form: dict[str, Any],
    errors: dict[str, str],
) -> dict[str, Any]:
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    visits = records.list_visits(session, principal=principal, patient_id=patient_id)
    forms = {f["key"]: f for f in instrument_forms()}
    return {
        "p": patient,
        "instrument": instrument,
        "spec": forms[instrument],
        "instruments": [(k, definitions()[k]["name"]) for k in ORDER],
        "visits": records.numbered_newest_first(visits),
        "sites": _sites() if instrument == "ppt" else [],
        "form": form,
        "errors": errors,
    }


def _validate(raw: dict[str, Any]) -> tuple[schemas.MeasurementIn | None, dict[str, str]]:
    """Like `parse_form`, but empty context and timing are meaningful values here."""
    try:
        return schemas.MeasurementIn.model_validate(raw), {}
    except ValidationError as exc:
        return None, field_errors(exc)


@pages.get("/patients/{patient_id}/outcomes/record", response_class=HTMLResponse)
def record_form(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    instrument: Instrument = "nprs",
    visit: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    principal.require("patient:write")
    form = {
        "measured_at": localtime.form_now(),
        "visit_id": str(visit or ""),
    }
    ctx = _form_context(session, principal, patient_id, instrument, form, {})
    return templates().TemplateResponse(request, "outcomes/record.html", ctx)


@pages.post("/patients/{patient_id}/outcomes/record", response_class=HTMLResponse)
def record_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form_data: PageForm,
) -> Response:
    form = {k: str(v) for k, v in form_data.items() if k != "csrf_token"}
    instrument = form.get("instrument", "")
    if instrument not in ORDER:
        instrument, errors = "nprs", {"instrument": "choose an instrument"}
    else:
        raw, errors = parse_measurement_form(instrument, form)
        data, schema_errors = _validate(raw)
        errors = {**{k.removeprefix("data."): v for k, v in schema_errors.items()}, **errors}
        if data is not None and not errors:
            try:
                service.record_measurement(
                    session, principal=principal, patient_id=patient_id, data=data
                )
                # Roles without clinical:read may enter a measure but not read the outcomes.
                back = "/outcomes" if principal.can("clinical:read") else ""
                return RedirectResponse(f"/patients/{patient_id}{back}", status_code=303)
            except InvalidInput as exc:
                session.rollback()
                errors = {exc.field.removeprefix("data."): str(exc)}
    ctx = _form_context(session, principal, patient_id, instrument, form, errors)
    session.commit()  # the refused form is answered 422, but its reads stay audited
    return templates().TemplateResponse(request, "outcomes/record.html", ctx, status_code=422)


@pages.get("/patients/{patient_id}/outcomes", response_class=HTMLResponse)
def outcomes_page(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    principal.require("clinical:read")  # scores and pain drawings (docs/security.md, Roles)
    ctx = reports.patient_outcomes(session, principal=principal, patient_id=patient_id)
    return templates().TemplateResponse(request, "outcomes/outcomes.html", ctx)
