"""CDISC ODM 1.3.2: the study's metadata and every exported patient's data in one XML file.

Structure (ODM 1.3.2 specification, CDISC 2013): `ODM` (FileType Snapshot) holds one
`Study` with `GlobalVariables` and a `MetaDataVersion`: the `Protocol` lists two study
events, SE.PATIENT (once per subject: demographics, episodes, diagnoses, pain drawings and
marks, measurements) and SE.VISIT (repeating, keyed by visit_no: the visit, its needling
session, needles, palpation findings and adverse events). Each table is an `ItemGroupDef`,
each column an `ItemDef` with its ODM DataType; coded values refer to a `CodeList`.
`ClinicalData` then carries `SubjectData` (SubjectKey = study id) / `StudyEventData` /
`FormData` / `ItemGroupData` / `ItemData`. Empty values are omitted, as ODM expects.

Subjects are written a chunk at a time (each chunk's tables read by patient id), so the file
streams out without the whole registry in memory.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.schemas import TABLES, Column, Progress, Table
from triggerpoint.research.exports.source import Scope, patient_ids, table_batches

NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY_OID = "ST.TRIGGERPOINT"
MDV_OID = "MDV.1"
EVENTS = {
    "patient": ("SE.PATIENT", "F.PATIENT", "Patient"),
    "visit": ("SE.VISIT", "F.VISIT", "Visit"),
}
DATATYPE = {
    "int": "integer",
    "float": "float",
    "str": "text",
    "bool": "integer",
    "date": "date",
    "datetime": "datetime",
}
YES_NO = (("1", "Yes"), ("0", "No"))
CHUNK_PATIENTS = 500


def group_oid(table: Table) -> str:
    return f"IG.{table.name.upper()}"


def item_oid(table: Table, column: Column) -> str:
    return f"IT.{table.prefix.upper()}.{column.name.upper()}"


def codelist_oid(table: Table, column: Column) -> str:
    return "CL.YESNO" if column.kind == "bool" else f"CL.{column.name.upper()}"


def _items(table: Table) -> list[Column]:
    return [c for c in table.columns if c.name != "research_id"]


def _text(parent: ET.Element, tag: str, text: str) -> None:
    t = ET.SubElement(ET.SubElement(parent, tag), "TranslatedText")
    t.set("xml:lang", "en")
    t.text = text


def metadata(*, description: str) -> ET.Element:
    """The Study element: global variables and the metadata version."""
    study = ET.Element("Study", OID=STUDY_OID)
    gv = ET.SubElement(study, "GlobalVariables")
    ET.SubElement(gv, "StudyName").text = "triggerpoint research registry"
    ET.SubElement(gv, "StudyDescription").text = description
    ET.SubElement(gv, "ProtocolName").text = "triggerpoint registry (de-identified)"
    mdv = ET.SubElement(study, "MetaDataVersion", OID=MDV_OID, Name="triggerpoint export 1")
    protocol = ET.SubElement(mdv, "Protocol")
    for n, (event, _, _) in enumerate(EVENTS.values(), 1):
        ET.SubElement(
            protocol, "StudyEventRef", StudyEventOID=event, OrderNumber=str(n), Mandatory="No"
        )
    for per, (event, form, name) in EVENTS.items():
        se = ET.SubElement(
            mdv,
            "StudyEventDef",
            OID=event,
            Name=name,
            Repeating="Yes" if per == "visit" else "No",
            Type="Common" if per == "patient" else "Unscheduled",
        )
        ET.SubElement(se, "FormRef", FormOID=form, OrderNumber="1", Mandatory="Yes")
    for per, (_, form, name) in EVENTS.items():
        fd = ET.SubElement(mdv, "FormDef", OID=form, Name=name, Repeating="No")
        for n, t in enumerate((t for t in TABLES if t.per == per), 1):
            ET.SubElement(
                fd, "ItemGroupRef", ItemGroupOID=group_oid(t), OrderNumber=str(n), Mandatory="No"
            )
    for t in TABLES:
        ig = ET.SubElement(
            mdv,
            "ItemGroupDef",
            OID=group_oid(t),
            Name=t.name,
            Repeating="No" if t.name in ("patients", "visits", "needling_sessions") else "Yes",
        )
        _text(ig, "Description", t.description)
        for n, c in enumerate(_items(t), 1):
            ET.SubElement(ig, "ItemRef", ItemOID=item_oid(t, c), OrderNumber=str(n), Mandatory="No")
    codelists: dict[str, tuple[tuple[str, str], ...]] = {}
    for t in TABLES:
        for c in _items(t):
            item = ET.SubElement(
                mdv,
                "ItemDef",
                OID=item_oid(t, c),
                Name=f"{t.name}.{c.name}",
                DataType=DATATYPE[c.kind],
            )
            _text(item, "Description", c.description + (f" ({c.unit})" if c.unit else ""))
            if c.kind == "bool" or c.choices:
                oid = codelist_oid(t, c)
                codelists[oid] = YES_NO if c.kind == "bool" else c.choices
                ET.SubElement(item, "CodeListRef", CodeListOID=oid)
    for oid, choices in codelists.items():
        datatype = "integer" if oid == "CL.YESNO" else "text"
        cl = ET.SubElement(mdv, "CodeList", OID=oid, Name=oid[3:].lower(), DataType=datatype)
        for code, label in choices:
            _text(ET.SubElement(cl, "CodeListItem", CodedValue=code), "Decode", label)
    return study


def value(v: Any) -> str | None:
    """A value in ODM's lexical form (ISO 8601 dates), or None to omit the item."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


_ITEMS: dict[str, list[tuple[str, str]]] = {}


def _group(parent: ET.Element, table: Table, key: int, row: dict[str, Any]) -> None:
    ig = ET.SubElement(
        parent, "ItemGroupData", ItemGroupOID=group_oid(table), ItemGroupRepeatKey=str(key)
    )
    items = _ITEMS.get(table.name)
    if items is None:
        items = _ITEMS[table.name] = [(c.name, item_oid(table, c)) for c in _items(table)]
    for name, oid in items:
        v = value(row[name])
        if v is not None:
            ET.SubElement(ig, "ItemData", ItemOID=oid, Value=v)


def _subjects(
    rows: dict[str, dict[str, list[dict[str, Any]]]], order: list[str]
) -> list[ET.Element]:
    """SubjectData for each study id in `order`, from that chunk's rows by table."""
    out = []
    for rid in order:
        tables = rows.get(rid, {})
        subject = ET.Element("SubjectData", SubjectKey=rid)
        event = ET.SubElement(
            subject, "StudyEventData", StudyEventOID="SE.PATIENT", StudyEventRepeatKey="1"
        )
        form = ET.SubElement(event, "FormData", FormOID="F.PATIENT", FormRepeatKey="1")
        for t in TABLES:
            if t.per == "patient":
                for k, row in enumerate(tables.get(t.name, []), 1):
                    _group(form, t, k, row)
        visits: dict[int, ET.Element] = {}
        for t in TABLES:
            if t.per != "visit":
                continue
            keys: dict[int, int] = defaultdict(int)
            for row in tables.get(t.name, []):
                vno = row["visit_no"]
                if vno not in visits:
                    ev = ET.SubElement(
                        subject,
                        "StudyEventData",
                        StudyEventOID="SE.VISIT",
                        StudyEventRepeatKey=str(vno),
                    )
                    visits[vno] = ET.SubElement(
                        ev, "FormData", FormOID="F.VISIT", FormRepeatKey="1"
                    )
                keys[vno] += 1
                _group(visits[vno], t, keys[vno], row)
        out.append(subject)
    return out


def write(
    session: Session,
    *,
    path: Path,
    scope: Scope,
    deid: Deidentifier,
    created: datetime,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the ODM file; rows per table (item groups) written; `progress` after each
    chunk of patients (the unit the file is written in)."""
    counts = dict.fromkeys((t.name for t in TABLES), 0)
    ids = patient_ids(session, scope=scope)
    study = metadata(
        description=f"De-identified export of {len(ids)} patients with research consent"
    )
    stamp = created.astimezone(UTC).isoformat(timespec="seconds")
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(
            f'<ODM xmlns="{NS}" ODMVersion="1.3.2" FileType="Snapshot" Granularity="All" '
            f'FileOID="F.TRIGGERPOINT.{created.strftime("%Y%m%dT%H%M%S")}" CreationDateTime="{stamp}" '
            'Originator="triggerpoint" SourceSystem="triggerpoint">\n'
        )
        _dump(out, study)
        out.write(f'<ClinicalData StudyOID="{STUDY_OID}" MetaDataVersionOID="{MDV_OID}">\n')
        for start in range(0, len(ids), CHUNK_PATIENTS):
            chunk = ids[start : start + CHUNK_PATIENTS]
            part = scope.narrow(chunk)
            rows: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
                lambda: defaultdict(list)
            )
            for t in TABLES:
                for batch in table_batches(session, table=t, scope=part, deid=deid, ordered=True):
                    for row in batch.to_pylist():
                        rows[row["research_id"]][t.name].append(row)
                        counts[t.name] += 1
            for subject in _subjects(rows, [deid.id_of(p) for p in chunk]):
                _dump(out, subject)
            if progress is not None:
                chunks = math.ceil(len(ids) / CHUNK_PATIENTS)
                progress(start // CHUNK_PATIENTS + 1, chunks, sum(counts.values()))
        out.write("</ClinicalData>\n</ODM>\n")
    return counts


def _dump(out: IO[str], element: ET.Element) -> None:
    ET.indent(element)
    out.write(ET.tostring(element, encoding="unicode"))
    out.write("\n")
