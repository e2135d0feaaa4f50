"""Mantel-Haenszel risk difference with zero cells: RevMan's Greenland-Robins variance."""

from __future__ import annotations

import math

import metapool
from metapool import Dichotomous

ZERO = Dichotomous("Zero", 0, 20, 3, 22)  # a zero cell: 0.5 is added to all four
OTHERS = [Dichotomous("Full", 5, 40, 9, 41), Dichotomous("More", 12, 60, 15, 58)]


def by_hand(studies: list[Dichotomous]) -> tuple[float, float]:
    """RD_MH and its SE as RevMan computes them, one study at a time."""
    num = den_raw = var_num = 0.0
    for s in studies:
        a, b, c, d = (
            s.events_exp,
            s.total_exp - s.events_exp,
            s.events_ctrl,
            s.total_ctrl - s.events_ctrl,
        )
        n1, n2 = a + b, c + d
        num += (a * n2 - c * n1) / (n1 + n2)
        den_raw += n1 * n2 / (n1 + n2)  # raw counts: the estimate's weights
        h = 0.5 if min(a, b, c, d) == 0 else 0.0
        a, b, c, d = a + h, b + h, c + h, d + h
        n1, n2 = a + b, c + d
        var_num += (a * b * n2**3 + c * d * n1**3) / (n1 * n2 * (n1 + n2) ** 2)
    return num / den_raw, math.sqrt(var_num) / den_raw


def test_variance_denominator_from_the_raw_counts() -> None:
    studies = [ZERO, *OTHERS]
    res = metapool.analyse(studies, measure="RD", method="MH")
    estimate, se = by_hand(studies)
    assert math.isclose(res.total.estimate, estimate, rel_tol=1e-13)
    assert math.isclose(res.total.se, se, rel_tol=1e-13)


def test_one_study_keeps_its_own_rd_and_se() -> None:
    res = metapool.analyse([ZERO], measure="RD", method="MH")
    (row,) = res.studies
    assert math.isclose(res.total.estimate, row.estimate, rel_tol=1e-14)
    assert math.isclose(res.total.se, row.se, rel_tol=1e-14)
    assert math.isclose(res.total.ci_lower, row.ci_lower, rel_tol=1e-14)
    # raw denominator n1 n2 / N would give a different SE for a zero-cell study
    _, raw_se = by_hand([ZERO])
    assert not math.isclose(res.total.se, raw_se, rel_tol=1e-3)


def test_subgroup_of_one_zero_cell_study() -> None:
    studies = [
        Dichotomous("Zero", 0, 20, 3, 22, subgroup="Alone"),
        *(
            Dichotomous(s.study, s.events_exp, s.total_exp, s.events_ctrl, s.total_ctrl, "Pair")
            for s in OTHERS
        ),
    ]
    res = metapool.analyse(studies, measure="RD", method="MH")
    alone = res.subgroups["Alone"]
    assert math.isclose(alone.total.se, alone.studies[0].se, rel_tol=1e-14)
    estimate, se = by_hand(OTHERS)
    assert math.isclose(res.subgroups["Pair"].total.se, se, rel_tol=1e-13)
    estimate, se = by_hand([ZERO, *OTHERS])
    assert math.isclose(res.total.estimate, estimate, rel_tol=1e-13)
    assert math.isclose(res.total.se, se, rel_tol=1e-13)
