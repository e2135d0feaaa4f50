"""GOSH (MetaAnalysis.gosh): against metafor's gosh() and against pool on the same subsets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _helpers import assert_close, load_reference

import metapool
from metapool.diagnostics.gosh import subsets

CASES = load_reference("gosh_cases.json")["cases"]


def analysis(case: dict[str, Any]) -> metapool.MetaAnalysis:
    data, options = case["data"], dict(case["options"])
    if "tables" in data:
        studies: list[Any] = [
            metapool.Dichotomous(t["study"], t["ai"], t["n1i"], t["ci"], t["n2i"])
            for t in data["tables"]
        ]
    else:
        studies = [metapool.Generic(g["study"], g["yi"], g["sei"]) for g in data["generic"]]
        options["ratio"] = False
    return metapool.analyse(studies, **options)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_gosh_matches_metafor(case: dict[str, Any]) -> None:
    g = analysis(case).gosh()
    expected = case["subsets"]
    assert g.exact and len(g) == len(expected)
    iterative = case["options"].get("tau2") in ("REML", "PM")
    rtol = 1e-8 if iterative else 1e-10
    for i, row in enumerate(expected):
        assert np.flatnonzero(g.membership[i]).tolist() == row["members"]  # metafor's order
        assert g.k[i] == row["k"]
        assert_close(f"{i} estimate", g.estimate[i], row["estimate"], rtol=rtol, atol=1e-12)
        assert_close(f"{i} q", g.q[i], row["q"], rtol=1e-10, atol=1e-12)
        assert_close(f"{i} tau2", g.tau2[i], row["tau2"], rtol=rtol, atol=1e-10)
        if row["k"] >= 2:  # metafor reports I² = 0 and H² = 1 for one study; metapool NaN
            assert_close(f"{i} i2", g.i2[i], row["i2"], rtol=rtol, atol=1e-8)
            assert_close(f"{i} h2", g.h2[i], row["h2"], rtol=rtol, atol=1e-10)
        else:
            assert np.isnan(g.i2[i]) and np.isnan(g.h2[i])


def flat(membership: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    owner, rows = np.nonzero(membership)
    return rows, owner


@pytest.mark.parametrize("tau2", metapool.TAU2_METHODS)
def test_gosh_equals_pool_on_the_same_subsets(tau2: str) -> None:
    rng = np.random.default_rng(8)
    y, se = rng.normal(0.2, 0.4, 11), rng.uniform(0.1, 0.4, 11)
    studies = [
        metapool.Generic(f"s{i}", float(a), float(b))
        for i, (a, b) in enumerate(zip(y, se, strict=True))
    ]
    res = metapool.analyse(studies, measure="MD", ratio=False, model="random", tau2=tau2, i2="tau2")
    g = res.gosh()
    assert g.exact and len(g) == 2**11 - 1
    rows, owner = flat(g.membership)
    ref = metapool.pool(y[rows], se[rows] ** 2, groups=owner, tau2=tau2, i2="tau2")
    for name in ("estimate", "q", "i2", "h2", "tau2", "k"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-12, atol=1e-15)
    # the whole set is the analysis itself
    assert g.estimate[-1] == pytest.approx(res.total.estimate, rel=1e-12)
    assert g.tau2[-1] == pytest.approx(res.heterogeneity.tau2, rel=1e-10, abs=1e-15)


@pytest.mark.parametrize(
    ("measure", "method", "model"),
    [
        ("OR", "MH", "random"),
        ("RR", "MH", "fixed"),
        ("RD", "MH", "random"),
        ("PETO_OR", "PETO", "fixed"),
    ],
)
def test_gosh_refits_mantel_haenszel_and_peto(measure: str, method: str, model: str) -> None:
    # zero cells and a double zero (not estimable, so not in any subset but for RD)
    cells = [
        (4, 50, 9, 51),
        (0, 30, 3, 31),
        (12, 80, 20, 79),
        (0, 20, 0, 22),
        (7, 40, 6, 41),
        (2, 60, 8, 58),
    ]
    studies = [metapool.Dichotomous(f"t{i}", *c) for i, c in enumerate(cells)]
    res = metapool.analyse(studies, measure=measure, method=method, model=model)
    g = res.gosh()
    estimable = [s.study for s in res.studies if s.estimable]
    assert list(g.studies) == estimable
    table = np.array([cells[int(name[1:])] for name in estimable], dtype=float)
    rows, owner = flat(g.membership)
    ref = metapool.pool_tables(
        *table[rows].T, groups=owner, measure=measure, method=method, model=model
    )
    for name in ("estimate", "q", "i2", "tau2", "k"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-12, atol=1e-15)
    back = np.exp if res.settings.ratio else (lambda x: x)
    assert back(g.estimate[-1]) == pytest.approx(res.total.estimate, rel=1e-12)
    assert g.q[-1] == pytest.approx(res.heterogeneity.q, rel=1e-12)


def test_random_subsets_are_distinct_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    y, se = rng.normal(0, 0.3, 25), rng.uniform(0.1, 0.3, 25)
    studies = [
        metapool.Generic(f"s{i}", float(a), float(b))
        for i, (a, b) in enumerate(zip(y, se, strict=True))
    ]
    res = metapool.analyse(studies, measure="MD", ratio=False, model="random")
    g = res.gosh(max_subsets=5000, seed=3)
    assert not g.exact and len(g) == 5000 and g.membership.shape == (5000, 25)
    assert len(np.unique(g.membership, axis=0)) == 5000 and g.membership.any(axis=1).all()
    assert (np.diff(g.k) >= 0).all()  # ordered by size
    # uniform over subsets: each study in about half of them
    assert np.abs(g.membership.mean(axis=0) - 0.5).max() < 0.05
    again = res.gosh(max_subsets=5000, seed=3)
    np.testing.assert_array_equal(g.membership, again.membership)
    np.testing.assert_array_equal(g.estimate, again.estimate)
    rows, owner = flat(g.membership)
    ref = metapool.pool(y[rows], se[rows] ** 2, groups=owner)
    np.testing.assert_allclose(g.estimate, ref.estimate, rtol=1e-12)
    # beyond int64 codes: rows of bits, still distinct
    m, exact = subsets(70, max_subsets=300, seed=1)
    assert not exact and m.shape == (300, 70) and len(np.unique(m, axis=0)) == 300


def test_subsets_exact_and_errors() -> None:
    m, exact = subsets(4)
    assert exact and m.shape == (15, 4)
    assert m.sum(axis=1).tolist() == [1] * 4 + [2] * 6 + [3] * 4 + [4]
    assert len(np.unique(m, axis=0)) == 15
    m, exact = subsets(4, max_subsets=15)
    assert exact
    m, exact = subsets(4, max_subsets=14, seed=0)
    assert not exact and len(np.unique(m, axis=0)) == 14
    with pytest.raises(metapool.InputError, match="max_subsets must be at least 1"):
        subsets(4, max_subsets=0)
    with pytest.raises(metapool.InputError, match="max_subsets must be an integer"):
        subsets(4, max_subsets=1.5)  # type: ignore[arg-type]
    none = metapool.analyse([metapool.Dichotomous("a", 0, 10, 0, 10)], measure="OR")
    with pytest.raises(metapool.InputError, match="has none"):
        none.gosh()


def test_gosh_plot_shows_every_subset_of_two_or_more() -> None:
    pytest.importorskip("matplotlib")
    res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH", model="random")
    g = res.gosh()
    fig = g.plot()
    main, top, right = fig.axes
    points = main.collections[0]
    assert points.get_gid() == "subsets"
    xy = points.get_offsets()
    multi = g.k >= 2
    assert len(xy) == int(multi.sum()) == 120
    np.testing.assert_allclose(xy[:, 0], np.exp(g.estimate[multi]))
    np.testing.assert_allclose(xy[:, 1], g.i2[multi])
    assert main.get_xscale() == "log" and main.get_ylabel() == "I² (%)"
    assert main.get_xlabel() == "Odds Ratio (log scale)"
    # margins: histograms and a density curve each, the density integrating to about 1
    (curve,) = [line for line in top.get_lines() if line.get_gid() == "estimate density"]
    x, d = curve.get_data()
    assert np.trapezoid(d, np.log(x)) == pytest.approx(1, abs=0.05)
    (curve,) = [line for line in right.get_lines() if line.get_gid() == "I2 density"]
    d, y = curve.get_data()
    assert (d >= 0).all() and y[np.argmax(d)] < 5  # most subsets have I² = 0
    assert len(top.patches) == 40 and len(right.patches) == 40
    assert "120 subsets of 2 to 7 studies" in top.get_title()
    one = metapool.analyse(metapool.examples.aspirin()[:1], measure="OR")
    with pytest.raises(metapool.InputError, match="at least 2 studies"):
        one.gosh().plot()
