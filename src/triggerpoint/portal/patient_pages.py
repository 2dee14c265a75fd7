"""The patient's page: `GET /r/{token}`, `POST /r/{token}/save`, `POST /r/{token}/submit`.

No login: the unguessable token in the link is the only credential (`portal.service` looks
it up by its digest). What the page may show is `PatientView` and nothing else: the clinic's
name, the patient's first name, the questions asked (in wording from `portal.i18n`) and the
saved draft. The page calls no JSON endpoint, so the HTML is everything it receives.

Why each safeguard:

* **Rate limit** per client address (`triggerpoint.ratelimit`'s database counters): every
  request counts against group "portal" (setting `rate_limit_portal`, default 60/minute),
  and an address that opened unknown links too often (group "portal_miss", setting
  `rate_limit_portal_miss`, default 10/minute) is refused for the rest of the window, so
  guessing tokens is slowed before any lookup.
* **CSRF**: there is no ambient credential to ride on (no cookie: the token is in the URL,
  which a forging site would have to know already), and on top the writes are refused when
  the browser says they came from another site (`Origin`, `Sec-Fetch-Site`), like the
  strict CSP's `form-action 'self'` refuses them on the way out.
* **No caching, no leaking the URL**: every response here is HTML or a redirect, so
  `web/security.py` marks it `no-store`; they also say `Referrer-Policy: no-referrer` (the
  token is in the URL) and `X-Robots-Tag: noindex`.
* Refusals (404 unknown link, 410 used / cancelled / expired, 429, 403) are friendly pages in
  the patient's language that carry nothing of the record.

Without JavaScript the page is one long form; `static/js/portal.js` turns it into one
question per screen with progress, Back/Next and the focus on each question's heading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import quoteattr

from babel import Locale
from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import parse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from triggerpoint.accounts.deps import UnitOfWorkRoute, finish
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.bodychart.geometry import load_geometry
from triggerpoint.bodychart.svg import render_view
from triggerpoint.config import get_settings
from triggerpoint.db import open_session
from triggerpoint.errors import InvalidInput, LinkGone, NotFound
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.portal import i18n, service
from triggerpoint.portal.schemas import PatientView, SubmissionIn
from triggerpoint.ratelimit import client_address, limiter, seconds_until

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parent / "templates"
RATE_GROUP = "portal"
MISS_GROUP = "portal_miss"
# Chosen, not sourced (as in docs/design/patient-reports.md): a patient needs a handful of
# requests per visit, a waiting room behind one address a few dozen; a guesser of 256-bit
# tokens needs more than any limit allows, and unknown links are limited harder still.
# On every answer of the link's routes (the security middleware keeps headers already set).
LINK_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}
MAX_FIELDS = 400  # a form with more fields than the page can have is not from the page
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
VIEWS = ("anterior", "posterior")
CROSS_SITE = {"cross-site", "same-site"}  # Sec-Fetch-Site values of a write we refuse


# --- rendering ---------------------------------------------------------------------------


@cache
def _env() -> Environment:
    """One Jinja2 environment for every language: gettext is passed per render."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    return env


def _render(name: str, lang: str, context: Mapping[str, Any], status: int = 200) -> HTMLResponse:
    tr = i18n.Translator(lang)
    html = _env().get_template(name).render({**tr.template_globals(), "lang": lang, **context})
    return HTMLResponse(html, status_code=status, headers=LINK_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=LINK_HEADERS)


def _language_name(code: str) -> str:
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def _switch(token: str, choices: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The language switch: each language as its own speakers name it, linking to the page
    (also from the answer to a POST, whose own path takes no GET)."""
    if len(choices) < 2:
        return []
    return [(c, _language_name(c), f"/r/{token}?{urlencode({'lang': c})}") for c in choices]


def _refused(request: Request, status: int, reason: str, lang: str | None = None) -> HTMLResponse:
    """A friendly refusal in the patient's language, with nothing of the record in it. An
    unknown link also counts as a miss against the address."""
    if reason == "not_found":
        _missed(request)
    lang = lang or i18n.negotiate(
        asked=request.query_params.get("lang"),
        accept_language=request.headers.get("accept-language"),
    )
    _ = i18n.Translator(lang).gettext
    words = {
        "not_found": (
            _("We could not find this page"),
            _(
                "The link may be incomplete. Check that you copied all of it, or ask your "
                "clinic for a new one."
            ),
        ),
        "submitted": (
            _("This link has already been used"),
            _("Your answers were sent to your clinic. Thank you."),
        ),
        "cancelled": (
            _("This link was cancelled"),
            _("Your clinic cancelled this request, so there is nothing to fill in."),
        ),
        "expired": (
            _("This link has expired"),
            _("The time to answer these questions has passed."),
        ),
        "too_many": (_("Too many tries"), _("Please wait a minute, then try again.")),
        "unavailable": (
            _("These questions cannot be shown at the moment"),
            _(
                "The questionnaire your clinic asked for is not available right now. Please "
                "contact your clinic; nothing needs to be filled in until then."
            ),
        ),
        "cross_site": (
            _("This form did not come from this site"),
            _("Nothing was saved. Open your link again and try once more."),
        ),
    }
    heading, message = words.get(reason, words["expired"])
    response = _render(
        "portal/patient/refused.html",
        lang,
        {"heading": heading, "message": message, "clinic_name": None, "switch": []},
        status,
    )
    return response


# --- safeguards ----------------------------------------------------------------------------


def _rate() -> str:
    """Requests per address ("60/minute"): the setting `rate_limit_portal` once it exists."""
    return get_settings().rate_limit_portal


def _miss_rate() -> str:
    """Unknown links per address: the setting `rate_limit_portal_miss` once it exists."""
    return get_settings().rate_limit_portal_miss


def _who(request: Request) -> str:
    return f"address:{client_address(request)}"


def _missed(request: Request) -> None:
    """Count an unknown link against the address (guessing shows as misses)."""
    with open_session(clinic_id=None) as session:
        limiter(session).hit(parse(_miss_rate()), MISS_GROUP, _who(request))
        session.commit()


def _throttled(request: Request) -> HTMLResponse | None:
    """Count this request against the address's limit, and refuse an address that has
    missed too often; a 429 page (with Retry-After) when over either."""
    item, miss = parse(_rate()), parse(_miss_rate())
    who = _who(request)
    with open_session(clinic_id=None) as session:
        strategy = limiter(session)
        wait = None
        if not strategy.test(miss, MISS_GROUP, who):
            wait = seconds_until(strategy.get_window_stats(miss, MISS_GROUP, who).reset_time)
        elif not strategy.hit(item, RATE_GROUP, who):
            wait = seconds_until(strategy.get_window_stats(item, RATE_GROUP, who).reset_time)
        session.commit()
    if wait is None:
        return None
    response = _refused(request, 429, "too_many")
    response.headers["Retry-After"] = str(wait)
    return response


def _origins(request: Request) -> set[str]:
    here = f"{request.url.scheme}://{request.url.netloc}"
    public = urlsplit(get_settings().public_base_url)
    return {here, f"{public.scheme}://{public.netloc}"} if public.netloc else {here}


def _cross_site(request: Request) -> bool:
    """A write another site's page sent (the browser says so); such writes are refused."""
    if request.headers.get("sec-fetch-site", "").lower() in CROSS_SITE:
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != "null" and origin.rstrip("/") not in _origins(request)


# --- the form ------------------------------------------------------------------------------


@dataclass
class Answers:
    """The page's form as it stands: radio values by field name, ticked regions, "no pain"."""

    values: dict[str, str] = field(default_factory=dict)
    regions: list[str] = field(default_factory=list)
    no_pain: bool = False

    def as_draft(self) -> dict[str, Any]:
        return {"values": self.values, "regions": self.regions, "no_pain": self.no_pain}

    @classmethod
    def from_draft(cls, draft: Mapping[str, Any] | None) -> Answers:
        """A saved draft, read defensively (it is JSON the page wrote, but JSON)."""
        if not isinstance(draft, Mapping):
            return cls()
        values = draft.get("values")
        regions = draft.get("regions")
        return cls(
            values={str(k): str(v) for k, v in values.items()}
            if isinstance(values, Mapping)
            else {},
            regions=[str(r) for r in regions] if isinstance(regions, list) else [],
            no_pain=draft.get("no_pain") is True,
        )


async def _read_form(request: Request) -> tuple[Answers, str | None]:
    form = await request.form()
    answers = Answers()
    lang: str | None = None
    for n, (key, value) in enumerate(form.multi_items()):
        if n >= MAX_FIELDS or not isinstance(value, str):
            break
        if key == "lang":
            lang = value
        elif key == "region":
            if value not in answers.regions:
                answers.regions.append(value)
        elif key == "no_pain":
            answers.no_pain = value == "yes"
        elif value != "":
            answers.values[key] = value
    return answers, lang


def _wording(view: PatientView, lang: str) -> dict[str, Mapping[str, Any]]:
    """The wording of each instrument asked that has one in `lang`. One checked when the
    request was made can be gone since (a clinic's licensed file removed or expired): that
    instrument is left out here and named by `_unavailable`, never a 500."""
    out = {}
    for instrument in view.instruments:
        texts = i18n.instrument_texts(instrument, lang)
        if texts is not None:
            out[instrument] = texts
    return out


def _unavailable(view: PatientView, lang: str) -> list[str]:
    """The instruments asked that cannot be shown in `lang` (their wording is gone)."""
    return [i for i in view.instruments if not i18n.has_wording(i, lang)]


def _instrument_name(instrument: str) -> str:
    spec = definitions().get(instrument) or {}
    return str(spec.get("name") or instrument.upper())


def _page_language(request: Request, view: PatientView, asked: str | None) -> tuple[str, tuple]:
    """The page's language and the languages the switch offers: those with wording for the
    most instruments asked (all of them, unless a wording file went missing after the
    request was made); the request's own language when it is one of them."""
    shown = {
        lang: sum(1 for i in view.instruments if i18n.has_wording(i, lang))
        for lang in i18n.languages()
    }
    most = max(shown.values(), default=0)
    choices = tuple(lang for lang, n in shown.items() if n == most)
    lang = i18n.negotiate(
        asked=asked,
        request_language=view.language,
        accept_language=request.headers.get("accept-language"),
    )
    if lang not in choices:
        own = i18n.supported(view.language)
        lang = own if own in choices else (choices[0] if choices else i18n.DEFAULT_LANGUAGE)
    return lang, choices


@dataclass
class Step:
    """One question (or the pain drawing): what the template draws for it."""

    kind: str  # "scale", "choice" or "drawing"
    anchor: str
    heading: str
    name: str = ""
    section: str = ""
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    selected: str | None = None
    required: bool = False
    error: str | None = None
    views: list[dict[str, str]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    no_pain: bool = False

    @property
    def describedby(self) -> str:
        ids = [f"{self.anchor}-hint"] if self.hint else []
        return " ".join([*ids, *([f"{self.anchor}-error"] if self.error else [])])


def _anchor(name: str) -> str:
    return "q-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _question_steps(
    instrument: str, texts: Mapping[str, Any], answers: Answers, lang: str
) -> list[Step]:
    spec = definitions()[instrument]
    lo, hi = spec.get("item_range", [0, 10])
    title = str(texts.get("title") or "")
    items = texts.get("items") or []
    steps = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        key = item.get("key")
        name = f"{instrument}.{key}" if key else f"{instrument}.items.{i}"
        labels = {str(k): str(v) for k, v in (item.get("options") or {}).items()}
        options = [(str(v), labels.get(str(v), str(v))) for v in range(int(lo), int(hi) + 1)]
        anchors = item.get("anchors") or {}
        scale = not labels
        steps.append(
            Step(
                kind="scale" if scale else "choice",
                anchor=_anchor(name),
                heading=str(item.get("text") or name),
                name=name,
                section=title,
                hint=" · ".join(str(v) for v in anchors.values()) if anchors else "",
                options=options,
                selected=answers.values.get(name),
                required=bool(key) and key in (spec.get("required") or []),
            )
        )
    return steps


def _chart(view: str, lang: str) -> str:
    """One view of the body chart for the patient: not focusable (the lists beside it are
    the keyboard's and screen reader's way in), its words in the page's language."""
    _ = i18n.Translator(lang).gettext
    words = i18n.region_words(lang)
    catalog = load_catalog()
    svg = render_view(view, interactive=False)  # type: ignore[arg-type]  # one of VIEWS
    tr = i18n.Translator(lang)
    captions = {
        "anterior": ("Front", tr.pgettext("body chart view", "Front")),
        "posterior": ("Back", tr.pgettext("body chart view", "Back")),
    }
    caption, translated = captions[view]
    # The chart's big letters and words for the patient's sides, as one letter and words.
    right, left = _("R"), _("L")
    your_right, your_left = _("your right"), _("your left")
    swaps = {
        f">{caption}</text>": f">{translated}</text>",
        ">R</text>": f">{right}</text>",
        ">L</text>": f">{left}</text>",
        ">patient's right<": f">{your_right}<",
        ">patient's left<": f">{your_left}<",
    }
    insets = {
        "Right hand (palm)": _("Your right hand (palm)"),
        "Left hand (palm)": _("Your left hand (palm)"),
        "Right hand (back)": _("Your right hand (back)"),
        "Left hand (back)": _("Your left hand (back)"),
        "Right foot (top)": _("Your right foot (top)"),
        "Left foot (top)": _("Your left foot (top)"),
        "Right foot (sole)": _("Your right foot (sole)"),
        "Left foot (sole)": _("Your left foot (sole)"),
    }
    swaps.update({f">{k}<": f">{v}<" for k, v in insets.items()})
    for old, new in swaps.items():
        svg = svg.replace(old, new)

    def name(m: re.Match[str]) -> str:
        r = catalog.regions.get(m.group(1))
        label = words.region(r.key, r.side, r.name) if r else m.group(1)
        return f'data-region="{m.group(1)}" data-name={quoteattr(label)}'

    svg = re.sub(r'data-region="([a-z0-9_]+)" data-name=(?:"[^"]*"|\'[^\']*\')', name, svg)
    svg = re.sub(
        r'role="img" aria-label=(?:"[^"]*"|\'[^\']*\')', 'aria-hidden="true"', svg, count=1
    )
    return re.sub(r"<title>[^<]*</title>", "", svg, count=1)


def _drawing_step(answers: Answers, lang: str) -> Step:
    """The body chart and, under it, the same regions as checkboxes grouped by body part.

    On a phone (360 x 740) the chart is the input: one view at a time (the script's
    front/back switch; both without script or on a wider screen), and the lists are closed
    `<details>`, one per body part, whose summary counts what is ticked in it. That keeps
    the step to about two screens; the lists stay the keyboard's and screen reader's way in.
    """
    tr = i18n.Translator(lang)
    _ = tr.gettext
    words = i18n.region_words(lang)
    catalog = load_catalog()
    geometry = load_geometry()["views"]
    order = {r: i for i, r in enumerate(catalog.regions)}
    drawn = sorted(
        {rid for v in VIEWS for rid in geometry[v]["regions"] if rid in catalog.regions},
        key=lambda rid: order[rid],
    )
    ticked = set(answers.regions)
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in catalog.groups}
    for rid in drawn:
        r = catalog.regions[rid]
        label = words.region(r.key, r.side, r.name)
        groups.setdefault(r.group, []).append({"id": rid, "label": label, "checked": rid in ticked})
    side_notes = {
        "anterior": _("A person facing you: your right side is on the left of the picture (R)."),
        "posterior": _(
            "A person seen from behind: your right side is on the right of the picture (R)."
        ),
    }
    return Step(
        kind="drawing",
        anchor="q-drawing",
        heading=_("Where do you feel pain?"),
        section=_("Pain drawing"),
        views=[
            {
                "view": v,
                "title": words.views.get(v, v),
                "short": tr.pgettext("body chart view", short),
                "side_note": side_notes[v],
                "svg": _chart(v, lang),
            }
            for v, short in zip(VIEWS, ("Front", "Back"), strict=True)
        ],
        groups=[
            {
                "title": words.groups.get(g, g),
                "regions": rs,
                "count": sum(1 for r in rs if r["checked"]),
            }
            for g, rs in groups.items()
            if rs
        ],
        no_pain=answers.no_pain,
    )


def _steps(view: PatientView, answers: Answers, lang: str) -> list[Step]:
    wording = _wording(view, lang)
    steps = [
        s
        for i in view.instruments
        if i in wording
        for s in _question_steps(i, wording[i], answers, lang)
    ]
    if view.pain_drawing:
        steps.append(_drawing_step(answers, lang))
    return steps


def _validate(
    view: PatientView, answers: Answers, steps: list[Step], lang: str
) -> tuple[SubmissionIn | None, dict[str, str]]:
    """The answers as a submission, or the patient's-words error of each field. The limits
    are the instruments' own (`instruments.yaml`: range, required items, how many may be
    left blank); the service checks them again with the clinician's rules before storing."""
    _ = i18n.Translator(lang).gettext
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {}
    by_instrument: dict[str, list[Step]] = {}
    for s in steps:
        if s.kind != "drawing":
            by_instrument.setdefault(s.name.split(".", 1)[0], []).append(s)
    for instrument, qs in by_instrument.items():
        spec = definitions()[instrument]
        allowed = {v for v, _label in qs[0].options} if qs else set()
        data: dict[str, Any] = {}
        items: list[int | None] = []
        for s in qs:
            raw = answers.values.get(s.name)
            value = int(raw) if raw is not None and raw in allowed else None
            if raw is not None and value is None:
                errors[s.name] = _("Please choose one of the answers shown.")
            if s.name.startswith(f"{instrument}.items."):
                items.append(value)
            else:
                if value is None and s.required and s.name not in errors:
                    errors[s.name] = _("Please choose an answer.")
                if value is not None:
                    data[s.name.split(".", 1)[1]] = value
        if items:
            blank = [s.name for s, v in zip(qs, items, strict=True) if v is None]
            most = int(spec.get("max_missing", 0))
            if len(blank) > most:
                for name in blank:
                    errors.setdefault(
                        name,
                        _(
                            "Please answer this question (at most %(n)s of these questions "
                            "may be left blank).",
                            n=most,
                        ),
                    )
            data["items"] = items
        payload[instrument] = data
    drawing = None
    if view.pain_drawing:
        known = load_catalog().regions
        marks = [r for r in answers.regions if r in known]
        if answers.no_pain and marks:
            errors["drawing"] = _(
                "You ticked places that hurt and also “no pain anywhere”: please choose one."
            )
        elif not answers.no_pain and not marks:
            errors["drawing"] = _("Tick where it hurts, or tick “I have no pain anywhere today”.")
        drawing = {"complete": True, "marks": marks}
    if errors:
        return None, errors
    try:
        return SubmissionIn.model_validate({"answers": payload, "drawing": drawing}), {}
    except ValidationError:
        return None, {
            "drawing" if view.pain_drawing else steps[0].name: _("Please check this answer.")
        }


def _service_error(exc: InvalidInput, steps: list[Step], lang: str) -> dict[str, str]:
    """A refusal of the service, placed on the question it names (`answers.ndi.items.3`)."""
    _ = i18n.Translator(lang).gettext
    parts = exc.field.split(".")
    if parts[0] == "drawing":
        return {"drawing": _("Please check the places you ticked.")}
    name = ".".join(parts[1:]) if parts[0] == "answers" else exc.field
    for s in steps:
        if s.name == name or (s.name.startswith(name + ".") and s.kind != "drawing"):
            return {s.name: _("Please check this answer.")}
    return {steps[0].name if steps else "drawing": _("Please check your answers.")}


def _page(
    request: Request,
    token: str,
    view: PatientView,
    lang: str,
    choices: tuple[str, ...],
    answers: Answers,
    *,
    errors: Mapping[str, str] | None = None,
    saved: bool = False,
    blocked: bool = False,
    status: int = 200,
) -> HTMLResponse:
    steps = _steps(view, answers, lang)
    missing = _unavailable(view, lang)
    if not steps:  # nothing at all can be shown: say so, kindly, rather than an empty form
        return _refused(request, 503, "unavailable", lang)
    errors = errors or {}
    summary: list[dict[str, Any]] = []
    for s in steps:
        key = "drawing" if s.kind == "drawing" else s.name
        if key in errors:
            s.error = errors[key]
            same = next((e for e in summary if e["message"] == s.error), None)
            if same is not None:  # one line for many questions with the same problem
                same["more"] += 1
            else:
                summary.append(
                    {"anchor": s.anchor, "heading": s.heading, "message": s.error, "more": 0}
                )
    expires = format_date(view.expires_at, format="long", locale=lang)
    return _render(
        "portal/patient/page.html",
        lang,
        {
            "token": token,
            "clinic_name": view.clinic_name,
            "first_name": view.first_name,
            "expires": expires,
            "steps": steps,
            "errors": summary,
            "saved": saved,
            "blocked": blocked,
            "unavailable": [_instrument_name(i) for i in missing],
            "switch": _switch(token, choices),
        },
        status,
    )


def _opened(token: str) -> tuple[Session, PatientView] | tuple[None, str]:
    """Open the link (audited): the session to commit and the view, or why it is refused."""
    session = open_session(clinic_id=None)
    try:
        view = service.open_request(session, token=token)
    except NotFound:
        session.rollback()
        session.close()
        return None, "not_found"
    except LinkGone as exc:
        session.rollback()
        session.close()
        return None, f"{exc.reason}:{exc.language}"
    return session, view


def _refusal(request: Request, why: str) -> HTMLResponse:
    if why == "not_found":
        return _refused(request, 404, "not_found")
    reason, _sep, lang = why.partition(":")
    asked = i18n.supported(request.query_params.get("lang"))
    return _refused(request, 410, reason, asked or i18n.supported(lang))


# --- routes --------------------------------------------------------------------------------


@pages.get("/r/{token}", response_class=HTMLResponse)
def patient_page(request: Request, token: str) -> Response:
    """The questions, the body chart and the saved draft; every open is audited."""
    if refused := _throttled(request):
        return refused
    if not re.match(TOKEN_PATTERN, token):
        return _refused(request, 404, "not_found")
    session, view = _opened(token)
    if session is None:
        return _refusal(request, str(view))
    assert isinstance(view, PatientView)
    try:
        finish(session, None)
    finally:
        session.close()
    lang, choices = _page_language(request, view, request.query_params.get("lang"))
    saved = request.query_params.get("saved") == "1"
    return _page(request, token, view, lang, choices, Answers.from_draft(view.draft), saved=saved)


@pages.post("/r/{token}/save", response_class=HTMLResponse)
async def save_answers(request: Request, token: str) -> Response:
    """Keep the half-filled form as the request's draft; shown again when the link reopens."""
    answers, lang = await _read_form(request)
    return await run_in_threadpool(_save_sync, request, token, answers, lang)


@pages.post("/r/{token}/submit", response_class=HTMLResponse)
async def submit_answers(request: Request, token: str) -> Response:
    """Send the answers: stored as patient-reported measurements and drawing, once; a field
    that is not right comes back beside its question with the other answers kept."""
    answers, asked = await _read_form(request)
    return await run_in_threadpool(_submit_sync, request, token, answers, asked)


def _refused_write(request: Request, token: str) -> HTMLResponse | None:
    """What refuses a write before its token is looked up: the limit, another site, a
    malformed token."""
    if refused := _throttled(request):
        return refused
    if _cross_site(request):
        return _refused(request, 403, "cross_site")
    if not re.match(TOKEN_PATTERN, token):
        return _refused(request, 404, "not_found")
    return None


def _save_sync(request: Request, token: str, answers: Answers, lang: str | None) -> Response:
    if refused := _refused_write(request, token):
        return refused
    session = open_session(clinic_id=None)
    try:
        service.save_draft(session, token=token, draft=answers.as_draft())
        finish(session, None)
    except NotFound:
        session.rollback()
        return _refused(request, 404, "not_found")
    except LinkGone as exc:
        session.rollback()
        return _refused(request, 410, exc.reason, i18n.supported(lang) or exc.language)
    finally:
        session.close()
    query = urlencode({"lang": i18n.supported(lang) or "", "saved": "1"})
    return _redirect(f"/r/{token}?{query}")


def _submit_sync(request: Request, token: str, answers: Answers, asked: str | None) -> Response:
    if refused := _refused_write(request, token):
        return refused
    # Read what the page shows in a session of its own (rolled back: the submission is not
    # an open of the page), then submit in a fresh one, which the service confines itself.
    session = open_session(clinic_id=None)
    try:
        row = service.request_for_token(session, token=token)
        view = service.patient_view(session, row)  # what open_request shows, without an open
    except NotFound:
        return _refused(request, 404, "not_found")
    except LinkGone as exc:
        return _refused(request, 410, exc.reason, i18n.supported(asked) or exc.language)
    finally:
        session.rollback()
        session.close()
    lang, choices = _page_language(request, view, asked)
    steps = _steps(view, answers, lang)
    if not steps:
        return _refused(request, 503, "unavailable", lang)
    data, errors = _validate(view, answers, steps, lang)
    if data is None:
        return _page(request, token, view, lang, choices, answers, errors=errors, status=422)
    missing = _unavailable(view, lang)
    session = open_session(clinic_id=None)
    try:
        service.submit_request(session, token=token, data=data)
        finish(session, None)
    except InvalidInput as exc:
        session.rollback()
        if tuple(exc.field.split(".")[:2]) in {("answers", m) for m in missing}:
            return _kept_not_sent(request, token, view, lang, choices, answers)
        errors = _service_error(exc, steps, lang)
        return _page(request, token, view, lang, choices, answers, errors=errors, status=422)
    except NotFound:
        session.rollback()
        return _refused(request, 404, "not_found")
    except LinkGone as exc:
        session.rollback()
        return _refused(request, 410, exc.reason, lang)
    finally:
        session.close()
    return _render(
        "portal/patient/done.html",
        lang,
        {"clinic_name": view.clinic_name, "first_name": view.first_name, "switch": []},
    )


def _kept_not_sent(
    request: Request,
    token: str,
    view: PatientView,
    lang: str,
    choices: tuple[str, ...],
    answers: Answers,
) -> Response:
    """Answers that cannot be sent while a questionnaire asked is missing (the service
    takes a request's submission whole): kept as the draft, and the page says so (409)."""
    session = open_session(clinic_id=None)
    try:
        service.save_draft(session, token=token, draft=answers.as_draft())
        finish(session, None)
    except NotFound:
        session.rollback()
        return _refused(request, 404, "not_found")
    except LinkGone as exc:
        session.rollback()
        return _refused(request, 410, exc.reason, lang)
    finally:
        session.close()
    return _page(request, token, view, lang, choices, answers, blocked=True, status=409)


@pages.get("/r/{token}/save", response_class=HTMLResponse)
@pages.get("/r/{token}/submit", response_class=HTMLResponse)
def back_to_the_page(request: Request, token: str) -> Response:
    """The address of a sent form, opened again (a bookmark, history): back to the page,
    rather than the clinicians' "not available this way"."""
    if refused := _throttled(request):
        return refused
    if not re.match(TOKEN_PATTERN, token):
        return _refused(request, 404, "not_found")
    lang = i18n.supported(request.query_params.get("lang"))
    query = f"?{urlencode({'lang': lang})}" if lang else ""
    return _redirect(f"/r/{token}{query}")
