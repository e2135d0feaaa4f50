"""HKSJ's ad hoc variant against metafor (tests/reference/make_hksj_adhoc.R), and its
degenerate cases: identical estimates (variance 0) and a single study."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from _helpers import assert_close, load_reference

import metapool
from metapool.vocabulary import DataType, resolve

CASES = load_reference("hksj_adhoc_cases.json")["cases"]
FIELDS = ("estimate", "se", "ci_lower", "ci_upper", "z", "p_value", "tau2")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_adhoc_against_metafor(case: dict[str, Any]) -> None:
    opt = case["options"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = metapool.pool(
            case["yi"],
            case["vi"],
            model=opt["model"],
            tau2=opt["tau2"],
            hksj=opt["hksj"],
            ci_level=opt["ci_level"],
        )
    exp = case["expected"]
    rtol = 1e-8 if opt["tau2"] in ("REML", "PM") else 1e-10
    for field in FIELDS:
        assert_close(field, float(getattr(res, field)[0]), exp[field], rtol=rtol, atol=1e-13)
    # plain HKSJ on identical estimates falls back to the ad hoc rule, and says so
    fallback = [w for w in caught if issubclass(w.category, metapool.MetapoolWarning)]
    assert len(fallback) == (1 if opt["hksj"] is True else 0)
    if fallback:
        assert exp["se_knha"] == 0
        assert "HKSJ variance is 0" in str(fallback[0].message)


def test_adhoc_is_the_larger_of_hksj_and_wald() -> None:
    yi = np.array([0.10, 0.12, 0.09, 0.11, 0.10, 0.13, -0.8, 0.3, 0.5, 0.2])
    vi = np.array([0.01, 0.02, 0.015, 0.01, 0.03, 0.02, 0.05, 0.04, 0.02, 0.03])
    groups = np.repeat([0, 1], 5)  # homogeneous (HKSJ < Wald), heterogeneous (HKSJ > Wald)
    wald = metapool.pool(yi, vi, groups, tau2="REML")
    knha = metapool.pool(yi, vi, groups, tau2="REML", hksj=True)
    adhoc = metapool.pool(yi, vi, groups, tau2="REML", hksj="adhoc")
    assert knha.se[0] < wald.se[0] and knha.se[1] > wald.se[1]
    np.testing.assert_allclose(adhoc.se, np.maximum(knha.se, wald.se), rtol=1e-14)
    np.testing.assert_allclose(adhoc.estimate, wald.estimate, rtol=1e-14)
    t = metapool.pool(yi, vi, groups, tau2="REML", hksj="adhoc", ci_level=0.9)
    half = 2.7764451051977987 * adhoc.se  # t(4 df) 97.5 % quantile
    np.testing.assert_allclose(adhoc.ci_upper - adhoc.estimate, half, rtol=1e-12)
    assert (t.ci_upper - t.ci_lower < adhoc.ci_upper - adhoc.ci_lower).all()


def test_identical_estimates_fall_back_with_a_warning() -> None:
    yi = np.array([0.4, 0.4, 0.4, 0.1, 0.3, 0.5])
    vi = np.array([0.01, 0.02, 0.03, 0.01, 0.02, 0.03])
    groups = ["same"] * 3 + ["spread"] * 3
    with pytest.warns(metapool.MetapoolWarning, match=r"HKSJ variance is 0 .* in 1 of 2 analyses"):
        res = metapool.pool(yi, vi, groups, hksj=True)
    wald = metapool.pool(yi[:3], vi[:3])
    assert res.estimate[0] == pytest.approx(0.4, rel=1e-15)
    assert res.se[0] == pytest.approx(float(wald.se[0]), rel=1e-14)
    # a t interval with the Wald SE, not one of zero width
    assert res.ci_upper[0] - res.ci_lower[0] == pytest.approx(
        2 * 4.302652729749462 * float(wald.se[0]), rel=1e-12
    )
    assert math.isfinite(res.z[0]) and res.z[0] == pytest.approx(0.4 / float(wald.se[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metapool.pool(yi, vi, groups, hksj="adhoc")  # the rule asked for: nothing to say


@pytest.mark.parametrize("hksj", [True, "adhoc"])
def test_one_study_reports_its_own_result(hksj: Any) -> None:
    res = metapool.pool([0.3, 0.1, 0.5, 0.2], [0.04, 0.02, 0.03, 0.05], [1, 2, 2, 2], hksj=hksj)
    z = 1.959963984540054
    assert res.se[0] == pytest.approx(0.2, rel=1e-15)
    assert res.ci_lower[0] == pytest.approx(0.3 - z * 0.2, rel=1e-14)
    assert res.ci_upper[0] == pytest.approx(0.3 + z * 0.2, rel=1e-14)
    assert res.z[0] == pytest.approx(1.5, rel=1e-14)
    assert res.p_value[0] == pytest.approx(0.13361440253771617, rel=1e-12)
    assert res.df[0] == 0


def test_subgroup_differences_use_a_one_study_subgroup_as_without_hksj() -> None:
    studies = [
        metapool.Generic("A 2001", 0.2, 0.1, subgroup="one"),
        metapool.Generic("B 2002", -0.4, 0.15, subgroup="many"),
        metapool.Generic("C 2003", -0.1, 0.2, subgroup="many"),
        metapool.Generic("D 2004", -0.6, 0.12, subgroup="many"),
    ]
    plain = metapool.analyse(studies, "MD", model="random", tau2="REML")
    knha = metapool.analyse(studies, "MD", model="random", tau2="REML", hksj=True)
    one = knha.subgroups["one"].total
    assert (one.estimate, one.ci_lower, one.ci_upper) == pytest.approx(
        (0.2, 0.2 - 1.959963984540054 * 0.1, 0.2 + 1.959963984540054 * 0.1), rel=1e-14
    )
    assert one == plain.subgroups["one"].total
    # the test for subgroup differences: fixed-effect Q over the subgroup totals
    many = knha.subgroups["many"].total
    w = np.array([1 / 0.1**2, 1 / many.se**2])
    y = np.array([0.2, many.estimate])
    q = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
    assert knha.subgroup_differences is not None
    assert knha.subgroup_differences.q == pytest.approx(q, rel=1e-12)
    assert knha.subgroup_differences.p_value < 0.05


def test_hksj_option_values() -> None:
    random = {"measure": "MD", "model": "random"}
    assert resolve(DataType.GENERIC, **random, hksj="adhoc").hksj == "adhoc"
    assert resolve(DataType.GENERIC, **random, hksj=True).hksj is True
    for bad in ("yes", 1, None, "knha"):
        with pytest.raises(metapool.InputError, match="hksj must be True, False or 'adhoc'"):
            metapool.pool([0.1, 0.2], [0.01, 0.02], hksj=bad)


def test_non_convergence_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from metapool.pooling import tau2

    monkeypatch.setattr(tau2, "MAXITER", 1)
    yi = np.array([0.1, 0.5, -0.3, 0.9, 0.2, 0.4, 0.0, 0.3])
    vi = np.full(8, 0.02)
    with pytest.warns(metapool.MetapoolWarning, match=r"did not converge in 2 of 2 analyses"):
        res = metapool.pool(yi, vi, np.repeat([0, 1], 4), tau2="PM")
    assert not res.converged.any()
