"""The study report as a page and as a PDF: one template (`research/reliability_report.html`),
with the web layout or the clinic reports' print layout and stylesheet (`reports.pdf`
renders it), so the page and the PDF cannot drift."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from triggerpoint.reports.pdf import PRINT_LAYOUT, WEB_LAYOUT, render_pdf
from triggerpoint.research.reliability.schemas import CRITERION_WORDS, ReportOut

TEMPLATE = "research/reliability_report.html"


def report_context(data: ReportOut, *, printing: bool) -> dict[str, Any]:
    """What the template shows: the report, grouped by site, in words."""
    sites: dict[str, list[Any]] = {}
    for row in data.rows:
        sites.setdefault(row.site, []).append(row)
    return {
        "r": data,
        "sites": sites,
        "criteria_words": CRITERION_WORDS,
        "printing": printing,
        "layout": PRINT_LAYOUT if printing else WEB_LAYOUT,
        "now": datetime.now(UTC),
    }


def report_pdf(data: ReportOut) -> bytes:
    """The report through WeasyPrint; the document's title is the study's."""
    return render_pdf(TEMPLATE, report_context(data, printing=True))
