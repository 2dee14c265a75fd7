"""Security headers on every response, errors and crashes included; caching; HSTS.

- A strict Content-Security-Policy everywhere, the API docs too: pages load only same-origin
  scripts and styles (no inline script), and Swagger UI is served from the swagger-ui-bundle
  package with its start-up script in a static file. Inline SVG presentation attributes need
  no CSP allowance.
- `Cache-Control: no-store` on every response except public reference material that is not
  a page: static assets, the atlas and body-chart data (`/api/atlas…`, `/api/regions`,
  `/bodychart/…`) and the public education handout. Every HTML page is no-store, public ones
  too, because the layout carries the logged-in user's name and CSRF token. Errors,
  redirects, the JSON API, PDFs and FHIR exports are all no-store: a browser or a proxy must
  never keep a copy of patient data.
- `Strict-Transport-Security` when the request came over HTTPS: the ASGI scope's scheme, or
  (with TRIGGERPOINT_TRUST_FORWARDED_PROTO) a TLS-terminating proxy's X-Forwarded-Proto.
- An exception that escapes the app becomes a 500 here, with the same headers and a body that
  says nothing about the code (the traceback goes to the server log: the exception is re-raised
  once the answer is sent).

Written as plain ASGI middleware: Starlette's BaseHTTPMiddleware costs about a millisecond
per request, which charting should not pay.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triggerpoint.config import get_settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_CSP = CSP  # Swagger UI runs from same-origin files: no 'unsafe-inline', no CDN
HSTS = "max-age=31536000; includeSubDomains"
NO_STORE = "no-store"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# Public reference material (no patient data, the same for everyone) that caches may keep,
# unless it is an HTML page. A path matches an entry equal to it or below it ("/x" or "/x/…").
CACHEABLE = (
    "/static",
    "/api/atlas",
    "/api/regions",
    "/bodychart",
    "/education/handout.pdf",
    "/favicon.ico",
)
_ENCODED = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]
_CSP_KEY = b"content-security-policy"


def cacheable(path: str, content_type: str) -> bool:
    """Whether a response may be cached: public reference material, and not an HTML page."""
    if content_type.startswith("text/html"):
        return False
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in CACHEABLE)


def is_https(scope: Scope) -> bool:
    """The request came over HTTPS, directly or (when trusted) through a proxy."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    if not get_settings().trust_forwarded_proto:
        return False
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return value.decode("latin-1").split(",")[0].strip().lower() == "https"
    return False


def _crash_body(path: str) -> tuple[bytes, bytes]:
    if path.startswith("/api/"):
        return b'{"detail":"internal server error"}', b"application/json"
    return b"Internal Server Error: the error was logged.", b"text/plain; charset=utf-8"


class SecurityHeadersMiddleware:
    """Adds the headers above, and `Server-Timing: app;dur=<ms>` (what benchmarks read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        csp = (DOCS_CSP if path.startswith("/api/docs") else CSP).encode()
        hsts = is_https(scope)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in _ENCODED:
                    if name not in present:
                        headers.append((name, csp if name == _CSP_KEY else value))
                content_type = next(
                    (v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), ""
                )
                if not cacheable(path, content_type):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", NO_STORE.encode()))
                if hsts and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                headers.append(
                    (
                        b"server-timing",
                        f"app;dur={(time.perf_counter() - start) * 1000:.3f}".encode(),
                    )
                )
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:  # answer here, so the 500 carries the headers too
                body, content_type = _crash_body(path)
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", content_type),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send_with_headers({"type": "http.response.body", "body": body})
            raise  # for the server's log; the server's own handler sees the answer was sent
