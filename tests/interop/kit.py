"""Small helpers to read and edit exported bundles in tests, and to post them for import."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import as_person

__all__ = ["as_person"]

EXT = "urn:triggerpoint:fhir:extension"
LOCAL = "urn:triggerpoint:codesystem"


def export(client, person, patient_id: int) -> dict[str, Any]:
    resp = client.get(f"/api/patients/{patient_id}/fhir", headers=as_person(client, person))
    assert resp.status_code == 200, resp.text
    return resp.json()


def export_as(client, headers, patient_id: int) -> dict[str, Any]:
    resp = client.get(f"/api/patients/{patient_id}/fhir", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def patients(client, headers) -> int:
    return client.get("/api/patients", headers=headers).json()["total"]


def field(resp) -> str:
    """The element a 422 names, as the import spells it (``Procedure[0].needle-entry[1].depth_mm``)."""
    return ".".join(str(p) for p in resp.json()["detail"][0]["loc"][1:])


def of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def index_of(bundle: dict[str, Any], kind: str, pred) -> int:
    """The position among resources of `kind` (the n in ``Observation[n]``) of the first match."""
    return next(i for i, r in enumerate(of(bundle, kind)) if pred(r))


def ext(resource: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in resource.get("extension", []) if e["url"] == f"{EXT}/{name}")


def exts(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"] == f"{EXT}/{name}"]


def sub(extension: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in extension["extension"] if e["url"] == name)


def set_sub(extension: dict[str, Any], name: str, **value: Any) -> None:
    """Replace (or add) one part of a complex extension: ``set_sub(e, "depth_mm", valueDecimal=3)``."""
    parts = [e for e in extension["extension"] if e["url"] != name]
    extension["extension"] = [*parts, {"url": name, **value}]


def needle(bundle: dict[str, Any], k: int = 0, proc: int = 0) -> dict[str, Any]:
    return exts(of(bundle, "Procedure")[proc], "needle-entry")[k]


def screening(bundle: dict[str, Any], n: int = 0) -> dict[str, Any]:
    return [
        q
        for q in of(bundle, "QuestionnaireResponse")
        if q["questionnaire"].endswith("dry-needling-screening")
    ][n]


def answer(bundle: dict[str, Any], rule: str, present: bool, detail: str | None = None) -> None:
    item = next(i for i in screening(bundle)["item"] if i["linkId"] == rule)
    item["answer"] = [{"valueBoolean": present}] + ([{"valueString": detail}] if detail else [])


def clone(bundle: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(bundle)


def restriction(flag: dict[str, Any]) -> dict[str, Any]:
    """A Flag's restriction as the screening stores it (rule, scope, region ids)."""
    parts = ext(flag, "restriction")["extension"]
    return {
        "rule": next(p["valueString"] for p in parts if p["url"] == "rule"),
        "scope": next(p["valueString"] for p in parts if p["url"] == "scope"),
        "regions": sorted(p["valueString"] for p in parts if p["url"] == "region"),
    }
