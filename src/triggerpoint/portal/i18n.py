"""The patient's page in the patient's language: Babel catalogues, wording files, negotiation.

Why this module: every sentence a patient reads goes through one of three sources, so adding
a language is adding files, never code:

* `locale/<lang>/LC_MESSAGES/messages.po`: the page's own sentences (gettext, for Jinja2
  `{% trans %}` / `_()` and for Python). The committed `.po` is the source; it is compiled
  in memory when first used (no `.mo` to forget to rebuild). `locale/babel.cfg` tells
  `pybabel extract` where the strings are.
* `data/texts/<instrument>.<lang>.yaml`: instrument wording we wrote ourselves (NPRS), and
  the same shape from the clinic's own directory of licensed wording (setting
  `instrument_texts_dir`), which is read first. Validated questionnaires (NDI, ODI,
  QuickDASH) are copyrighted, so their words are never shipped here.
* `data/texts/regions.<lang>.yaml`: the body chart's regions in plain words ("your right
  temple"), always the patient's own side.

The language of a page: `?lang=`, else the request's language, else the patient's
preferred language, else the browser's `Accept-Language`, else English (`negotiate`).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from triggerpoint.config import get_settings
from triggerpoint.records.languages import PATIENT_LANGUAGES

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
TEXTS_DIR = HERE / "data" / "texts"
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
MAX_ACCEPT_LANGUAGE = 20  # entries of an Accept-Language header we look at


@cache
def languages() -> tuple[str, ...]:
    """The languages with a catalogue, English first: one `messages.po` adds one."""
    found = sorted(
        p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if p.is_file()
    )
    return tuple(sorted(found, key=lambda lang: lang != DEFAULT_LANGUAGE))


def check_languages(found: tuple[str, ...] | None = None) -> None:
    """Refuse to load when the catalogues and the records' list of languages disagree.

    A patient's `preferred_language` is validated against `records.languages` (records may
    not import this module), so a catalogue missing from that list could never be chosen,
    and a listed language without a catalogue would be offered and then fail."""
    have = set(languages() if found is None else found)
    listed = set(PATIENT_LANGUAGES)
    if have != listed:
        raise RuntimeError(
            "portal catalogues and records.languages.PATIENT_LANGUAGES disagree: "
            f"catalogues {sorted(have)}, listed {sorted(listed)}"
        )


def supported(lang: str | None) -> str | None:
    """`lang` as one of ours ("es-MX" -> "es"), or None."""
    if not lang:
        return None
    base = lang.strip().replace("_", "-").split("-")[0].lower()
    return base if base in languages() else None


def from_accept_language(header: str | None) -> str | None:
    """The best of our languages for an `Accept-Language` header (q-values honoured)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > 0 and (lang := supported(tag)):
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def negotiate(
    *,
    asked: str | None = None,
    request_language: str | None = None,
    preferred: str | None = None,
    accept_language: str | None = None,
) -> str:
    """The page's language, by the order the spec fixes (see the module's docstring)."""
    for candidate in (asked, request_language, preferred):
        if lang := supported(candidate):
            return lang
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of `lang`, compiled from its `.po` in memory (English: the msgids)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang not in languages() or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@dataclass(frozen=True, slots=True)
class Translator:
    """gettext bound to one language, for Python code and for the Jinja2 i18n extension."""

    lang: str

    def gettext(self, message: str, **values: Any) -> str:
        text = translations(self.lang).gettext(message)
        return text % values if values else text

    def pgettext(self, context: str, message: str) -> str:
        """A message whose words depend on where it is ("Back": the chart's back view, not
        the button that goes back)."""
        return translations(self.lang).pgettext(context, message)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = translations(self.lang).ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def template_globals(self) -> dict[str, Callable[..., str]]:
        """What a template needs for `{% trans %}` and `_()` (passed per render, so one
        shared Jinja2 environment serves every language at once)."""
        return {"gettext": self.gettext, "ngettext": self.ngettext, "_": self.gettext}


# --- wording files -------------------------------------------------------------------------


def _text_dirs() -> list[Path]:
    """The clinic's licensed wording first (setting `instrument_texts_dir`), then ours."""
    configured = get_settings().instrument_texts_dir
    dirs = [Path(configured)] if configured else []
    return [*dirs, TEXTS_DIR]


@lru_cache(maxsize=128)
def _load_yaml(path: str, mtime: float) -> Mapping[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data if isinstance(data, dict) else {}


def _find(name: str, lang: str) -> Mapping[str, Any] | None:
    for folder in _text_dirs():
        path = folder / f"{name}.{lang}.yaml"
        if path.is_file():
            return _load_yaml(str(path), path.stat().st_mtime)
    return None


def instrument_texts(instrument: str, lang: str) -> Mapping[str, Any] | None:
    """The wording of one instrument in `lang` (title, intro, items), or None when there is
    none: such an instrument cannot be requested in that language."""
    if not instrument.isidentifier() or supported(lang) != lang:
        return None
    return _find(instrument, lang)


def has_wording(instrument: str, lang: str) -> bool:
    """Whether `instrument` can be put to a patient in `lang` (the request's 422 rule)."""
    return instrument_texts(instrument, lang) is not None


@dataclass(frozen=True, slots=True)
class RegionWords:
    """The body chart in plain words, in one language."""

    names: Mapping[str, str]  # region key -> "temple"
    groups: Mapping[str, str]
    views: Mapping[str, str]
    sides: Mapping[str, str]  # side -> "your right {name}"

    def region(self, key: str, side: str, fallback: str) -> str:
        name = self.names.get(key, fallback)
        return self.sides.get(side, "{name}").format(name=name)


def region_words(lang: str) -> RegionWords:
    """Plain region names in `lang`, English where a language has no file yet."""
    data = _find("regions", lang) or _find("regions", DEFAULT_LANGUAGE) or {}
    return RegionWords(
        names=data.get("regions", {}),
        groups=data.get("groups", {}),
        views=data.get("views", {}),
        sides=data.get("sides", {}),
    )


check_languages()  # at import: a mismatch is a packaging error, found before any page runs
