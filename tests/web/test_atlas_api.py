"""HTTP: atlas and region endpoints, 422s that name the field, security headers."""

from __future__ import annotations


def test_refers_to_right_temple(client):
    resp = client.get("/api/atlas/refers-to", params={"region": "right temple"})
    assert resp.status_code == 200
    data = resp.json()
    assert any(m["muscle_id"] == "upper_trapezius" for m in data["matches"])


def test_unknown_region_is_422_naming_the_field_with_nearest(client):
    resp = client.get("/api/atlas/refers-to", params={"region": "right tempel"})
    assert resp.status_code == 422
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["query", "region"]
    assert item["type"] == "unknown_region"
    assert "right temple" in item["suggestions"]


def test_missing_region_parameter_is_422(client):
    resp = client.get("/api/atlas/refers-to")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "region"]


def test_unknown_muscle_is_422_with_nearest(client):
    resp = client.get("/api/atlas/muscles/upper%20trapezuis")
    assert resp.status_code == 422
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["path", "name"] and "Upper trapezius" in item["suggestions"]


def test_muscle_list_and_filters(client):
    rows = client.get("/api/atlas/muscles", params={"group": "neck"}).json()
    assert rows and all(r["group"] == "neck" for r in rows)
    rows = client.get("/api/atlas/muscles", params={"q": "trapez"}).json()
    assert "upper_trapezius" in {r["id"] for r in rows}
    assert client.get("/api/atlas/muscles", params={"group": "nek"}).status_code == 422


def test_regions_endpoint(client):
    assert (
        client.get("/api/regions", params={"name": "Left Lateral Malleolus"}).json()[0]["id"]
        == "left_lateral_ankle"
    )
    assert len(client.get("/api/regions").json()) == 217
    assert client.get("/api/regions", params={"name": "nowhere"}).status_code == 422


def test_security_headers_and_csp(client):
    resp = client.get("/api/regions", params={"name": "sacrum"})
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert "unsafe-inline" not in resp.headers["content-security-policy"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"


def test_openapi_documents_the_atlas(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/atlas/muscles", "/api/atlas/refers-to", "/api/regions"} <= set(paths)
