"""Note templates: the built-in defaults, a clinic's own, and the one rule for applying them
(fill the empty sections, never overwrite typed text)."""

from __future__ import annotations

import pytest

from tests.notes.conftest import NOTE, Notes
from triggerpoint.errors import KnowledgeError
from triggerpoint.notes import schemas
from triggerpoint.notes.service import apply_template, default_templates, load_templates

TEMPLATE = {
    "name": "Headache follow-up",
    "subjective": "Headache days this week:",
    "objective": "Suboccipital palpation:",
    "plan": "Review in 2 weeks.",
}


def test_the_shipped_templates_load_and_say_where_they_come_from():
    shipped = default_templates()
    assert "Weed" in shipped.source and len(shipped.templates) >= 3
    for spec in shipped.templates.values():
        assert all(getattr(spec, s) for s in schemas.SECTIONS), spec.name
    # the clinical words: latent trigger points are not spontaneously painful
    text = shipped.templates["dry_needling_visit"].objective or ""
    assert "latent (pain only on pressure)" in text and "not required" in text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("source: x\n", "source"),
        ("source: a long enough source\ntemplates: {Bad-Key: {name: x}}\n", "lower_snake_case"),
        (
            "source: a long enough source\ntemplates: {ok: {name: x, extra: 1}}\n",
            "templates.ok.extra",
        ),
        ("source: [unclosed\n", "not YAML"),
    ],
)
def test_a_broken_template_file_is_refused_naming_the_field(text, words):
    with pytest.raises(KnowledgeError, match=r"notes/data/templates\.yaml") as caught:
        load_templates(text, "notes/data/templates.yaml")
    assert words in str(caught.value)


def test_applying_fills_only_empty_sections():
    t = schemas.NoteTemplateOut(
        key="k",
        id=None,
        name="n",
        builtin=True,
        subjective="S?",
        objective="O?",
        assessment=None,
        plan="P?",
    )
    typed = {"subjective": "Typed history", "objective": None, "assessment": None, "plan": ""}
    assert apply_template(typed, t) == {
        "subjective": "Typed history",
        "objective": "O?",
        "assessment": None,
        "plan": "P?",
    }


def test_a_clinic_without_templates_gets_the_defaults(notes):
    listed = notes.call("GET", "/api/note-templates")
    assert [t["key"] for t in listed] == list(default_templates().templates)
    assert all(t["builtin"] and t["id"] is None for t in listed)


def test_applying_a_template_on_create_and_update_never_overwrites(notes, visit_id):
    created = notes.put(
        visit_id, {"subjective": "Typed by the clinician", "template": "dry_needling_visit"}
    )
    spec = default_templates().templates["dry_needling_visit"]
    assert created["subjective"] == "Typed by the clinician"
    assert created["objective"] == spec.objective and created["plan"] == spec.plan
    edited = notes.put(
        visit_id,
        {**{s: "mine" for s in schemas.SECTIONS}, "version": 1, "template": "low_back_and_hip"},
    )
    assert all(edited[s] == "mine" for s in schemas.SECTIONS)


def test_a_clinic_template_replaces_the_defaults_for_that_clinic_only(
    app_client, notes, visit_id, carol, dave
):
    made = notes.call("POST", "/api/note-templates", TEMPLATE, 201)
    assert made["key"] == f"clinic-{made['id']}" and not made["builtin"]
    # admins write templates too; names are unique within the clinic
    Notes(app_client, dave).call("POST", "/api/note-templates", {**TEMPLATE, "name": "Other"}, 201)
    assert "already has" in notes.call("POST", "/api/note-templates", TEMPLATE, 409)["detail"]
    assert [t["name"] for t in notes.call("GET", "/api/note-templates")] == [
        "Headache follow-up",
        "Other",
    ]
    refused = notes.put(visit_id, {"template": "dry_needling_visit"}, 422)
    assert refused["detail"][0]["loc"][-1] == "template"
    note = notes.put(visit_id, {**NOTE, "subjective": None, "template": made["key"]})
    assert note["subjective"] == "Headache days this week:" and note["plan"] == NOTE["plan"]
    # clinic B still has the defaults, and cannot use clinic A's template
    theirs = Notes(app_client, carol)
    assert all(t["builtin"] for t in theirs.call("GET", "/api/note-templates"))


def test_an_assistant_may_not_write_templates(app_client, bob):
    Notes(app_client, bob).call("POST", "/api/note-templates", TEMPLATE, 403)
