"""Errors as clients read them: one JSON shape for programs, one page for people.

JSON: `FieldError` gives FastAPI's own 422 body,
`{"detail": [{"loc": ["query", "region"], "msg": "...", "type": "...", "suggestions": [...]}]}`,
so clients handle our domain errors and pydantic's validation errors the same way.

Pages: a browser that opens a page route and meets an error gets `error.html` in the base
layout (what went wrong in words, and links back), never a JSON body. Two choices decide:
`wants_json`: every path under /api, and any request that asks for JSON rather than HTML,
keeps JSON (a service's refusal on a page route is otherwise always a page, as it always
was); `wants_page`: the framework's own errors on a page route (unknown page, wrong method,
a path or query it cannot read, CSRF, rate limits) are a page for a client that accepts HTML
and stay the JSON they were for any other. A page whose path names something that is not
there (`/patients/abc`, `/atlas/muscles/x`) is a 404 "No such patient", not a 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException as FastAPIHTTPException
from fastapi import Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from triggerpoint.ui.forms import FieldFacts, human_message, label_for, sentence
from triggerpoint.ui.templating import templates

API_PREFIX = "/api"
NO_STORE = "no-store"
SHOWN_CHARS = 80  # how much of a refused value a page repeats
TITLES = {
    400: "Something in the request was not right",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not available this way",
    409: "Not saved",
    413: "Too much to send at once",
    422: "Please check what was entered",
    429: "Too many requests",
}
# What a path parameter names, for "No such patient" (else its name without `_id`).
NOUNS = {"name": "muscle", "username": "user", "action": "action on this page"}
# Where "back" leads from each part of the app (the first path segment).
SECTIONS = {
    "patients": ("/patients", "Patients"),
    "visits": ("/patients", "Patients"),
    "atlas": ("/atlas", "Atlas"),
    "suggest": ("/suggest", "Suggest"),
    "dashboard": ("/dashboard", "Dashboard"),
    "education": ("/education", "Education"),
    "admin": ("/admin/users", "Users"),
    "account": ("/account/password", "Your account"),
}
CSRF_REFUSED = (
    "This form had expired or did not come from this site, so nothing was saved. "
    "Reload the page and try again."
)


class FieldError(FastAPIHTTPException):
    def __init__(
        self,
        loc: tuple[str, ...],
        msg: str,
        *,
        type_: str = "value_error",
        suggestions: list[str] | None = None,
        status_code: int = 422,
    ) -> None:
        item: dict[str, object] = {"loc": list(loc), "msg": msg, "type": type_}
        if suggestions is not None:
            item["suggestions"] = suggestions
        super().__init__(status_code=status_code, detail=[item])


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str


def wants_json(request: Request) -> bool:
    """JSON for the API and for a client that asks for JSON and not for a page; else HTML."""
    path = request.url.path
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return True
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


def wants_page(request: Request) -> bool:
    """A browser opening a page route (it accepts HTML): it gets the error page. A program
    that sends no Accept, or */*, keeps the JSON a framework error always gave it."""
    return not wants_json(request) and "text/html" in request.headers.get("accept", "").lower()


def shown(value: object) -> str:
    """A refused value as a page may repeat it: printable, UTF-8-safe and short."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(c if c.isprintable() else " " for c in text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def noun(param: str) -> str:
    """`patient_id` -> 'patient', `muscle_id` -> 'muscle': what a path parameter names."""
    return NOUNS.get(param) or param.removesuffix("_id").replace("_", " ")


def way_back(request: Request) -> list[Link]:
    """Links out of an error: where the user came from (same site), the section, home."""
    links: list[Link] = []
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.path.startswith("/") and referer.netloc == request.url.netloc:
        here = referer.path + (f"?{referer.query}" if referer.query else "")
        if referer.path != request.url.path:
            links.append(Link(here, "Back to the page you came from"))
    first = request.url.path.strip("/").split("/", 1)[0]
    if first in SECTIONS:
        href, text = SECTIONS[first]
        links.append(Link(href, f"Back to {text}"))
    links.append(Link("/", "Home"))
    return links


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    title: str | None = None,
    details: Sequence[str] = (),
    suggestions: Iterable[Link] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`error.html` with the status, never stored by a browser or a proxy."""
    ctx: dict[str, Any] = {
        "code": status,
        "heading": title or TITLES.get(status, "Something went wrong"),
        "message": _as_sentence(message),
        "details": list(details),
        "suggestions": list(suggestions),
        "links": way_back(request),
    }
    response = templates().TemplateResponse(request, "error.html", ctx, status_code=status)
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = NO_STORE
    return response


def _as_sentence(text: str) -> str:
    """The message as a sentence: ended with a full stop. Its words are kept as the service
    wrote them (clients and tests quote them); the page's style capitalises the first."""
    text = (shown(text) if len(text) > 500 else text).strip()
    if not text:
        return ""
    return text if text.endswith((".", "?", "!", "…")) else text + "."


def _loc(err: Mapping[str, Any]) -> list[Any]:
    return list(err.get("loc") or ())


def _value(request: Request, err: Mapping[str, Any]) -> object:
    loc = _loc(err)
    if "input" in err:
        return err["input"]
    return request.path_params.get(str(loc[1])) if len(loc) > 1 else ""


def _suggested(request: Request, err: Mapping[str, Any]) -> list[Link]:
    """Nearest names as links to the same kind of page (`/atlas/muscles/<name>`)."""
    base = request.url.path.rsplit("/", 1)[0]
    return [Link(f"{base}/{quote(str(s))}", str(s)) for s in err.get("suggestions") or []]


def not_found_in_path(request: Request, errors: Sequence[Mapping[str, Any]]) -> Response:
    """The path names something that is not there: 404 'No such <thing>'."""
    err = errors[0]
    loc = _loc(err)
    thing = noun(str(loc[1])) if len(loc) > 1 else "page"
    value = shown(_value(request, err))
    where = " in the atlas" if thing == "muscle" else ""
    return error_page(
        request,
        404,
        f"There is no {thing} “{value}”{where}.",
        title=f"No such {thing}",
        suggestions=_suggested(request, err),
    )


def validation_page(request: Request, errors: Sequence[Mapping[str, Any]]) -> Response:
    """A request a page cannot serve: a 404 when its path names nothing, else a 422 that
    says, field by field, what to change."""
    if errors and all(_loc(e)[:1] == ["path"] for e in errors):
        return not_found_in_path(request, errors)
    details = [
        human_message(e, FieldFacts(label_for(list(e.get("loc") or ())[1:]))) for e in errors
    ]
    return error_page(request, 422, "The request could not be used as it was.", details=details)


def invalid_input_page(request: Request, field: str | None, message: str) -> Response:
    """A service refused a value the page did not catch: 422 naming the field."""
    label = label_for(field.split(".")) if field else None
    return error_page(request, 422, sentence(label, message) if label else message)


def http_error_page(request: Request, exc: HTTPException) -> Response:
    """An HTTPException (an unknown page, a refused method, a CSRF refusal, a rate limit)."""
    detail = exc.detail
    if isinstance(detail, list) and detail and all(isinstance(d, Mapping) for d in detail):
        return validation_page(request, detail)
    text = str(detail)
    if exc.status_code == 404:
        text = f"There is no page at {shown(request.url.path)}."
    elif exc.status_code == 405:
        text = f"{shown(request.url.path)} cannot be opened with {request.method}."
    elif exc.status_code == 403 and text.startswith("CSRF"):
        text = CSRF_REFUSED
    return error_page(request, exc.status_code, text, headers=exc.headers)
