"""Invariants that must hold for any data (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import metapool
from metapool.pooling.design import Studies
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import _likelihood_step

COMBOS = [
    ("OR", "MH", "fixed"),
    ("OR", "MH", "random"),
    ("OR", "IV", "random"),
    ("RR", "MH", "fixed"),
    ("RR", "IV", "random"),
    ("RD", "MH", "random"),
    ("RD", "IV", "fixed"),
    ("PETO_OR", "PETO", "fixed"),
]


@st.composite
def arm(draw: Any) -> tuple[int, int]:
    total = draw(st.integers(1, 300))
    return draw(st.integers(0, total)), total


@st.composite
def dichotomous(draw: Any, min_size: int = 1, max_size: int = 12) -> list[metapool.Dichotomous]:
    n = draw(st.integers(min_size, max_size))
    studies = []
    for i in range(n):
        (e1, n1), (e2, n2) = draw(arm()), draw(arm())
        studies.append(metapool.Dichotomous(f"s{i}", e1, n1, e2, n2))
    return studies


@st.composite
def continuous(draw: Any, min_size: int = 2, max_size: int = 12) -> list[metapool.Continuous]:
    n = draw(st.integers(min_size, max_size))
    real = st.floats(-50, 50, allow_nan=False)
    sd = st.floats(0.1, 20)
    size = st.integers(2, 200)
    return [
        metapool.Continuous(
            f"s{i}", draw(real), draw(sd), draw(size), draw(real), draw(sd), draw(size)
        )
        for i in range(n)
    ]


def same(a: float, b: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def summary(res: metapool.MetaAnalysis) -> list[float]:
    t, h = res.total, res.heterogeneity
    return [t.estimate, t.ci_lower, t.ci_upper, t.se, t.p_value, h.q, h.i2, h.tau2]


@settings(max_examples=60, deadline=None)
@given(studies=dichotomous(), combo=st.sampled_from(COMBOS), data=st.data())
def test_study_order_does_not_matter(
    studies: list[Any], combo: tuple[str, str, str], data: Any
) -> None:
    measure, method, model = combo
    shuffled = data.draw(st.permutations(studies))
    a = metapool.analyse(studies, measure=measure, method=method, model=model)
    b = metapool.analyse(shuffled, measure=measure, method=method, model=model)
    assert all(same(x, y) for x, y in zip(summary(a), summary(b), strict=True))
    weights = {s.study: s.weight for s in a.studies}
    assert all(same(s.weight, weights[s.study]) for s in b.studies)


def swap(s: metapool.Dichotomous) -> metapool.Dichotomous:
    return metapool.Dichotomous(s.study, s.events_ctrl, s.total_ctrl, s.events_exp, s.total_exp)


@settings(max_examples=60, deadline=None)
@given(studies=dichotomous(), combo=st.sampled_from(COMBOS))
def test_swapping_arms_inverts_the_effect(studies: list[Any], combo: tuple[str, str, str]) -> None:
    measure, method, model = combo
    a = metapool.analyse(studies, measure=measure, method=method, model=model)
    b = metapool.analyse([swap(s) for s in studies], measure=measure, method=method, model=model)
    if measure == "RD":
        flip = [-b.total.estimate, -b.total.ci_upper, -b.total.ci_lower]
    else:
        flip = [1 / b.total.estimate, 1 / b.total.ci_upper, 1 / b.total.ci_lower]
    for x, y in zip([a.total.estimate, a.total.ci_lower, a.total.ci_upper], flip, strict=True):
        assert same(x, y, rtol=1e-8)
    assert same(a.total.z, -b.total.z, rtol=1e-8, atol=1e-9)
    assert same(a.heterogeneity.q, b.heterogeneity.q, rtol=1e-8, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    studies=continuous(), model=st.sampled_from(["fixed", "random"]), scale=st.floats(0.01, 1000)
)
def test_smd_is_scale_free_and_md_negates(studies: list[Any], model: str, scale: float) -> None:
    a = metapool.analyse(studies, measure="SMD", model=model)
    scaled = [
        metapool.Continuous(
            s.study,
            s.mean_exp * scale,
            s.sd_exp * scale,
            s.total_exp,
            s.mean_ctrl * scale,
            s.sd_ctrl * scale,
            s.total_ctrl,
        )
        for s in studies
    ]
    b = metapool.analyse(scaled, measure="SMD", model=model)
    pairs = zip(summary(a), summary(b), strict=True)
    assert all(same(x, y, rtol=1e-7, atol=1e-9) for x, y in pairs)
    swapped = [
        metapool.Continuous(
            s.study, s.mean_ctrl, s.sd_ctrl, s.total_ctrl, s.mean_exp, s.sd_exp, s.total_exp
        )
        for s in studies
    ]
    for measure in ("MD", "SMD"):
        x = metapool.analyse(studies, measure=measure, model=model).total
        y = metapool.analyse(swapped, measure=measure, model=model).total
        assert same(x.estimate, -y.estimate, rtol=1e-9, atol=1e-9)


# τ², HKSJ and prediction intervals are options of the random-effects model only
OPTIONS = st.one_of(
    st.fixed_dictionaries(
        {
            "model": st.just("random"),
            "tau2": st.sampled_from(metapool.TAU2_METHODS),
            "hksj": st.booleans(),
            "prediction": st.booleans(),
            "tau2_ci": st.booleans(),
            "i2": st.sampled_from(["Q", "tau2"]),
        }
    ),
    st.fixed_dictionaries(
        {"model": st.just("fixed"), "tau2_ci": st.booleans(), "i2": st.sampled_from(["Q", "tau2"])}
    ),
)


@st.composite
def batch(draw: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    n_groups = draw(st.integers(1, 6))
    sizes = [draw(st.integers(1, 8)) for _ in range(n_groups)]
    n = sum(sizes)
    yi = np.array(draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n)))
    vi = np.array(draw(st.lists(st.floats(1e-3, 2), min_size=n, max_size=n)))
    groups = np.repeat(np.array([f"g{j}" for j in range(n_groups)]), sizes)
    order = draw(st.permutations(range(n)))
    return yi[order], vi[order], groups[order]


FIELDS = (
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "z",
    "p_value",
    "q",
    "p_q",
    "i2",
    "h2",
    "tau2",
    "k",
)


@settings(max_examples=80, deadline=None)
@given(data=batch(), options=OPTIONS)
def test_batch_equals_each_group_alone(data: Any, options: dict[str, Any]) -> None:
    yi, vi, groups = data
    res = metapool.pool(yi, vi, groups, **options)
    for j, label in enumerate(res.groups):
        mine = groups == label
        alone = metapool.pool(yi[mine], vi[mine], **options)
        tol = (
            1e-7
            if options["model"] == "random" and options["tau2"] in ("REML", "ML", "PM", "EB")
            else 1e-10
        )
        for field in FIELDS:
            assert same(
                float(getattr(res, field)[j]), float(getattr(alone, field)[0]), rtol=tol, atol=1e-10
            ), field
    # labels of another type, sorting in the reverse order, change nothing but the order
    code = {label: 100 - 7 * j for j, label in enumerate(res.groups.tolist())}
    other = metapool.pool(yi, vi, np.array([code[g] for g in groups.tolist()]), **options)
    assert other.groups.tolist() == sorted(code.values())
    for j, label in enumerate(res.groups.tolist()):
        row = other.groups.tolist().index(code[label])
        for field in FIELDS:
            mine, theirs = float(getattr(res, field)[j]), float(getattr(other, field)[row])
            assert same(mine, theirs, rtol=1e-9, atol=1e-12), (field, label)


@settings(max_examples=30, deadline=None)
@given(data=batch())
def test_two_d_layout_equals_flat(data: Any) -> None:
    yi, vi, groups = data
    flat = metapool.pool(yi, vi, groups, tau2="REML")
    labels = flat.groups
    width = int(flat.k.max())
    y2 = np.full((width, labels.size), np.nan)
    v2 = np.full((width, labels.size), np.nan)
    for j, label in enumerate(labels):
        mine = groups == label
        y2[: mine.sum(), j] = yi[mine]
        v2[: mine.sum(), j] = vi[mine]
    two_d = metapool.pool(y2, v2, tau2="REML")
    assert np.allclose(two_d.estimate, flat.estimate, rtol=1e-8, equal_nan=True)
    assert np.allclose(two_d.tau2, flat.tau2, rtol=1e-8, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(data=batch(), reml=st.booleans())
def test_likelihood_estimators_reach_the_global_maximum(data: Any, reml: bool) -> None:
    yi, vi, groups = data
    res = metapool.pool(yi, vi, groups, tau2="REML" if reml else "ML")
    assert res.converged.all()
    labels, codes = np.unique(groups, return_inverse=True)
    studies = Studies(yi, vi, Segments(codes.astype(np.intp), labels.size))
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 50, 400)])
    best = np.full(labels.size, -np.inf)
    for t in grid:
        ll, _ = _likelihood_step(studies, np.full(labels.size, t), reml=reml, what="ll")
        best = np.maximum(best, ll)
    found, _ = _likelihood_step(studies, res.tau2, reml=reml, what="ll")
    multi = res.k >= 2
    assert (found[multi] >= best[multi] - 1e-9 * np.abs(best[multi])).all()
