"""metapool.prepare against R meta's conversion code and the Handbook's formulas, and invariants."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import metapool
from metapool import InputError, MetapoolWarning
from metapool import prepare as mp

CASES = json.loads((Path(__file__).parent / "reference" / "prepare_cases.json").read_text())
RTOL = 1e-10


def close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=RTOL)


@pytest.mark.parametrize(
    "case",
    CASES["quantiles"],
    ids=lambda c: f"{c['scenario']}-{c['mean_method']}-{c['sd_method']}",
)
def test_quantiles_match_meta(case: dict[str, Any]) -> None:
    kw = {k: case[k] for k in ("q1", "q3", "minimum", "maximum") if k in case}
    mean, sd = mp.mean_sd_from_quantiles(
        case["n"],
        case["median"],
        mean_method=case["mean_method"],
        sd_method=case["sd_method"],
        **kw,
    )
    close(mean, case["mean"])
    close(sd, case["sd"])


def test_quantiles_scenario_per_element() -> None:
    # NaN marks what an element did not report; each element uses the richest summary
    five = CASES["quantiles"][2]
    assert five["scenario"] == "five" and five["mean_method"] == "Luo"
    iqr = CASES["quantiles"][1]
    rng = CASES["quantiles"][0]
    q1 = np.array(five["q1"])
    q3 = np.array(five["q3"])
    lo = np.array(five["minimum"])
    hi = np.array(five["maximum"])
    q1[::3] = np.nan  # range only
    lo[1::3] = np.nan  # quartiles only
    res = mp.mean_sd_from_quantiles(five["n"], five["median"], q1=q1, q3=q3, minimum=lo, maximum=hi)
    expected = np.array(five["mean"])
    expected[::3] = np.array(rng["mean"])[::3]
    expected[1::3] = np.array(iqr["mean"])[1::3]
    close(res.mean, expected)
    notes = res.describe()
    assert notes[0] == "mean (Luo 2018) and SD (Wan 2014) from median and range, n = 2"
    assert notes[1] == "mean (Luo 2018) and SD (Wan 2014) from median and quartiles, n = 3"
    assert notes[2] == "mean (Luo 2018) and SD (Shi 2020) from median, quartiles and range, n = 4"


def test_quantiles_small_table_values() -> None:
    # n = 5: Wan's Table 1 gives 2.326 for the range, Table 2 (Q = 1) 0.990 for the IQR
    assert float(mp.mean_sd_from_quantiles(5, 3.0, minimum=1.0, maximum=8.0).sd) == 7 / 2.326
    assert float(mp.mean_sd_from_quantiles(5, 3.0, q1=2.0, q3=4.0).sd) == 2 / 0.990


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q1": [1, 5], "q3": [4, 6]}, r"q1\[1\] = 5.0 is above|median\[1\] = 3.0 is below q1"),
        ({"q1": 1, "q3": 1}, "q3 = 1.0 is not above q1 = 1.0"),
        ({"minimum": 4, "maximum": 9}, "median = 3.0 is below minimum = 4.0"),
        ({}, "give q1 and q3"),
        ({"minimum": 1}, "give minimum and maximum together"),
        ({"q1": [1, np.nan], "q3": [4, 5]}, r"median\[1\] = 3.0: neither both quartiles"),
        ({"q1": 1, "q3": 4, "mean_method": "Hozo"}, "mean_method = 'Hozo'; allowed"),
    ],
)
def test_quantiles_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        mp.mean_sd_from_quantiles(20, 3.0, **kwargs)


def test_quantiles_n_checked() -> None:
    with pytest.raises(InputError, match=r"n\[1\] = 1.0 is less than 2"):
        mp.mean_sd_from_quantiles([10, 1], 3.0, q1=1, q3=4)
    with pytest.raises(InputError, match=r"n = 10.5 is not a whole number"):
        mp.mean_sd_from_quantiles(10.5, 3.0, q1=1, q3=4)


@pytest.mark.parametrize("case", CASES["sd_from_ci"], ids=lambda c: f"{c['distribution']}")
def test_sd_from_ci(case: dict[str, Any]) -> None:
    res = mp.sd_from_ci(
        case["lower"], case["upper"], case["n"], case["ci_level"], case["distribution"]
    )
    close(res.sd, case["sd"])


def test_sd_from_ci_notes_and_errors() -> None:
    assert mp.sd_from_ci(1.0, 3.0, 12).describe() == "SD from 95% CI, t with 11 df"
    assert mp.sd_from_ci(1.0, 3.0, 12, 0.9, "z").describe() == "SD from 90% CI, normal quantile"
    with pytest.raises(InputError, match=r"sd_from_ci: upper\[2\] = 1.0 is below lower\[2\] = 3.0"):
        mp.sd_from_ci([1, 1, 3], [2, 2, 1], 10)
    with pytest.raises(InputError, match="distribution = 'normal'; allowed: 't', 'z'"):
        mp.sd_from_ci(1, 2, 10, distribution="normal")
    with pytest.raises(InputError, match="ci_level = 95 must be between 0 and 1"):
        mp.sd_from_ci(1, 2, 10, ci_level=95)
    with pytest.raises(InputError, match=r"lower\[1\] = nan is not finite"):
        mp.sd_from_ci([1, np.nan], 2, 10)
    with pytest.raises(InputError, match="do not broadcast"):
        mp.sd_from_ci([1, 2], [3, 4, 5], 10)


def test_sd_from_se() -> None:
    sd = mp.sd_from_se(np.array([[0.5], [2.0]]), np.array([4, 9, 16])).sd
    assert sd.shape == (2, 3)
    assert sd.tolist() == [[1.0, 1.5, 2.0], [4.0, 6.0, 8.0]]
    with pytest.raises(InputError, match=r"sd_from_se: se = -1\.0 is negative"):
        mp.sd_from_se(-1.0, 10)


@pytest.mark.parametrize(
    "case", CASES["sd_from_difference"], ids=lambda c: f"{c['route']}-{c.get('distribution')}"
)
def test_sd_from_difference(case: dict[str, Any]) -> None:
    kw = {k: case[k] for k in ("se", "lower", "upper", "difference", "t", "p") if k in case}
    for k in ("ci_level", "distribution"):
        if k in case:
            kw[k] = case[k]
    res = mp.sd_from_difference(case["n_exp"], case["n_ctrl"], **kw)
    close(res.sd, case["sd"])


def test_sd_from_difference_routes_checked() -> None:
    with pytest.raises(InputError, match=r"exactly one of .*got se, t"):
        mp.sd_from_difference(10, 10, se=1.0, t=2.0, difference=1.0)
    with pytest.raises(InputError, match="t needs the mean difference"):
        mp.sd_from_difference(10, 10, t=2.0)
    with pytest.raises(InputError, match="give both lower and upper"):
        mp.sd_from_difference(10, 10, lower=1.0)
    with pytest.raises(InputError, match=r"p\[1\] = 1.0 must be between 0 and 1"):
        mp.sd_from_difference(10, 10, difference=1.0, p=[0.5, 1.0])
    note = mp.sd_from_difference(10, 12, difference=1.0, p=0.04).describe()
    assert note == "SD from P = 0.04 of the mean difference, t with 20 df"


def test_combine_matches_handbook_sequential() -> None:
    c = CASES["combine"]
    res = mp.combine_continuous(c["n"], c["mean"], c["sd"])
    close(res.n, c["expected"]["n"])
    close(res.mean, c["expected"]["mean"])
    close(res.sd, c["expected"]["sd"])
    events, total = mp.combine_dichotomous(c["events"], c["n"])
    close(events, c["expected"]["events"])
    close(total, c["expected"]["total"])


def test_combine_padding_arm() -> None:
    three = mp.combine_continuous([20, 21, 19], [5.2, 6.0, 6.9], [2.1, 2.4, 2.0])
    nan = np.nan
    padded = mp.combine_continuous([20, 21, 19, 0], [5.2, 6.0, 6.9, nan], [2.1, 2.4, 2.0, nan])
    assert float(padded.sd) == pytest.approx(float(three.sd), rel=1e-14)
    assert padded.describe() == "3 arms combined (Handbook Table 6.5.a)"
    with pytest.raises(InputError, match=r"sd\[1\] = nan in an arm with n > 0"):
        mp.combine_continuous([20, 21], [5.2, 6.0], [2.1, np.nan])
    with pytest.raises(InputError, match="last axis must index the arms"):
        mp.combine_continuous(20, 5.2, 2.1)
    with pytest.raises(InputError, match=r"total\[1\] = 3.0 is below events\[1\] = 4.0"):
        mp.combine_dichotomous([1, 4], [10, 3])


arm = st.tuples(
    st.integers(1, 500),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(0.01, 100, allow_nan=False),
)


@given(st.lists(arm, min_size=2, max_size=6), st.randoms(use_true_random=False))
def test_combine_order_free(arms: list[tuple[int, float, float]], rnd: Any) -> None:
    shuffled = list(arms)
    rnd.shuffle(shuffled)
    a = mp.combine_continuous(*map(list, zip(*arms, strict=True)))
    b = mp.combine_continuous(*map(list, zip(*shuffled, strict=True)))
    assert float(a.n) == float(b.n)
    assert float(a.mean) == pytest.approx(float(b.mean), rel=1e-9, abs=1e-9)
    assert float(a.sd) == pytest.approx(float(b.sd), rel=1e-9)
    # one arm after another, as the Handbook's table is applied, gives the same
    step = mp.combine_continuous(*map(list, zip(*arms[:2], strict=True)))
    for n, m, s in arms[2:]:
        step = mp.combine_continuous([step.n, n], [step.mean, m], [step.sd, s])
    assert float(step.sd) == pytest.approx(float(a.sd), rel=1e-9)


@given(
    st.floats(-1e4, 1e4),
    st.floats(1e-3, 1e3),
    st.integers(2, 10_000),
    st.sampled_from([0.9, 0.95, 0.99]),
    st.sampled_from(["t", "z"]),
)
def test_sd_from_ci_round_trip(mean: float, sd: float, n: int, level: float, dist: str) -> None:
    q = stats.t.ppf(0.5 + level / 2, n - 1) if dist == "t" else stats.norm.ppf(0.5 + level / 2)
    half = q * sd / math.sqrt(n)
    got = mp.sd_from_ci(mean - half, mean + half, n, level, dist).sd
    assert float(got) == pytest.approx(sd, rel=1e-6)


@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(-0.99, 0.99))
def test_change_round_trip(sdb: float, sdf: float, r: float) -> None:
    sdc = mp.sd_change(sdb, sdf, r).sd
    back = mp.correlation_from(sdb, sdf, sdc).correlation
    assert float(back) == pytest.approx(r, abs=1e-6)


@given(st.floats(0.01, 1e3), st.integers(2, 1000), st.integers(2, 1000))
def test_difference_routes_agree(sd: float, n1: int, n2: int) -> None:
    se = sd * math.sqrt(1 / n1 + 1 / n2)
    diff = 1.5 * se
    t = diff / se
    p = 2 * stats.t.sf(t, n1 + n2 - 2)
    q = stats.t.ppf(0.975, n1 + n2 - 2)
    for kw in (
        {"se": se},
        {"difference": diff, "t": t},
        {"difference": diff, "p": p},
        {"lower": diff - q * se, "upper": diff + q * se},
    ):
        assert float(mp.sd_from_difference(n1, n2, **kw).sd) == pytest.approx(sd, rel=1e-7)


@pytest.mark.parametrize("case", CASES["generic"], ids=lambda c: f"ratio={c['ratio']}")
def test_generic_from_ci(case: dict[str, Any]) -> None:
    est, se = mp.generic_from_ci(
        case["estimate"], case["lower"], case["upper"], case["ratio"], case["ci_level"]
    )
    close(est, case["expected_estimate"])
    close(se, case["expected_se"])


def test_generic_slips() -> None:
    with pytest.raises(InputError, match=r"lower\[1\] = -0.2 is not positive.*ratio=False"):
        mp.generic_from_ci([0.8, 0.1], [0.6, -0.2], [1.1, 0.4])
    with pytest.raises(InputError, match=r"upper = 0\.7 is below estimate = 0\.8"):
        mp.generic_from_ci(0.8, 0.6, 0.7)
    with pytest.warns(MetapoolWarning, match="symmetric on the log scale"):
        mp.generic_from_ci(0.5, 0.25, 1.0, ratio=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mp.generic_from_ci(0.5, 0.25, 0.75, ratio=False)


def test_generic_record_from_ci() -> None:
    rec = metapool.Generic.from_ci("Ahn 2021", 0.75, 0.58, 0.97, subgroup="high dose")
    assert rec.estimate == pytest.approx(math.log(0.75), rel=1e-15)
    assert rec.se == pytest.approx((math.log(0.97) - math.log(0.58)) / (2 * 1.959963984540054))
    assert rec.subgroup == "high dose"
    assert rec.footnote == "log ratio and SE from 95% CI"
    with pytest.raises(InputError, match=r"study 'Ahn 2021'.*lower = -0\.1 is not positive"):
        metapool.Generic.from_ci("Ahn 2021", 0.75, -0.1, 0.97)


def test_change_reference() -> None:
    c = CASES["change"]
    close(mp.sd_change(c["sd_baseline"], c["sd_final"], c["correlation"]).sd, c["sd_change"])
    close(
        mp.correlation_from(c["sd_baseline"], c["sd_final"], c["sd_change"]).correlation,
        c["correlation_back"],
    )
    with pytest.raises(InputError, match=r"correlation\[1\] = 1.5 is not between -1 and 1"):
        mp.sd_change(1.0, 1.0, [0.5, 1.5])
    with pytest.raises(InputError, match=r"sd_change = 5\.0 is impossible .* correlation = -11\.5"):
        mp.correlation_from(1.0, 1.0, 5.0)


def test_cluster_reference() -> None:
    c = CASES["cluster"]
    res = mp.effective_sample_size(c["n"], c["cluster_size"], c["icc"], events=c["events"])
    close(res.n, c["effective_n"])
    close(res.events, c["effective_events"])
    close(res.design_effect, c["design_effect"])
    close(mp.effective_events(c["events"], c["cluster_size"], c["icc"]).events,
          c["effective_events"])  # fmt: skip
    assert mp.effective_sample_size(100, 1, 0.3).events is None
    with pytest.raises(InputError, match=r"icc = 1.5 is not between 0 and 1"):
        mp.effective_sample_size(100, 10, 1.5)
    with pytest.raises(InputError, match=r"n\[0\] = 10.0 is below events\[0\] = 20.0"):
        mp.effective_sample_size([10], 10, 0.1, events=[20])


def test_results_unpack_in_field_order() -> None:
    n, mean, _ = mp.combine_continuous([10, 10], [1.0, 2.0], [1.0, 1.0])
    assert (float(n), float(mean)) == (20.0, 1.5)
    (only,) = mp.sd_from_se(1.0, 4)
    assert float(only) == 2.0
    assert isinstance(mp.sd_from_se(1.0, 4).sd, np.float64)


def test_cluster_results_unpack_their_counts_only() -> None:
    (n,) = mp.effective_sample_size(240, 20, 0.05)
    n2, events = mp.effective_sample_size(240, 20, 0.05, events=36)
    (ev,) = mp.effective_events(36, 20, 0.05)
    assert float(n) == float(n2) == pytest.approx(240 / 1.95, rel=1e-15)
    assert float(events) == float(ev) == pytest.approx(36 / 1.95, rel=1e-15)


@given(
    st.integers(2, 5000),
    st.floats(-100, 100),
    st.floats(0.01, 100),
    st.sampled_from(["Luo", "Wan"]),
    st.sampled_from(["Shi", "Wan"]),
)
def test_quantiles_are_location_scale_equivariant(
    n: int, shift: float, scale: float, mean_method: str, sd_method: str
) -> None:
    five = np.array([1.0, 3.0, 4.0, 6.5, 11.0])  # minimum, q1, median, q3, maximum

    def estimate(x: Any) -> Any:
        lo, q1, m, q3, hi = x
        return mp.mean_sd_from_quantiles(
            n, m, q1=q1, q3=q3, minimum=lo, maximum=hi,
            mean_method=mean_method, sd_method=sd_method,
        )  # fmt: skip

    base, moved = estimate(five), estimate(shift + scale * five)
    assert float(moved.mean) == pytest.approx(shift + scale * float(base.mean), rel=1e-9, abs=1e-9)
    assert float(moved.sd) == pytest.approx(scale * float(base.sd), rel=1e-9)


@given(st.floats(-5, 5), st.floats(1e-3, 3), st.sampled_from([0.9, 0.95, 0.99]))
def test_generic_from_ci_round_trip(log_ratio: float, se: float, level: float) -> None:
    z = stats.norm.ppf(0.5 + level / 2)
    ratio = mp.generic_from_ci(
        math.exp(log_ratio), math.exp(log_ratio - z * se), math.exp(log_ratio + z * se),
        ci_level=level,
    )  # fmt: skip
    assert float(ratio.estimate) == pytest.approx(log_ratio, rel=1e-12, abs=1e-12)
    assert float(ratio.se) == pytest.approx(se, rel=1e-9)
    diff = mp.generic_from_ci(log_ratio, log_ratio - z * se, log_ratio + z * se, False, level)
    assert float(diff.se) == pytest.approx(se, rel=1e-9)


def test_describe_has_the_shape_of_the_result() -> None:
    res = mp.generic_from_ci([[0.8, 0.7]], [[0.6, 0.5]], [[1.1, 0.9]])
    assert res.describe().shape == (1, 2)
    assert res.describe().tolist() == [["log ratio and SE from 95% CI"] * 2]
    assert mp.sd_from_ci([1.0, 2.0], 3.0, 10, distribution="z").describe().shape == (2,)
    combined = mp.combine_dichotomous([[1, 2], [3, 0]], [[10, 10], [10, 0]])
    assert combined.describe().tolist() == [
        "2 arms combined (Handbook Table 6.5.a)",
        "1 arm combined (Handbook Table 6.5.a)",
    ]
    assert isinstance(mp.sd_from_se(1.0, 4).describe(), str)
