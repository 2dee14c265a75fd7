"""Research exports as background jobs: JSON `POST/GET /api/research/exports`, one job's
status and progress, its zip (`/download`), and the page `/research/exports`.

Thin: the service checks who may and records the audit; the export itself is enqueued for
the worker once the job row is committed (`enqueue_after_commit`), never run in a request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import event
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    PageForm,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.accounts.service import Principal
from triggerpoint.config import get_settings
from triggerpoint.errors import InvalidInput
from triggerpoint.research.exports import service
from triggerpoint.research.exports.models import FORMAT_LABELS, ResearchExportJob
from triggerpoint.research.exports.schemas import ExportJobIn, ExportJobOut, ExportProgress
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/research", tags=["research"])
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The export job's id")]


def _out(j: ResearchExportJob) -> ExportJobOut:
    return ExportJobOut(
        id=j.id,
        format=j.format,
        status=j.status,  # type: ignore[arg-type]  # a str column holding one of STATUSES
        progress=ExportProgress(
            parts_done=j.parts_done,
            parts_total=j.parts_total,
            rows_done=j.rows_done,
            fraction=round(j.fraction, 4),
        ),
        error=j.error,
        requested_by_id=j.requested_by_id,
        created_at=j.created_at,
        started_at=j.started_at,
        finished_at=j.finished_at,
        result_size=j.result_size,
        result_sha256=j.result_sha256,
        download=f"/api/research/exports/{j.id}/download" if j.status == "done" else None,
        attempts=j.attempts,
        max_attempts=get_settings().export_max_attempts,
        lease_expires_at=j.lease_expires_at if j.status == "running" else None,
        bundle_expires_at=service.bundle_expires_at(j),
        expired_at=j.expired_at,
    )


def enqueue_after_commit(session: Session, job_id: int) -> None:
    """Enqueue the job once its row is committed (a task enqueued earlier could run before
    the row exists, or for a job that was rolled back)."""

    def enqueue(_session: Session) -> None:
        from triggerpoint.research.exports import jobs  # the queue opens only where used

        jobs.enqueue(job_id)

    event.listen(session, "after_commit", enqueue, once=True)


def enqueue_now(job_id: int) -> None:
    """Enqueue a job that a read queued again (the recovery committed its row already)."""
    from triggerpoint.research.exports import jobs  # the queue opens only where used

    jobs.enqueue(job_id)


@api.post(
    "/exports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Request a de-identified export (redcap, odm, parquet) as a background job",
)
@api_handler
def request_export(principal: ApiPrincipal, session: ApiSession, data: ExportJobIn) -> ExportJobOut:
    job = service.request_export(session, principal=principal, fmt=data.format)
    enqueue_after_commit(session, job.id)
    return _out(job)


@api.get("/exports", summary="This clinic's export jobs, newest first")
@api_handler
def list_exports(principal: ApiPrincipal, session: ApiSession) -> list[ExportJobOut]:
    return [_out(j) for j in service.export_jobs(session, principal=principal, enqueue=enqueue_now)]


@api.get("/exports/{job_id}", summary="One export job: status and progress")
@api_handler
def get_export(principal: ApiPrincipal, session: ApiSession, job_id: JobId) -> ExportJobOut:
    return _out(
        service.export_job(session, principal=principal, job_id=job_id, enqueue=enqueue_now)
    )


@api.get(
    "/exports/{job_id}/download",
    summary="The finished job's zip bundle (409 while it is not done, 410 once expired)",
    response_class=FileResponse,
)
@api_handler
def download_export(principal: ApiPrincipal, session: ApiSession, job_id: JobId) -> FileResponse:
    path = service.export_download(session, principal=principal, job_id=job_id, enqueue=enqueue_now)
    return FileResponse(path, media_type="application/zip", filename=path.name, headers=NO_STORE)


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    jobs = [_out(j) for j in service.export_jobs(session, principal=principal, enqueue=enqueue_now)]
    ctx = {
        "jobs": jobs,
        "formats": FORMAT_LABELS,
        "busy": any(j.status in ("queued", "running") for j in jobs),  # refresh while so
        "error": error,
    }
    return templates().TemplateResponse(
        request, "research/exports.html", ctx, status_code=status_code, headers=NO_STORE
    )


@pages.get("/research/exports", response_class=HTMLResponse)
def exports_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The clinic's export jobs with their progress (the page refreshes while any runs)."""
    return _page(request, session, principal)


@pages.post("/research/exports", response_class=HTMLResponse)
def request_export_page(
    request: Request, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    try:
        job = service.request_export(session, principal=principal, fmt=str(form.get("format", "")))
    except InvalidInput as exc:
        return _page(request, session, principal, error=exc.message, status_code=422)
    enqueue_after_commit(session, job.id)
    return RedirectResponse("/research/exports", status_code=303)


@pages.get("/research/exports/{job_id}/download")
def download_export_page(principal: PagePrincipal, session: PageSession, job_id: JobId) -> Response:
    """The zip, for the page's link (cookie session)."""
    path = service.export_download(session, principal=principal, job_id=job_id, enqueue=enqueue_now)
    return FileResponse(path, media_type="application/zip", filename=path.name, headers=NO_STORE)
