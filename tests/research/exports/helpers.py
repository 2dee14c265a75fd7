"""Shared checks for the research export tests."""

from __future__ import annotations

from pathlib import Path

from tests.research.exports.conftest import Seeded
from triggerpoint.db import open_session
from triggerpoint.research.exports.schemas import ExportSummary
from triggerpoint.research.exports.service import export_odm, export_parquet, export_redcap


def leaked(directory: Path, people: list[Seeded]) -> list[tuple[str, str]]:
    """(file, secret) for every seeded identifier found in any byte of any output file."""
    found = []
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = f.read_bytes().lower()
        for person in people:
            for secret in person.secrets:
                if secret.lower().encode() in data:
                    found.append((f.name, secret))
    return found


def run(kind: str, person, target: Path, clinic_id: int | None = None) -> ExportSummary:
    """The export as `person` (their clinic), committed like a request."""
    fn = {"redcap": export_redcap, "parquet": export_parquet, "odm": export_odm}[kind]
    arg = "path" if kind == "odm" else "directory"
    with open_session(clinic_id=person.clinic_id) as session:
        summary = fn(
            session,
            principal=person.principal,
            clinic_id=person.clinic_id if clinic_id is None else clinic_id,
            **{arg: target},
        )
        session.commit()
    return summary
