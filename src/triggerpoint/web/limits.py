"""Limits on what a request may carry, and refusals that can always be written back.

* `BodyLimitMiddleware` refuses a request body over the limit with 413 before the app reads
  it: by its Content-Length when one is sent, otherwise by counting the bytes as they stream
  in (the body is then held, at most the limit, and handed to the app whole). The limit is
  `TRIGGERPOINT_MAX_BODY_BYTES` (2 MiB); FHIR import takes whole records and has its own,
  `TRIGGERPOINT_MAX_IMPORT_BODY_BYTES` (20 MiB).
* `InFlightLimitMiddleware` sheds load: beyond `TRIGGERPOINT_MAX_IN_FLIGHT` requests at once in
  this process (64) it answers 503 with `Retry-After: 1` at once, so a burst gets a quick "try
  again" instead of a queue that grows without limit and answers nobody in time. `/healthz`
  is exempt, so a busy process is not taken for a dead one.
* `validation_refusal` renders a 422 as FastAPI does, except that the echoed input is made
  writable first: a refused NaN or an unpaired surrogate is echoed back in the error, and
  JSON (``allow_nan=False``) and UTF-8 cannot write them, which turned the 422 into a 500.

Plain ASGI (see web/security.py for why not BaseHTTPMiddleware). `install(app)` adds them all.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
EXEMPT_FROM_SHEDDING = frozenset({"/healthz"})
FHIR_IMPORT_PATH = "/api/fhir/import"  # interop/router.py: POST /api + /fhir/import
ECHO_DEPTH = 12  # how deep a refused input is echoed back ("..." below)


class LimitSettings(BaseSettings):
    """Read from the environment like `config.Settings` (same prefix and .env)."""

    model_config = SettingsConfigDict(env_prefix="TRIGGERPOINT_", env_file=".env", extra="ignore")
    max_body_bytes: int = Field(default=2 * MiB, ge=1024, description="Largest request body")
    max_import_body_bytes: int = Field(
        default=20 * MiB, ge=1024, description="Largest FHIR import bundle (POST /api/fhir/import)"
    )


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limit: int | None = None, overrides: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        if limit is None or overrides is None:
            settings = LimitSettings()
            limit = settings.max_body_bytes if limit is None else limit
            overrides = (
                {FHIR_IMPORT_PATH: settings.max_import_body_bytes}
                if overrides is None
                else overrides
            )
        self.limit = limit
        self.overrides = dict(overrides)

    def limit_for(self, path: str) -> int:
        return self.overrides.get(path.rstrip("/") or "/", self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        lengths = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if lengths:
            try:
                declared = int(lengths[0])
            except ValueError:
                await _refuse(scope, send, 400, "Content-Length is not a number")
                return
            if declared > limit:
                await _refuse(scope, send, 413, _too_large(limit))
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked, or HTTP/2): count what arrives, up to the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _refuse(scope, send, 413, _too_large(limit))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


class InFlightLimitMiddleware:
    """At most `limit` HTTP requests of this process at once; the next gets 503 right away.

    The count lives in the event loop's thread (ASGI calls run there, handlers' threads do
    not touch it), so a plain integer is exact. A request counts until the app has returned,
    its response body included."""

    def __init__(self, app: ASGIApp, *, limit: int | None = None) -> None:
        from triggerpoint.config import get_settings

        self.app = app
        self.limit = get_settings().max_in_flight if limit is None else limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_FROM_SHEDDING:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _refuse(scope, send, 503, BUSY, headers=[(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


BUSY = "the server is busy with other requests: nothing was done, try again in a second"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _too_large(limit: int) -> str:
    size = f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"
    return f"request body too large: at most {size} is accepted here"


def _accepts_html(scope: Scope) -> bool:
    accept = b" ".join(v for k, v in scope.get("headers", []) if k.lower() == b"accept")
    return b"text/html" in accept.lower()


def _page(status: int, message: str) -> str:
    """A page for a browser, written before the app (and its templates) is reached: the form
    was too big to read, so say so in words and offer the way back."""
    title = {
        413: "The form was too large to send",
        503: "The server is busy",
    }.get(status, "The request was not understood")
    advice = (
        "Nothing was saved. Wait a moment and send it again. "
        if status == 503
        else "Nothing was saved. Go back, shorten what you typed or attach a smaller file, "
        "and send it again. "
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · triggerpoint</title>"
        '<link rel="stylesheet" href="/static/css/app.css"></head><body><main id="main">'
        f"<h1>{title}</h1><p>{html.escape(message[:1].upper() + message[1:])}.</p>"
        f'<p>{advice}<a href="/">Home</a></p></main></body></html>'
    )


async def _refuse(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    if scope["path"].startswith("/api/"):
        body, kind = json.dumps({"detail": message}).encode(), b"application/json"
    elif _accepts_html(scope):
        body, kind = _page(status, message).encode(), b"text/html; charset=utf-8"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def writable(value: Any, depth: int = 0) -> Any:
    """`value` with what JSON and UTF-8 cannot write replaced by its printed form: NaN and
    Infinity become strings, unpaired surrogates backslash escapes; nesting below ECHO_DEPTH
    becomes "...". Everything else is left for jsonable_encoder."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict | list | tuple | set | frozenset) and depth >= ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {writable(k, depth + 1): writable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [writable(v, depth + 1) for v in value]
    return value


async def validation_refusal(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 (same shape), whatever the refused input held."""
    # Twice: before, so jsonable_encoder meets nothing deep; after, for messages it printed.
    detail = writable(jsonable_encoder(writable(exc.errors())))
    return JSONResponse(status_code=422, content={"detail": detail})


def install(app: FastAPI) -> None:
    """Load shedding (503), the body limit on every request (413) and a 422 that can always
    be written. Shedding wraps the body limit, so a refused request's body is never read."""
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(InFlightLimitMiddleware)
    app.add_exception_handler(RequestValidationError, validation_refusal)  # type: ignore[arg-type]  # Starlette types handlers as taking any Exception
