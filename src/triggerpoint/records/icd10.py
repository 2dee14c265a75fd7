"""The ICD-10-CM codes a diagnosis may carry: data/icd10cm.yaml, checked when it loads.

Knowledge, not records: this module reads its data file and imports nothing of the app but
`errors` and `inputs`. The one home of "is this a code we record" (`code_problem`, read by
`schemas.DiagnosisIn`, so the API, the pages and FHIR import refuse the same codes in the
same words) and of the code search (`search_icd10`, behind `GET /api/icd10cm` and the
diagnosis form's suggestions).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from triggerpoint.errors import InvalidInput, KnowledgeError
from triggerpoint.inputs import input_problem

# A code as the tabular list prints it: category (letter, digit, digit or A/B), then up to
# four characters after the dot. U is reserved by the CDC for special purposes.
ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")
MAX_QUERY = 100
MAX_SUGGESTIONS = 5
FIELDS = {"code", "display", "billable"}
OPTIONAL = {"terms"}  # the tabular list's inclusion terms, searched with the title


@dataclass(frozen=True)
class Icd10Code:
    code: str
    display: str  # the tabular list's title
    billable: bool  # False: a category or subcategory header, not valid on a claim
    terms: tuple[str, ...] = ()  # inclusion terms ("Myofascial pain syndrome" under M79.1)


def _fold(text: str) -> str:
    """Lower case without accents, for matching what people type."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _compact(code: str) -> str:
    """'m79.1' -> 'M791': codes compared as typed, with or without the dot."""
    return code.replace(".", "").upper()


def parse(text: str) -> dict[str, Icd10Code]:
    """The codes of a YAML text, in file order, or KnowledgeError saying which entry is wrong."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
        raise KnowledgeError("icd10cm.yaml: expected a mapping with a list `codes`")
    out: dict[str, Icd10Code] = {}
    for i, entry in enumerate(data["codes"]):
        where = f"icd10cm.yaml codes[{i}]"
        if not isinstance(entry, dict) or not FIELDS <= set(entry) <= FIELDS | OPTIONAL:
            raise KnowledgeError(f"{where}: needs {sorted(FIELDS)} (and may have terms)")
        code, display, billable = entry["code"], entry["display"], entry["billable"]
        terms = entry.get("terms", [])
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise KnowledgeError(f"{where}: {code} terms must be a list of words")
        if not isinstance(code, str) or not ICD10CM.match(code):
            raise KnowledgeError(f"{where}: {code!r} is not an ICD-10-CM code")
        if not isinstance(display, str) or not display.strip():
            raise KnowledgeError(f"{where}: {code} needs its title")
        if not isinstance(billable, bool):
            raise KnowledgeError(f"{where}: {code} billable must be true or false")
        if code in out:
            raise KnowledgeError(f"{where}: {code} is listed twice")
        out[code] = Icd10Code(code, display.strip(), billable, tuple(terms))
    for c in out.values():
        below = [o for o in out.values() if o.code != c.code and o.code.startswith(c.code)]
        if c.billable and below:
            raise KnowledgeError(f"icd10cm.yaml: {c.code} is billable but has codes below it")
        if not c.billable and not any(o.billable for o in below):
            raise KnowledgeError(f"icd10cm.yaml: header {c.code} has no billable code below it")
    return out


@cache
def codes() -> dict[str, Icd10Code]:
    """Every listed code by code, in the file's order (families together)."""
    text = resources.files("triggerpoint.records").joinpath("data/icd10cm.yaml").read_text("utf-8")
    return parse(text)


def lookup(code: str) -> Icd10Code | None:
    return codes().get(code.strip().upper())


def display(code: str) -> str | None:
    """The title of a listed code (None for a code recorded before the list had it)."""
    found = lookup(code)
    return found.display if found else None


def billable_below(code: str) -> list[Icd10Code]:
    """The billable codes of a header's family (the choices a clinician has under it)."""
    return [c for c in codes().values() if c.billable and c.code.startswith(code)]


def nearest(code: str, *, limit: int = MAX_SUGGESTIONS) -> list[Icd10Code]:
    """Listed billable codes closest to `code`: those sharing the longest start with it."""
    typed = _compact(code)
    billable = [c for c in codes().values() if c.billable]
    for size in range(len(typed), 0, -1):
        near = [c for c in billable if _compact(c.code).startswith(typed[:size])]
        if near:
            return near[:limit]
    return []


def code_problem(code: str) -> str | None:
    """Why `code` (upper case, pattern already checked) cannot be recorded, or None.

    Unlisted: the nearest listed codes are named. A header: its billable codes are named,
    since a claim needs the most specific code.
    """
    found = codes().get(code)
    if found is None:
        near = nearest(code)
        hint = f"; nearest: {_named(near)}" if near else ""
        return f"{code} is not in triggerpoint's ICD-10-CM list{hint}"
    if not found.billable:
        return (
            f"{code} ({found.display}) is a category: choose one of {_named(billable_below(code))}"
        )
    return None


def suggestions(code: str) -> list[Icd10Code]:
    """The codes `code_problem` names for this code (for a form to offer them)."""
    code = code.strip().upper()
    found = codes().get(code)
    if found is not None and not found.billable:
        return billable_below(code)[:MAX_SUGGESTIONS]
    return nearest(code) if found is None else []


def _named(found: list[Icd10Code]) -> str:
    return ", ".join(f"{c.code} {c.display}" for c in found[:MAX_SUGGESTIONS])


def _matches(entry: Icd10Code, words: list[str]) -> bool:
    """Every word starts the code or a word of the title or inclusion terms (its headers'
    count too, so 'myalgia neck' finds M79.12 'Myalgia of auxiliary muscles, head and neck'
    and 'myofascial' the M79.1 family)."""
    family = [c for k, c in codes().items() if entry.code.startswith(k)]
    titles = [t for c in family for t in (c.display, *c.terms)]
    title_words = set(re.findall(r"[a-z0-9]+", _fold(" ".join(titles))))
    return all(
        _compact(entry.code).startswith(_compact(w)) or any(t.startswith(w) for t in title_words)
        for w in words
    )


def search_icd10(q: str, *, limit: int = 20) -> list[Icd10Code]:
    """Listed codes for what a clinician typed: a code's start ('M79.1', 'm791') or words of
    its title ('myalgia neck'), the code itself first, then its family, then title matches.

    `q` with a NUL or a lone surrogate, or longer than MAX_QUERY, is InvalidInput naming q.
    """
    if problem := input_problem(q):
        raise InvalidInput("q", problem)
    if len(q) > MAX_QUERY:
        raise InvalidInput("q", f"must be at most {MAX_QUERY} characters")
    words = [w for w in re.split(r"[\s,;]+", _fold(q.strip())) if w]
    if not words:
        return []
    typed = _compact(q.strip())
    by_code = [
        c for c in codes().values() if len(words) == 1 and _compact(c.code).startswith(typed)
    ]
    found = [c for c in codes().values() if c not in by_code and _matches(c, words)]
    by_code.sort(key=lambda c: _compact(c.code) != typed)  # stable: the exact code first
    return (by_code + found)[:limit]
