"""CDISC ODM 1.3.2 export, checked by structure (the XSD is not shipped): well-formed, the
ODM namespace, every OID referenced is defined, DataTypes valid, values in their lexical
form (ISO 8601 dates and times), coded values in their code lists."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime

from tests.research.exports.conftest import seed
from tests.research.exports.helpers import leaked, run

NS = "{http://www.cdisc.org/ns/odm/v1.3}"
DATATYPES = {  # ODM 1.3.2 DataType values
    "integer", "float", "date", "time", "datetime", "string", "text", "boolean", "double",
    "hexBinary", "base64Binary", "hexFloat", "base64Float", "partialDate", "partialTime",
    "partialDatetime", "durationDatetime", "intervalDatetime", "incompleteDatetime",
    "incompleteDate", "incompleteTime", "URI",
}  # fmt: skip


def _conforms(value: str, datatype: str) -> bool:
    if datatype == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if datatype == "float":
        float(value)
        return True
    if datatype == "date":
        return date.fromisoformat(value).isoformat() == value
    if datatype == "datetime":
        return datetime.fromisoformat(value).tzinfo is not None and "T" in value
    return datatype == "text"


def test_odm_structure(app_client, alice, tmp_path):
    a = seed(app_client, alice)
    b = seed(app_client, alice, research=False)
    path = tmp_path / "study.xml"
    summary = run("odm", alice, path)
    assert summary.patients_included == 1
    root = ET.parse(path).getroot()
    assert root.tag == f"{NS}ODM"
    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    assert root.get("FileOID") and datetime.fromisoformat(root.get("CreationDateTime")).tzinfo
    study = root.find(f"{NS}Study")
    gv = study.find(f"{NS}GlobalVariables")
    assert [c.tag for c in gv] == [f"{NS}StudyName", f"{NS}StudyDescription", f"{NS}ProtocolName"]
    mdv = study.find(f"{NS}MetaDataVersion")
    order = [c.tag.removeprefix(NS) for c in mdv]
    assert order == sorted(
        order,
        key=["Protocol", "StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList"].index,
    )
    defs = {
        kind: {e.get("OID"): e for e in mdv.iter(f"{NS}{kind}")}
        for kind in ("StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList")
    }
    refs = [("StudyEventRef", "StudyEventOID", "StudyEventDef"), ("FormRef", "FormOID", "FormDef"),
            ("ItemGroupRef", "ItemGroupOID", "ItemGroupDef"), ("ItemRef", "ItemOID", "ItemDef"),
            ("CodeListRef", "CodeListOID", "CodeList")]  # fmt: skip
    for tag, attr, kind in refs:
        found = list(mdv.iter(f"{NS}{tag}"))
        assert found, tag
        assert all(r.get(attr) in defs[kind] for r in found), tag
    for item in defs["ItemDef"].values():
        assert item.get("DataType") in DATATYPES
    for se in defs["StudyEventDef"].values():
        assert se.get("Repeating") in ("Yes", "No") and se.get("Type") in (
            "Scheduled",
            "Unscheduled",
            "Common",
        )
    clinical = root.find(f"{NS}ClinicalData")
    assert clinical.get("StudyOID") == study.get("OID")
    assert clinical.get("MetaDataVersionOID") == mdv.get("OID")
    subjects = clinical.findall(f"{NS}SubjectData")
    assert len(subjects) == 1
    n_items = 0
    for ev in subjects[0].findall(f"{NS}StudyEventData"):
        assert ev.get("StudyEventOID") in defs["StudyEventDef"]
        for form in ev.findall(f"{NS}FormData"):
            assert form.get("FormOID") in defs["FormDef"]
            for group in form.findall(f"{NS}ItemGroupData"):
                gdef = defs["ItemGroupDef"][group.get("ItemGroupOID")]
                allowed = {r.get("ItemOID") for r in gdef.iter(f"{NS}ItemRef")}
                for item in group.findall(f"{NS}ItemData"):
                    oid, v = item.get("ItemOID"), item.get("Value")
                    assert oid in allowed
                    idef = defs["ItemDef"][oid]
                    assert _conforms(v, idef.get("DataType")), (oid, v)
                    cl = idef.find(f"{NS}CodeListRef")
                    if cl is not None:
                        codes = {
                            c.get("CodedValue") for c in defs["CodeList"][cl.get("CodeListOID")]
                        }
                        assert v in codes, (oid, v)
                    n_items += 1
    assert n_items > 40
    visits = [e for e in subjects[0] if e.get("StudyEventOID") == "SE.VISIT"]
    assert [v.get("StudyEventRepeatKey") for v in visits] == ["1", "2"]
    twitches = [
        i.get("Value")
        for i in root.iter(f"{NS}ItemData")
        if i.get("ItemOID") == "IT.NE.TWITCH_COUNT"
    ]
    assert twitches == ["3", "1"]
    assert not leaked(tmp_path, [a, b])
