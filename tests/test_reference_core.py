"""metapool.analyse against reference values computed in R (tests/reference/make_core.R).

Closed-form RevMan quantities agree to 1e-10 relative; P-values to 1e-12 absolute.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from _helpers import assert_close, load_reference

import metapool

CASES = load_reference("core_cases.json")["cases"]
RECORDS = {
    "dichotomous": metapool.Dichotomous,
    "continuous": metapool.Continuous,
    "o_minus_e": metapool.OMinusE,
    "generic": metapool.Generic,
}
RTOL = 1e-10
P_ATOL = 1e-12


def run(case: dict[str, Any]) -> metapool.MetaAnalysis:
    record = RECORDS[case["data_type"]]
    studies = [record(**s) for s in case["studies"]]
    options = {k: v for k, v in case["options"].items() if v is not None}
    return metapool.analyse(studies, **options)


def check_total(where: str, total: Any, expected: dict[str, Any] | None) -> None:
    if expected is None:
        assert not total.estimable, where
        return
    for field in ("estimate", "ci_lower", "ci_upper", "se", "z"):
        assert_close(
            f"{where}.{field}", getattr(total, field), expected[field], rtol=RTOL, atol=1e-14
        )
    assert_close(f"{where}.p_value", total.p_value, expected["p_value"], rtol=0, atol=P_ATOL)


def check_heterogeneity(where: str, het: Any, expected: dict[str, Any] | None) -> None:
    if expected is None:  # a subgroup with no estimable study
        assert all(math.isnan(getattr(het, f)) for f in ("q", "df", "p_value", "i2", "tau2")), where
        return
    for field in ("q", "df", "i2", "tau2"):
        assert_close(
            f"{where}.{field}", getattr(het, field), expected[field], rtol=RTOL, atol=1e-12
        )
    assert_close(f"{where}.p_value", het.p_value, expected["p_value"], rtol=0, atol=P_ATOL)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_against_reference(case: dict[str, Any]) -> None:
    res = run(case)
    exp = case["expected"]
    check_total("total", res.total, exp["total"])
    check_heterogeneity("heterogeneity", res.heterogeneity, exp["heterogeneity"])
    assert len(res.studies) == len(exp["studies"])
    for row, want in zip(res.studies, exp["studies"], strict=True):
        assert row.study == want["study"]
        assert row.estimable == want["estimable"], row.study
        for field in ("estimate", "ci_lower", "ci_upper", "se"):
            assert_close(
                f"{row.study}.{field}", getattr(row, field), want[field], rtol=RTOL, atol=1e-14
            )
        weight = want["weight"] if want["weight"] is not None else 0.0
        assert_close(f"{row.study}.weight", row.weight, weight, rtol=RTOL, atol=1e-12)
    assert set(res.subgroups) == set(exp["subgroups"])
    for name, sub_exp in exp["subgroups"].items():
        sub = res.subgroups[name]
        check_total(f"{name}.total", sub.total, sub_exp["total"])
        check_heterogeneity(f"{name}.heterogeneity", sub.heterogeneity, sub_exp["heterogeneity"])
        weights = [0.0 if w is None else w for w in sub_exp["weights"]]
        got = [s.weight for s in sub.studies]
        assert len(got) == len(weights)
        for g, w in zip(got, weights, strict=True):
            assert_close(f"{name}.weight", g, w, rtol=RTOL, atol=1e-12)
    diff = exp["subgroup_differences"]
    if diff is None:
        assert res.subgroup_differences is None
    else:
        d = res.subgroup_differences
        assert d is not None
        for field in ("q", "df", "i2"):
            assert_close(
                f"differences.{field}", getattr(d, field), diff[field], rtol=RTOL, atol=1e-12
            )
        assert_close("differences.p_value", d.p_value, diff["p_value"], rtol=0, atol=P_ATOL)


def test_reference_covers_revman_grid() -> None:
    """Every measure x method x model RevMan offers appears in the fixtures."""
    seen = {(c["options"]["measure"], c["options"]["method"], c["options"]["model"]) for c in CASES}
    grid = {
        (m, meth, mod)
        for m in ("OR", "RR", "RD")
        for meth in ("MH", "IV")
        for mod in ("fixed", "random")
    }
    grid |= {("PETO_OR", "PETO", "fixed"), ("MD", "IV", "fixed"), ("MD", "IV", "random")}
    grid |= {("SMD", "IV", "fixed"), ("SMD", "IV", "random")}
    assert grid <= seen, grid - seen
    assert any(math.isnan(run(c).heterogeneity.i2) for c in CASES if c["id"].startswith("k1_"))
