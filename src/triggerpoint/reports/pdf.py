"""Render a report template to HTML (the web page) or to PDF (WeasyPrint, print stylesheet).

A report template extends `layout`: `base.html` on the web, `reports/print_base.html` for the
PDF. The content block is the same template either way, so the page and the PDF cannot drift.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from triggerpoint.ui.templating import templates

HERE = Path(__file__).resolve().parent
PRINT_LAYOUT = "reports/print_base.html"
WEB_LAYOUT = "base.html"


@cache
def print_css() -> str:
    return (HERE / "print.css").read_text("utf-8")


def render_html(name: str, ctx: dict[str, Any]) -> str:
    """The template as a standalone print document (what WeasyPrint lays out)."""
    env = templates().env
    return env.get_template(name).render(
        {**ctx, "layout": PRINT_LAYOUT, "print_css": print_css(), "printing": True}
    )


def render_pdf(name: str, ctx: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_html(name, ctx), base_url=str(HERE)).write_pdf()
