"""Small-study tests, trim-and-fill and sensitivity analyses against metafor (spec §9).

Two fixture files: ``diagnostics_cases.json`` (make_diagnostics.R: fixed effect and DL on
inverse-variance analyses) and ``diagnostics_extra.json`` (make_diagnostics_extra.R:
Mantel-Haenszel and Peto leave-one-out and cumulative runs, every τ² estimator, HKSJ,
other confidence levels, DFBETAS and metafor's influence marks). Numbers agree to 1e-8
relative, P-values to 1e-10 absolute. Hypothesis properties tie the batched re-analyses
to separate calls of :func:`metapool.analyse`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from _helpers import assert_close, load_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metapool
from metapool.diagnostics import Influence, Reanalysis, bias
from metapool.records import Continuous, Dichotomous, Generic
from metapool.results import MetaAnalysis

RTOL = 1e-8
ATOL = 1e-13  # for numbers that are 0 up to rounding (e.g. a centred estimate)
P_ATOL = 1e-10
# τ² at the boundary: metafor's Fisher scoring stops within its threshold of 0
BOUNDARY_ATOL = {"tau2": 1e-12, "tau2_del": 1e-12, "i2": 1e-9, "h2": 1e-11}

MAIN = load_reference("diagnostics_cases.json")["cases"]
EXTRA = load_reference("diagnostics_extra.json")["cases"]
CASES = MAIN + EXTRA
RATIO = {"OR", "RR", "PETO_OR", "HR"}


# -- building the analysis a case describes ---------------------------------------------


def analysis(case: dict[str, Any]) -> MetaAnalysis:
    labels = case["study_labels"]
    measure = case["measure"]
    model = case["model"]
    options: dict[str, Any] = {
        "measure": measure,
        "model": model,
        "method": case.get("method", "IV"),
        "tau2": (case.get("tau2_method") or "DL") if model == "random" else None,
        "hksj": case.get("hksj", False),
        "ci_level": case.get("ci_level", 0.95),
        # metafor's I² and H² come from τ² under random effects (equal to Q's for DL)
        "i2": "tau2" if model == "random" else "Q",
    }
    dt = case["data_type"]
    studies: Any
    if dt == "dichotomous":
        studies = [
            Dichotomous(
                s["study"], s["events_exp"], s["total_exp"], s["events_ctrl"], s["total_ctrl"]
            )
            for s in case["studies"]
        ]
    elif dt == "continuous":
        studies = [
            Continuous(
                s["study"],
                s["mean_exp"],
                s["sd_exp"],
                s["total_exp"],
                s["mean_ctrl"],
                s["sd_ctrl"],
                s["total_ctrl"],
            )
            for s in case["studies"]
        ]
    elif "studies" in case:
        studies = [Generic(s["study"], s["estimate"], s["se"]) for s in case["studies"]]
    else:
        studies = [
            Generic(name, y, math.sqrt(v))
            for name, y, v in zip(labels, case["yi"], case["vi"], strict=True)
        ]
    if dt == "generic":
        options["ratio"] = measure in RATIO
        if options["method"] == "IV":
            options.pop("method")
    res = metapool.analyse(studies, **options)
    es = res.effects
    ok = es.estimable
    assert [s.study for s in res.studies if s.estimable] == labels
    np.testing.assert_allclose(es.yi[ok], case["yi"], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(es.vi[ok], case["vi"], rtol=1e-13)
    return res


def is_ratio(case: dict[str, Any]) -> bool:
    return case["measure"] in RATIO


def analysis_scale(case: dict[str, Any], x: Any) -> Any:
    return np.log(x) if is_ratio(case) else np.asarray(x)


def check(name: str, actual: Any, expected: Any, *, p: bool = False) -> None:
    if p:
        assert_close(name, float(actual), expected, rtol=0, atol=P_ATOL)
    else:
        atol = BOUNDARY_ATOL.get(name.rpartition(":")[2], ATOL)
        assert_close(name, float(actual), expected, rtol=RTOL, atol=atol)


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


def having(key: str) -> list[dict[str, Any]]:
    return [c for c in CASES if key in c["expected"]]


@pytest.fixture(scope="module")
def analyses() -> dict[str, MetaAnalysis]:
    return {c["id"]: analysis(c) for c in CASES}


# -- small-study tests ------------------------------------------------------------------


@pytest.mark.parametrize("case", having("egger"), ids=ids(having("egger")))
def test_egger(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    got = analyses[case["id"]].egger(k_min=3)
    exp = case["expected"]["egger"]
    check("statistic", got.statistic, exp["statistic"])
    check("df", got.df, exp["df"])
    check("p_value", got.p_value, exp["p_value"], p=True)
    check("slope", got.slope, exp["bias"])
    check("slope_se", got.slope_se, exp["bias_se"])
    assert (got.bias, got.bias_se) == (got.slope, got.slope_se)
    check("intercept", got.intercept, exp["limit_estimate"])
    check("intercept_se", got.intercept_se, exp["fit_coefficients"]["intercept_se"])
    check("intercept_ci.lower", got.intercept_ci.lower, exp["limit_ci_lower"])
    check("intercept_ci.upper", got.intercept_ci.upper, exp["limit_ci_upper"])
    assert got.k == len(case["yi"])


@pytest.mark.parametrize("case", having("begg"), ids=ids(having("begg")))
def test_begg(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    got = analyses[case["id"]].begg(k_min=3)
    exp = case["expected"]["begg"]
    check("tau", got.statistic, exp["tau"])
    check("p_value", got.p_value, exp["p_value"], p=True)
    assert got.exact is not exp["ties"]


@pytest.mark.parametrize("case", having("peters"), ids=ids(having("peters")))
def test_peters(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    got = analyses[case["id"]].peters(k_min=3)
    exp = case["expected"]["peters"]
    for field in ("statistic", "df", "slope", "slope_se", "intercept", "intercept_se"):
        check(field, getattr(got, field), exp[field])
    check("p_value", got.p_value, exp["p_value"], p=True)


@pytest.mark.parametrize("case", having("harbord"), ids=ids(having("harbord")))
def test_harbord(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    res = analyses[case["id"]]
    if case["measure"] not in ("OR", "PETO_OR"):
        with pytest.raises(metapool.InputError, match="odds ratios"):
            res.harbord(k_min=3)
        return
    got = res.harbord(k_min=3)
    exp = case["expected"]["harbord"]
    check("statistic", got.statistic, exp["statistic"])
    check("df", got.df, exp["df"])
    check("p_value", got.p_value, exp["p_value"], p=True)
    check("slope", got.slope, exp["bias"])
    check("slope_se", got.slope_se, exp["bias_se"])


# -- trim and fill ----------------------------------------------------------------------

TRIMFILL = [(c, key) for c in CASES for key in c["expected"] if key.startswith("trimfill_")]


@pytest.mark.parametrize(("case", "key"), TRIMFILL, ids=[f"{c['id']}-{k}" for c, k in TRIMFILL])
def test_trimfill(case: dict[str, Any], key: str, analyses: dict[str, MetaAnalysis]) -> None:
    exp = case["expected"][key]
    side = None if exp["side_requested"] == "default" else exp["side_requested"]
    got = analyses[case["id"]].trimfill(exp["estimator"], side=side)
    assert got.k0 == exp["k0"]
    assert got.side == exp["side"]
    assert got.k == exp["k_total"]
    check("k0_se", got.k0_se, exp["se_k0"])
    t, h = got.total, got.heterogeneity
    for field in ("estimate", "ci_lower", "ci_upper"):
        check(field, analysis_scale(case, getattr(t, field)), exp[field])
    check("se", t.se, exp["se"])
    check("z", t.z, exp["z"])
    check("p_value", t.p_value, exp["p_value"], p=True)
    check("q", h.q, exp["q"])
    check("p_q", h.p_value, exp["p_q"], p=True)
    check("i2", h.i2, exp["i2"])
    check("tau2", h.tau2, exp["tau2"])
    np.testing.assert_allclose(got.filled_yi, exp["filled_yi"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got.filled_vi, exp["filled_vi"], rtol=RTOL)


# -- leave-one-out and cumulative -------------------------------------------------------


def check_steps(case: dict[str, Any], got: Reanalysis, steps: list[dict[str, Any]]) -> None:
    assert len(got) == len(steps)
    assert list(got.study) == [s["study"] for s in steps]
    for i, exp in enumerate(steps):
        for field in ("estimate", "ci_lower", "ci_upper"):
            check(f"{i}:{field}", analysis_scale(case, getattr(got, field)[i]), exp[field])
        for field in ("se", "z", "q", "i2", "tau2", "h2"):
            if field in exp:
                check(f"{i}:{field}", getattr(got, field)[i], exp[field])
        check(f"{i}:p_value", got.p_value[i], exp["p_value"], p=True)
        check(f"{i}:p_q", got.p_q[i], exp["p_q"], p=True)


@pytest.mark.parametrize("case", having("leave1out"), ids=ids(having("leave1out")))
def test_leave_one_out(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    check_steps(case, analyses[case["id"]].leave_one_out(), case["expected"]["leave1out"])


@pytest.mark.parametrize("case", having("cumul_input_order"), ids=ids(having("cumul_input_order")))
def test_cumulative_input_order(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    check_steps(case, analyses[case["id"]].cumulative(), case["expected"]["cumul_input_order"])


@pytest.mark.parametrize("case", having("cumul_ordered"), ids=ids(having("cumul_ordered")))
def test_cumulative_ordered(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    res = analyses[case["id"]]
    exp = case["expected"]["cumul_ordered"]
    labels = case["study_labels"]
    names = [labels[i - 1] for i in exp["order"]]
    check_steps(case, res.cumulative(names), exp["steps"])
    # the same order as a key function on the study rows
    rank = {name: i for i, name in enumerate(names)}
    by_key = res.cumulative(lambda s: rank[s.study])
    np.testing.assert_array_equal(by_key.estimate, res.cumulative(names).estimate)


# -- influence --------------------------------------------------------------------------

INFLUENCE_FIELDS = {
    "rstudent": "rstudent",
    "dffits": "dffits",
    "cook_d": "cook_d",
    "cov_r": "cov_r",
    "tau2_del": "tau2_del",
    "qe_del": "q_del",
    "hat": "hat",
    "weight": "weight",
    "dfbetas": "dfbetas",
}


@pytest.mark.parametrize("case", having("influence"), ids=ids(having("influence")))
def test_influence(case: dict[str, Any], analyses: dict[str, MetaAnalysis]) -> None:
    got: Influence = analyses[case["id"]].influence()
    rows = case["expected"]["influence"]
    assert list(got.study) == [r["study"] for r in rows]
    for i, exp in enumerate(rows):
        for key, field in INFLUENCE_FIELDS.items():
            if key in exp:
                check(f"{i}:{key}", getattr(got, field)[i], exp[key])
        if "inf" in exp:
            assert bool(got.influential[i]) is exp["inf"], f"{i}: influential"


# -- errors -----------------------------------------------------------------------------


def test_too_few_studies() -> None:
    two = metapool.analyse(metapool.examples.aspirin()[:2], measure="OR", method="MH")
    for method in ("egger", "begg", "peters", "harbord"):
        with pytest.raises(metapool.InputError, match="at least 3"):
            getattr(two, method)(k_min=2)
        with pytest.raises(metapool.InputError, match="at least k_min = 10"):
            getattr(two, method)()
    with pytest.raises(metapool.InputError, match="at least 3"):
        two.trimfill()
    one = metapool.analyse(metapool.examples.aspirin()[:1], measure="OR", method="MH")
    with pytest.raises(metapool.InputError, match="at least 2"):
        one.leave_one_out()
    with pytest.raises(metapool.InputError, match="at least 2"):
        one.influence()
    assert len(one.cumulative()) == 1


def test_bad_options() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    with pytest.raises(metapool.InputError, match="estimator"):
        res.trimfill("Q0")
    with pytest.raises(metapool.InputError, match="side"):
        res.trimfill(side="up")
    with pytest.raises(metapool.InputError, match="not in the analysis"):
        res.cumulative(["MRC-1", "Nobody"])
    with pytest.raises(metapool.InputError, match="leaves out"):
        res.cumulative(["MRC-1", "CDP"])
    with pytest.raises(metapool.InputError, match="sequence of study names"):
        res.cumulative("MRC-1")
    pain = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD")
    with pytest.raises(metapool.InputError, match="dichotomous"):
        pain.peters()
    rr = metapool.analyse(metapool.examples.aspirin(), measure="RR")
    with pytest.raises(metapool.InputError, match="odds ratios"):
        rr.harbord(k_min=7)
    for k_min in (0, -1, 2.5, True, "7", None):
        with pytest.raises(metapool.InputError, match="k_min must be a positive whole number"):
            res.egger(k_min=k_min)  # type: ignore[arg-type]


def test_non_estimable_studies_are_skipped() -> None:
    studies = [
        Dichotomous("A", 1, 10, 3, 10),
        Dichotomous("B", 0, 10, 0, 10),  # no events: not estimable for OR
        Dichotomous("C", 4, 20, 2, 20),
        Dichotomous("D", 5, 30, 9, 30),
    ]
    res = metapool.analyse(studies)
    assert res.leave_one_out().study == ("A", "C", "D")
    assert res.cumulative(["D", "B", "C", "A"]).study == ("D", "C", "A")
    assert res.influence().study == ("A", "C", "D")
    assert res.egger(k_min=3).k == res.peters(k_min=3).k == res.begg(k_min=3).k == 3
    with pytest.raises(metapool.InputError, match="repeats"):
        res.cumulative(["D", "C", "A", "A"])


def test_small_study_tests_need_ten_studies_by_default() -> None:
    """The Cochrane Handbook's advice: tests for funnel plot asymmetry only with k >= 10."""
    aspirin = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    for method in ("egger", "begg", "peters", "harbord"):
        with pytest.raises(metapool.InputError) as info:
            getattr(aspirin, method)()
        message = str(info.value)
        assert "at least k_min = 10 studies, the analysis has 7" in message
        assert "Cochrane Handbook (section 13.3.5.4)" in message and "k_min=7" in message
        assert getattr(aspirin, method)(k_min=7).k == 7
    # the studies in the regression count: Peters leaves out a study without events
    studies = [Dichotomous(f"s{i}", 2 + i, 40 + 7 * i, 4 + i, 41 + 5 * i) for i in range(10)]
    studies[0] = Dichotomous("s0", 0, 30, 0, 30)
    res = metapool.analyse(studies, measure="OR", method="MH")
    with pytest.raises(metapool.InputError, match="the analysis has 9"):
        res.egger()
    assert res.egger(k_min=9).k == 9
    ten = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD")
    assert ten.egger().k == ten.begg().k == 10
    assert ten.egger() == bias.egger(ten) == bias.egger(ten, k_min=10)
    with pytest.raises(metapool.InputError, match="at least k_min = 11 studies"):
        ten.egger(k_min=11)


def test_equal_precision_is_an_error() -> None:
    same = [Generic(f"s{i}", y, 0.2) for i, y in enumerate([0.1, 0.3, -0.2, 0.4])]
    res = metapool.analyse(same, measure="MD")
    with pytest.raises(metapool.InputError, match="same SE"):
        res.egger(k_min=4)
    with pytest.raises(metapool.InputError, match="same SE"):
        res.begg(k_min=4)


def test_records_print() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    assert "t = -0.9213, df = 5" in str(res.egger(k_min=7))
    assert "bias (slope): -0.7245" in str(res.egger(k_min=7))
    assert "Kendall's tau = -0.4286" in str(res.begg(k_min=7))
    assert "3 studies" in str(res.trimfill()) and "right side" in str(res.trimfill())
    loo = str(res.leave_one_out())
    assert loo.splitlines()[0] == "Leave-one-out analysis" and "ISIS-2" in loo
    assert "Cumulative analysis" in str(res.cumulative())
    text = str(res.influence()).splitlines()
    assert text[-1].startswith("ISIS-2") and text[-1].endswith("*")
    csv = res.leave_one_out().to_table("csv").splitlines()
    assert csv[0] == "Omitted study,k,OR,95% CI,P,Chi²,df,P(Chi²),I²"
    assert csv[6] == 'AMIS,6,0.870,"[0.812, 0.932]",0.00008,3.55,5,0.62,0%'
    assert res.influence()._repr_html_().startswith('<table class="metapool">')


# -- properties -------------------------------------------------------------------------

# effects and SEs on a grid of 0.001: realistic numbers, with ties
effects = st.lists(
    st.tuples(
        st.integers(-2000, 2000).map(lambda i: i / 1000),
        st.integers(50, 1500).map(lambda i: i / 1000),
    ),
    min_size=3,
    max_size=9,
)
MODELS = st.sampled_from(
    [
        {"model": "fixed"},
        {"model": "random", "tau2": "DL"},
        {"model": "random", "tau2": "REML"},
        {"model": "random", "tau2": "PM", "hksj": True},
        {"model": "random", "tau2": "SJ", "i2": "tau2"},
    ]
)
tables = st.lists(
    st.tuples(st.integers(0, 30), st.integers(1, 30), st.integers(0, 30), st.integers(1, 30)),
    min_size=3,
    max_size=8,
)
DICHOTOMOUS = st.sampled_from(
    [
        {"measure": "OR", "method": "MH"},
        {"measure": "RR", "method": "MH", "model": "random"},
        {"measure": "RD", "method": "MH"},
        {"measure": "PETO_OR", "method": "PETO"},
        {"measure": "OR", "method": "IV", "model": "random", "tau2": "ML"},
    ]
)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def generic(rows: list[tuple[float, float]]) -> list[Generic]:
    return [Generic(f"Study {i}", y, se) for i, (y, se) in enumerate(rows)]


def dichotomous(rows: list[tuple[int, int, int, int]]) -> list[Dichotomous]:
    return [
        Dichotomous(f"Trial {i}", min(e1, n1), n1, min(e2, n2), n2)
        for i, (e1, n1, e2, n2) in enumerate(rows)
    ]


def same(x: float, y: float) -> bool:
    """Equal to 1e-9 relative; NaN equals NaN (e.g. Egger's t of a perfect fit).

    A z beyond 1e12 is infinite in all but rounding: with identical effects the
    HKSJ variance is 0 or 1e-32 depending on the order of a sum.
    """
    if abs(x) > 1e12 and abs(y) > 1e12:
        return math.copysign(1.0, x) == math.copysign(1.0, y)
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def same_steps(batched: Reanalysis, i: int, alone: MetaAnalysis) -> None:
    t, h = alone.total, alone.heterogeneity
    expected = {
        "estimate": t.estimate,
        "ci_lower": t.ci_lower,
        "ci_upper": t.ci_upper,
        "se": t.se,
        "z": t.z,
        "p_value": t.p_value,
        "q": h.q,
        "p_q": h.p_value,
        "i2": h.i2,
        "h2": h.h2,
        "tau2": h.tau2,
        "k": float(alone.k),
    }
    for field, value in expected.items():
        got = float(getattr(batched, field)[i])
        assert same(got, value), f"step {i} {field}: {got} != {value}"


def check_leave_one_out(studies: list[Any], options: dict[str, Any]) -> None:
    res = metapool.analyse(studies, **options)
    if res.k < 2:
        return
    loo = res.leave_one_out()
    kept = [s.study for s in res.studies if s.estimable]
    assert list(loo.study) == kept
    for i, name in enumerate(kept):
        same_steps(loo, i, metapool.analyse([s for s in studies if s.study != name], **options))


@PROPERTY
@given(effects, MODELS)
def test_leave_one_out_is_each_subset_alone(
    rows: list[tuple[float, float]], model: dict[str, Any]
) -> None:
    check_leave_one_out(generic(rows), {"measure": "MD", **model})


@PROPERTY
@given(tables, DICHOTOMOUS)
def test_leave_one_out_keeps_the_method(
    rows: list[tuple[int, int, int, int]], options: dict[str, Any]
) -> None:
    check_leave_one_out(dichotomous(rows), options)


@PROPERTY
@given(tables, DICHOTOMOUS, st.randoms(use_true_random=False))
def test_cumulative_steps_are_prefixes(
    rows: list[tuple[int, int, int, int]], options: dict[str, Any], rnd: Any
) -> None:
    studies = dichotomous(rows)
    res = metapool.analyse(studies, **options)
    if res.k < 1:
        return
    names = [s.study for s in res.studies if s.estimable]
    rnd.shuffle(names)
    cum = res.cumulative(names)
    assert list(cum.study) == names
    same_steps(cum, len(names) - 1, res)  # the last step is the full analysis
    by_name = {s.study: s for s in studies}
    for i in range(len(names) - 1):
        same_steps(cum, i, metapool.analyse([by_name[n] for n in names[: i + 1]], **options))


@PROPERTY
@given(effects, MODELS, st.randoms(use_true_random=False))
def test_permuting_studies_changes_no_test(
    rows: list[tuple[float, float]], model: dict[str, Any], rnd: Any
) -> None:
    studies = generic(rows)
    shuffled = studies[:]
    rnd.shuffle(shuffled)
    a = metapool.analyse(studies, measure="MD", **model)
    b = metapool.analyse(shuffled, measure="MD", **model)
    if len({s.se for s in studies}) == 1:
        return
    r, s = a.begg(k_min=3), b.begg(k_min=3)
    assert same(r.statistic, s.statistic) and same(r.p_value, s.p_value)
    e, f = a.egger(k_min=3), b.egger(k_min=3)
    assert same(e.statistic, f.statistic) and same(e.p_value, f.p_value)
    for estimator in ("L0", "R0"):
        x, y = a.trimfill(estimator), b.trimfill(estimator)
        assert (x.k0, x.side) == (y.k0, y.side)
        assert same(x.total.estimate, y.total.estimate)
        np.testing.assert_allclose(
            np.sort(x.filled_yi), np.sort(y.filled_yi), rtol=1e-9, atol=1e-12
        )
