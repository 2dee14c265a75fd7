"""The bedside flow through the HTML forms (no JavaScript needed), with errors shown in place."""

from __future__ import annotations

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.safety.screening import rulebook


def test_bedside_flow_through_forms(app_client, alice):
    api = alice.headers
    pid = new_patient(
        app_client,
        alice,
        given_name="Form",
        family_name="Flow",
        date_of_birth="1985-05-05",
        sex="male",
        height_cm=180,
        weight_kg=80,
    )
    vid = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-23T09:00:00+00:00"}, headers=api
    ).json()["id"]
    client, csrf = logged_in(app_client, alice)

    page = client.get(f"/visits/{vid}/needling").text
    assert "Before needling" in page and "none on file" in page
    blocked = client.post(f"/visits/{vid}/needling/open", data={"csrf_token": csrf})
    assert blocked.status_code == 422 and "not been screened" in blocked.text

    answers = {r.id: "no" for r in rulebook().rules} | {"epilepsy": "yes"}
    r = client.post(
        f"/patients/{pid}/screening", data={"csrf_token": csrf, **answers}, follow_redirects=True
    )
    assert "Cleared with precautions" in r.text and "Epilepsy" in r.text
    consent = {
        "csrf_token": csrf,
        "risks": ["bruising", "post_needling_soreness", "pneumothorax"],
        "signed_by": "Form Flow",
        "signer_relation": "self",
        "signed_at": "2026-11-23T08:55",
    }
    assert (
        client.post(f"/patients/{pid}/consent", data=consent, follow_redirects=False).status_code
        == 303
    )

    assert (
        client.post(
            f"/visits/{vid}/needling/confirm", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert (
        client.post(
            f"/visits/{vid}/needling/open", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    page = client.get(f"/visits/{vid}/needling").text
    assert "Precautions" in page and "Epilepsy" in page and "Thorax depth limit" in page

    entry = {
        "csrf_token": csrf,
        "muscle": "Upper trapezius",
        "side": "right",
        "trigger_point_id": "tp1",
        "needle_diameter_mm": "0.25",
        "needle_length_mm": "30",
        "technique": "pistoning",
        "depth_mm": "40",
        "twitch_count": "2",
        "familiar_pain": "on",
        "duration_s": "20",
    }
    bad = client.post(f"/visits/{vid}/needling/entry", data=entry)
    assert bad.status_code == 422 and "greater than the needle length" in bad.text
    assert 'value="Upper trapezius"' in bad.text  # the user's input is kept
    assert (
        client.post(
            f"/visits/{vid}/needling/entry",
            data={**entry, "depth_mm": "12"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    page = client.get(f"/visits/{vid}/needling").text
    assert (
        'id="needles-in">1<' in page and 'value="Upper trapezius"' in page
    )  # next entry starts from the last

    no_count = client.post(
        f"/visits/{vid}/needling/sign", data={"csrf_token": csrf, "version": "1"}
    )
    assert no_count.status_code == 422 and "count the needles" in no_count.text
    client.post(f"/visits/{vid}/needling/count", data={"csrf_token": csrf, "needles_out": "1"})
    signed = client.post(
        f"/visits/{vid}/needling/sign",
        data={"csrf_token": csrf, "version": "2"},
        follow_redirects=True,
    )
    assert 'id="session-status">signed<' in signed.text  # version 2: the count updated the session
    assert "CPT <strong>20560</strong>" in signed.text and "M79.12" in signed.text
