"""metapool.analyse: RevMan's options, defaults and the printed table."""

from __future__ import annotations

import math

import metapool
from metapool import Continuous, Dichotomous, Generic, OMinusE


def test_swap_events_analyses_non_events() -> None:
    studies = metapool.examples.aspirin()
    swapped = metapool.analyse(studies, measure="RR", swap_events=True)
    by_hand = metapool.analyse(
        [
            Dichotomous(
                s.study,
                s.total_exp - s.events_exp,
                s.total_exp,
                s.total_ctrl - s.events_ctrl,
                s.total_ctrl,
            )
            for s in studies
        ],
        measure="RR",
    )
    assert swapped.total == by_hand.total and swapped.heterogeneity == by_hand.heterogeneity
    assert swapped.settings.swap_events


def test_revman_defaults_when_a_choice_is_omitted() -> None:
    assert metapool.analyse(metapool.examples.aspirin()).settings.label == (
        "Odds Ratio M-H, Fixed, 95% CI"
    )
    cont = metapool.analyse(metapool.examples.stem_cell_oa_pain())
    assert (cont.settings.measure, cont.settings.method.value) == ("MD", "IV")
    oe = metapool.analyse([OMinusE("A", -2.0, 5.0), OMinusE("B", -1.0, 4.0)])
    assert (oe.settings.measure, oe.settings.method.value) == ("PETO_OR", "PETO")
    assert math.isclose(oe.total.estimate, math.exp(-3.0 / 9.0), rel_tol=1e-14)


def test_generic_ratio_is_pooled_on_the_log_scale() -> None:
    studies = [Generic("A", math.log(0.8), 0.1), Generic("B", math.log(0.6), 0.2)]
    res = metapool.analyse(studies, measure="HR")
    w = [1 / 0.01, 1 / 0.04]
    pooled = (w[0] * math.log(0.8) + w[1] * math.log(0.6)) / sum(w)
    assert res.settings.ratio and math.isclose(res.total.estimate, math.exp(pooled), rel_tol=1e-14)
    assert math.isclose(res.studies[0].estimate, 0.8, rel_tol=1e-14)
    diff = metapool.analyse(studies, measure="Log hazard", ratio=False)
    assert math.isclose(diff.total.estimate, pooled, rel_tol=1e-14)


def test_o_minus_e_outcomes_may_carry_any_ratio_name() -> None:
    res = metapool.analyse(
        [OMinusE("A", -2.0, 5.0), OMinusE("B", -1.0, 4.0)], measure="Hazard ratio", method="IV"
    )
    assert res.settings.ratio and res.settings.measure == "HR"


def test_printed_table_reads_like_revman() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    text = str(res)
    assert "Odds Ratio M-H, Fixed, 95% CI" in text.splitlines()[0]
    assert "ISIS-2                   1570       8587         1720        8600   72.9%" in text
    assert "Total (95% CI)" in text and "0.90 [0.84, 0.96]" in text
    assert "Heterogeneity: Chi² = 9.95, df = 6 (P = 0.13); I² = 40%" in text
    assert "Test for overall effect: Z = 3.29 (P = 0.001)" in text


def test_printed_subgroups_random_effects_and_hksj() -> None:
    res = metapool.analyse(
        metapool.examples.stem_cell_oa_pain(), measure="SMD", **metapool.REVMAN_WEB
    )
    text = str(res)
    lines = text.splitlines()
    # hand-made analyses have no RevMan numbers: the headings are the names
    for name in ("Bone marrow", "Umbilical cord", "Adipose tissue"):
        assert name in lines
    assert text.count("Subtotal (95% CI)") == 3
    assert "Heterogeneity: Tau² = " in text
    assert "Test for overall effect: t = " in text
    assert "Prediction interval: [" in text
    assert "Test for subgroup differences: Chi² = " in text


def test_subgroup_weights_add_up_to_their_share_of_the_total() -> None:
    res = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")
    assert math.isclose(sum(s.weight for s in res.studies), 100.0, rel_tol=1e-12)
    for sub in res.subgroups.values():
        assert math.isclose(sum(s.weight for s in sub.studies), 100.0, rel_tol=1e-12)
    assert set(res.subgroups) == {"Bone marrow", "Umbilical cord", "Adipose tissue"}


def test_study_confidence_level_applies_to_rows_only() -> None:
    studies = [
        Continuous("A", 1.0, 1.0, 20, 2.0, 1.5, 20),
        Continuous("B", 1.5, 1.2, 30, 2.0, 1.1, 25),
    ]
    narrow = metapool.analyse(studies, measure="MD", study_ci_level=0.90)
    wide = metapool.analyse(studies, measure="MD")
    assert narrow.total == wide.total
    a, b = narrow.studies[0], wide.studies[0]
    assert b.ci_lower < a.ci_lower < a.estimate < a.ci_upper < b.ci_upper
    assert math.isclose(a.ci_upper - a.estimate, 1.6448536269514722 * a.se, rel_tol=1e-12)
