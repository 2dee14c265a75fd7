"""Names, never ids: the template names (`ui.templating`) for every muscle and trigger point
in the atlas, the words used for ids the atlas does not hold, and older PPT sites."""

from __future__ import annotations

import re

import pytest

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.ui import templating
from triggerpoint.ui.templating import (
    AtlasNames,
    muscle_name,
    plug_in_names,
    site_label,
    site_name,
    templates,
    tp_name,
)
from triggerpoint.web.app import atlas_names

ATLAS = load_atlas()
# Ids that cannot be English words: snake_case, or letters and digits ("tp1").
RAW_ID = re.compile(r"^[a-z]+(_[a-z0-9]+)+$|^[a-z]+[0-9]+$")


@pytest.fixture
def plugged(monkeypatch):
    """The atlas's names plugged in, as the app factory does (and put back afterwards)."""
    monkeypatch.setattr(templating, "_names", atlas_names())


@pytest.fixture
def unplugged(monkeypatch):
    monkeypatch.setattr(templating, "_names", AtlasNames())


def _raw_ids() -> set[str]:
    ids = {m.id for m in ATLAS.muscles.values()}
    ids |= {tp.id for m in ATLAS.muscles.values() for tp in m.trigger_points}
    return {i for i in ids if RAW_ID.match(i)}


def test_the_atlas_has_raw_ids_to_hide():
    assert {"upper_trapezius", "tp1", "upper_lumbar"} <= _raw_ids()


def test_every_muscle_and_trigger_point_is_named_as_the_atlas_names_it(plugged):
    raw = _raw_ids()
    for m in ATLAS.muscles.values():
        assert muscle_name(m.id) == m.name
        assert muscle_name(m.id, "left") == f"{m.name} (left)"
        for tp in m.trigger_points:
            assert tp_name(m.id, tp.id) == tp.name
            assert tp_name(m.id, tp.id, "right") == f"{tp.name}, right"
            words = set(re.findall(r"[A-Za-z0-9_]+", tp_name(m.id, tp.id, "right")))
            assert not words & raw, (m.id, tp.id)


def test_the_templates_use_the_same_names(plugged):
    env = templates().env
    text = env.from_string(
        "{{ muscle_name('gluteus_medius', 'left') }} | {{ tp_name('upper_trapezius', 'tp1') }}"
        " | {{ 'gluteus_medius'|muscle_name }} | {{ tp_name('upper_trapezius', none) }}"
    ).render()
    assert text == (
        "Gluteus medius (left) | Upper trapezius TP1 (anterior border) | Gluteus medius | —"
    )


def test_ids_the_atlas_does_not_hold_are_put_in_words(unplugged):
    assert muscle_name("gluteus_medius", "right") == "Gluteus medius (right)"
    assert tp_name("upper_trapezius", "tp1") == "Upper trapezius TP1"
    assert tp_name("longissimus_thoracis", "upper_lumbar", "left") == (
        "Longissimus thoracis Upper lumbar, left"
    )
    assert tp_name("deltoid", "") == tp_name("deltoid", None) == "—"
    assert muscle_name("quadratus_lumborum", "midline") == "Quadratus lumborum"


def test_a_trigger_point_id_typed_for_the_wrong_muscle_is_still_words(plugged):
    assert tp_name("brachioradialis", "tp7") == "Brachioradialis TP7"


def test_older_ppt_sites_read_as_the_atlas_names_them(plugged):
    for tp in ATLAS.trigger_points:
        old = f"{tp.muscle.name} {tp.tp_id} ({tp.side})"
        assert site_name(old) == site_label(tp.tp.name, tp.side), old
        assert site_name(old.upper()) == site_label(tp.tp.name, tp.side)
    assert (
        site_name("Upper trapezius tp1 (right)") == "Upper trapezius TP1 (anterior border), right"
    )
    assert site_name("cervical rotation left") == "cervical rotation left"
    assert site_name("") == "" and site_name(None) == ""


def test_the_app_plugs_the_names_in(monkeypatch):
    from triggerpoint.web.app import create_app

    monkeypatch.setattr(templating, "_names", AtlasNames())
    create_app(migrate=False)
    assert tp_name("upper_trapezius", "tp1") == "Upper trapezius TP1 (anterior border)"
    plug_in_names(AtlasNames())
    assert tp_name("upper_trapezius", "tp1") == "Upper trapezius TP1"
