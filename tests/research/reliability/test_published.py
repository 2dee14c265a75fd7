"""The packaged published figures: they load, they say what their sources say, and a broken
file is refused with the field named.

The spot checks below are the abstracts' numbers: Lucas et al. 2009 (Clin J Pain 25:80,
doi:10.1097/AJP.0b013e31817e13b6): tenderness kappa 0.22-1.0, pain reproduction 0.57-1.00,
taut band -0.08-0.75, local twitch response -0.05-0.57; Myburgh et al. 2008 (Arch Phys Med
Rehabil 89:1169, doi:10.1016/j.apmr.2007.12.033): trapezius local tenderness 0.15-0.62,
gluteus medius referral 0.298-0.487, quadratus lumborum referral 0.36-0.501; Rathbone et al.
2017 (Clin J Pain 33:715, doi:10.1097/AJP.0000000000000459): pooled kappa 0.452 (95% CI
0.364-0.540); the 2018 Delphi (Pain Med 19:142, doi:10.1093/pm/pnx207): a taut band, a
hypersensitive spot and referred pain are the essential cluster.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

import pytest
import yaml

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.errors import KnowledgeError
from triggerpoint.research.reliability import published as pub
from triggerpoint.research.reliability.models import CRITERIA


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = (
        pub.resources.files("triggerpoint.research").joinpath("data", pub.FILE).read_text("utf-8")
    )
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_loads_and_covers_the_criteria() -> None:
    data = pub.published()
    assert get_args(pub.Criterion) == CRITERIA
    covered = {f.criterion for f in data.figures}
    assert set(CRITERIA) <= covered
    assert {"gerwin_1997", "lucas_2009", "myburgh_2008", "delphi_2018"} <= set(data.sources)
    assert all(s.doi.startswith("10.") for s in data.sources.values())


def test_lucas_ranges_are_ranges_with_their_signs() -> None:
    figs = {f.criterion: f for f in pub.published().figures if f.source == "lucas_2009"}
    assert (figs["tender_spot"].low, figs["tender_spot"].high) == (0.22, 1.0)
    assert (figs["pain_recognition"].low, figs["pain_recognition"].high) == (0.57, 1.0)
    assert (figs["taut_band"].low, figs["taut_band"].high) == (-0.08, 0.75)
    assert (figs["twitch"].low, figs["twitch"].high) == (-0.05, 0.57)
    assert all(f.kind == "range" and f.value is None for f in figs.values())
    assert figs["taut_band"].text() == "κ −0.08 to 0.75 (range)"


def test_myburgh_figures_are_muscle_specific() -> None:
    data = pub.published()
    glut = data.for_criterion("referral", muscle="gluteus_medius")
    assert glut[0].source == "myburgh_2008" and (glut[0].low, glut[0].high) == (0.298, 0.487)
    assert all(f.muscles == () for f in glut[1:])  # then the figures across muscles
    trap = data.for_criterion("tender_spot", muscle="upper_trapezius")
    assert (trap[0].low, trap[0].high) == (0.15, 0.62)
    ql = data.for_criterion("referral", muscle="quadratus_lumborum")[0]
    assert (ql.low, ql.high) == (0.36, 0.501)


def test_pooled_kappa_with_its_interval() -> None:
    (pooled,) = pub.published().for_criterion(None)
    assert pooled.value == 0.452 and pooled.ci == (0.364, 0.540)
    assert pooled.text() == "κ 0.452 (95% CI 0.364 to 0.54)"


def test_gerwin_is_cited_without_invented_numbers() -> None:
    data = pub.published()
    assert "twitch" in data.sources["gerwin_1997"].notes
    assert not [f for f in data.figures if f.source == "gerwin_1997"]


def test_delphi_consensus() -> None:
    data = pub.published()
    assert data.consensus.essential == ("taut_band", "tender_spot", "referral")
    assert data.is_essential("taut_band") and not data.is_essential("twitch")
    assert data.consensus.active_vs_latent == ("pain_recognition",)


def test_every_muscle_is_in_the_atlas() -> None:
    atlas = load_atlas()
    named = {m for f in pub.published().figures for m in f.muscles}
    assert named and named <= set(atlas.muscles)


def test_percent_figures_are_shares() -> None:
    for f in pub.published().figures:
        if f.statistic == "percent":
            assert f.low is not None and 0 <= f.low <= 1 and f.text().startswith("agreement ")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["figures"][0].update(kind="value"), "figures.0"),
        (lambda d: d["figures"][0].update(low=0.9, high=0.1), "figures.0"),
        (lambda d: d["figures"][0].update(high=1.5), "figures.0"),
        (lambda d: d["figures"][0].update(criterion="nodule"), "figures.0.criterion"),
        (lambda d: d["figures"][0].update(source="nobody_2020"), "unknown source"),
        (lambda d: d["sources"]["lucas_2009"].update(doi="none"), "sources.lucas_2009.doi"),
        (lambda d: d["figures"][4].pop("muscle_label"), "muscle_label"),
        (lambda d: d["consensus"].update(source="nobody"), "consensus.source"),
        (lambda d: d["figures"][7].update(ci=[0.5, 0.6]), "inside its ci"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_broken_file_is_refused_naming_the_field(
    raw: dict[str, Any], mutate: Any, field: str
) -> None:
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(KnowledgeError) as err:
        pub.validate_published(data, source="test.yaml")
    assert "test.yaml" in str(err.value) and field in str(err.value)


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(pub.PublishedError, match="must be a mapping"):
        pub.validate_published([1, 2])
