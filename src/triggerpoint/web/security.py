"""Security headers on every response, including a strict Content-Security-Policy.

Pages load only same-origin scripts and styles (no inline script), so a CSP without
'unsafe-inline' for scripts holds. Inline SVG presentation attributes need no CSP allowance.
Written as plain ASGI middleware: Starlette's BaseHTTPMiddleware costs about a millisecond
per request, which charting should not pay.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_CSP = CSP.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline' cdn.jsdelivr.net"
).replace("style-src 'self'", "style-src 'self' 'unsafe-inline' cdn.jsdelivr.net")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Adds the headers above, and `Server-Timing: app;dur=<ms>` (what benchmarks read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        csp = DOCS_CSP if scope["path"].startswith("/api/docs") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append(
                            (
                                name.lower().encode(),
                                (csp if name == "Content-Security-Policy" else value).encode(),
                            )
                        )
                headers.append(
                    (
                        b"server-timing",
                        f"app;dur={(time.perf_counter() - start) * 1000:.3f}".encode(),
                    )
                )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
