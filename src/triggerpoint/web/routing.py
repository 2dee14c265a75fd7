"""Route matching that skips the routers a path cannot reach (issue 19).

FastAPI keeps each `include_router` as one entry of the app's route list, and matching a
request asks every entry in turn: each asked router walks all of its own routes (with its
bookkeeping around each one) before it can say "no". A request for a late route, such as
`POST /api/needling-sessions/{id}/entries`, was asked of about a dozen routers first, and
that cost as much CPU as the request's own database work.

`skip_unreachable(app)` gives each included router a guard in front of its `matches`: the
guard knows the literal start (the first two path segments) of every route the router holds,
and answers "no match" at once for a path none of them can start with. Otherwise, and for
anything it cannot read (a host route, a path that starts with a parameter), it asks the
router as before. The app's own loop is untouched, so the order of routes, 405s, trailing
slash redirects and 404s stay FastAPI's: a guard only ever says "no" where the router itself
would have said "no". The guard re-reads the router's routes when FastAPI's routes version
of that router changes (a route added after the app was built).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

Key = tuple[str, ...]
GUARD = "_triggerpoint_guard"


def path_key(path: str) -> tuple[Key, bool] | None:
    """The literal start of a route path (at most two segments) and whether the path may go
    on past it (a parameter or more segments); None when it may start anywhere."""
    if not path.startswith("/"):
        return None
    segments = path[1:].split("/")
    literal: list[str] = []
    for segment in segments[:2]:
        if "{" in segment:
            return (tuple(literal), True) if literal else None
        literal.append(segment)
    return tuple(literal), len(segments) > 2


def request_key(scope: Scope) -> list[str]:
    """The request path's first segments: two, and a third holding the rest if any."""
    return get_route_path(scope)[1:].split("/", 2)


@dataclass
class Reach:
    """Which request paths a router may match: exact short paths, and open prefixes."""

    exact: set[Key] = field(default_factory=set)
    prefixes: set[Key] = field(default_factory=set)
    anywhere: bool = False

    def add(self, path: str | None, *, prefix: bool = False) -> None:
        key = None if path is None else path_key(path)
        if key is None:
            self.anywhere = True
            return
        literal, open_ = key
        (self.prefixes if open_ or prefix else self.exact).add(literal)

    def may_match(self, segments: list[str]) -> bool:
        if self.anywhere:
            return True
        if len(segments) <= 2 and tuple(segments) in self.exact:
            return True
        prefixes = self.prefixes
        return (
            () in prefixes
            or tuple(segments[:1]) in prefixes
            or (len(segments) >= 2 and tuple(segments[:2]) in prefixes)
        )


def reach_of(routes: Iterable[Any]) -> Reach:
    """The reach of FastAPI's effective routes (`_IncludedRouter.effective_route_contexts`)."""
    from starlette.routing import Host, Mount

    reach = Reach()
    for context in routes:
        route = getattr(context, "starlette_route", None) or getattr(
            context, "original_route", context
        )
        if isinstance(route, Host):
            reach.anywhere = True
        elif isinstance(route, Mount):
            reach.add(route.path or "/", prefix=True)
        else:
            path = getattr(context, "path_format", None) or getattr(route, "path_format", None)
            reach.add(path if isinstance(path, str) and path else None)
        if reach.anywhere:
            break
    return reach


class Guard:
    """Stands in front of one included router's `matches`."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.matches: Callable[[Scope], tuple[Match, Scope]] = type(router).matches.__get__(router)
        self.version: int | None = None
        self.reach = Reach(anywhere=True)

    def current(self) -> Reach:
        version = self.router.original_router._get_routes_version()
        if version != self.version:
            try:
                self.reach = reach_of(self.router.effective_route_contexts())
            except Exception:  # FastAPI changed its insides: ask the router every time
                self.reach = Reach(anywhere=True)
            self.version = version
        return self.reach

    def __call__(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket") and not self.current().may_match(
            request_key(scope)
        ):
            return Match.NONE, {}
        return self.matches(scope)


def skip_unreachable(app: FastAPI) -> int:
    """Guard every router the app includes (idempotent); how many are guarded."""
    guarded = 0
    for route in app.router.routes:
        if not hasattr(route, "effective_route_contexts") or not hasattr(route, "original_router"):
            continue
        if GUARD not in vars(route):
            guard = Guard(route)
            setattr(route, GUARD, guard)
            route.matches = guard  # type: ignore[method-assign]  # this instance only
        guarded += 1
    return guarded
