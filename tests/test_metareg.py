"""metapool.metareg: batches, invariances, inputs, permutation tests, the analysis method, plots."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metapool
from metapool.regression import design_matrix

METHODS = ["DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS"]
FIELDS = ("coef", "se", "z", "p_value", "ci_lower", "ci_upper", "tau2", "qe", "qm", "qm_p", "i2")


def ragged(seed: int, groups: int = 6) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    k = rng.integers(5, 14, size=groups)
    n = int(k.sum())
    x1, x2 = rng.normal(size=n), rng.uniform(0, 5, size=n)
    v = rng.uniform(0.01, 0.3, size=n)
    y = 0.2 + 0.3 * x1 - 0.1 * x2 + rng.normal(size=n) * np.sqrt(v + rng.uniform(0, 0.3))
    g = np.repeat(np.array(list("abcdefghij"[:groups])), k)
    return {"yi": y, "vi": v, "moderators": {"x1": x1, "x2": x2}, "groups": g}


def assert_same(a: metapool.MetaRegression, b: metapool.MetaRegression, rtol: float) -> None:
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=rtol, atol=1e-12, err_msg=f)


@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_one_at_a_time(method: str) -> None:
    data = ragged(1)
    res = metapool.metareg(**data, tau2=method)
    assert res.estimable.all() and res.converged.all()
    for g, label in enumerate(res.groups):
        rows = data["groups"] == label
        one = metapool.metareg(
            data["yi"][rows],
            data["vi"][rows],
            {name: x[rows] for name, x in data["moderators"].items()},
            tau2=method,
        )
        for f in FIELDS:
            np.testing.assert_allclose(
                getattr(res, f)[g], getattr(one, f)[0], rtol=1e-9, atol=1e-13, err_msg=f
            )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(1e-3, 1e3),
    method=st.sampled_from(METHODS),
    hksj=st.sampled_from([False, True, "adhoc"]),
)
def test_scale_equivariance(seed: int, scale: float, method: str, hksj: Any) -> None:
    data = ragged(seed, groups=3)
    a = metapool.metareg(**data, tau2=method, hksj=hksj)
    b = metapool.metareg(
        data["yi"] * scale, data["vi"] * scale**2, data["moderators"], data["groups"],
        tau2=method, hksj=hksj,
    )  # fmt: skip
    np.testing.assert_allclose(b.coef, a.coef * scale, rtol=1e-6, atol=1e-12 * scale)
    np.testing.assert_allclose(b.se, a.se * scale, rtol=1e-6)
    np.testing.assert_allclose(b.tau2, a.tau2 * scale**2, rtol=1e-6, atol=1e-10 * scale**2)
    for f in ("z", "qe", "qm", "qm_p", "i2"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-5, atol=1e-8, err_msg=f)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), method=st.sampled_from(["FE", *METHODS]))
def test_study_order_does_not_matter(seed: int, method: str) -> None:
    data = ragged(seed, groups=4)
    order = np.random.default_rng(seed).permutation(data["yi"].size)
    model = {"model": "fixed"} if method == "FE" else {"tau2": method}
    a = metapool.metareg(**data, **model)
    b = metapool.metareg(
        data["yi"][order],
        data["vi"][order],
        {name: x[order] for name, x in data["moderators"].items()},
        data["groups"][order],
        **model,
    )
    assert_same(a, b, rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shift=st.floats(-1e3, 1e3),
    stretch=st.floats(0.01, 100).map(lambda s: s * np.random.default_rng(0).choice([-1, 1])),
    method=st.sampled_from(METHODS),
)
def test_affine_moderator(seed: int, shift: float, stretch: float, method: str) -> None:
    """x -> a + b·x leaves τ², QM, QE and the fitted values unchanged; the slope is b⁻¹ times."""
    data = ragged(seed, groups=3)
    x1 = data["moderators"]["x1"]
    a = metapool.metareg(**data, tau2=method)
    moved = {"x1": shift + stretch * x1, "x2": data["moderators"]["x2"]}
    b = metapool.metareg(data["yi"], data["vi"], moved, data["groups"], tau2=method)
    np.testing.assert_allclose(b.tau2, a.tau2, rtol=1e-6, atol=1e-10)
    for f in ("qm", "qe", "i2"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-6, atol=1e-8, err_msg=f)
    np.testing.assert_allclose(b.coef[:, 1] * stretch, a.coef[:, 1], rtol=1e-6, atol=1e-10)

    def fitted(r: metapool.MetaRegression, mods: dict[str, np.ndarray]) -> np.ndarray:
        design = np.column_stack([np.ones(x1.size), mods["x1"], mods["x2"]])
        return np.einsum("ij,ij->i", design, r.coef[r.study_group])

    np.testing.assert_allclose(fitted(b, moved), fitted(a, data["moderators"]), atol=1e-7)


def test_not_estimable_groups_stay_visible() -> None:
    y = np.array([0.1, 0.4, 0.2, 0.5, 0.3, 0.0, 0.2, 0.1, 0.3, 0.6, 0.2])
    v = np.full(y.size, 0.02)
    x = np.array([1.0, 2, 3, 4, 5, 1, 1, 1, 1, 2, 3])
    g = np.array(["ok"] * 5 + ["constant"] * 4 + ["small"] * 2)
    res = metapool.metareg(y, v, {"dose": x}, groups=g)
    assert res.groups.tolist() == ["constant", "ok", "small"]
    assert res.estimable.tolist() == [False, True, False]
    assert "collinear" in res.reason[0] and "k <= 2" in res.reason[2]
    assert np.isnan(res.coef[[0, 2]]).all() and np.isfinite(res.coef[1]).all()
    assert res.k.tolist() == [4.0, 5.0, 2.0]
    assert "Not estimable" in str(res)


def test_collinear_moderators() -> None:
    x = np.arange(8.0)
    res = metapool.metareg(np.sin(x), np.full(8, 0.1), {"a": x, "b": 2 * x - 1}, tau2="DL")
    assert not res.estimable[0] and "collinear" in res.reason[0]


def test_categorical_coding() -> None:
    names, x = design_matrix({"arm": np.array(["c", "a", "b", "a"]), "n": [1, 2, 3, 4]}, 4)
    assert names == ("arm=b", "arm=c", "n")
    np.testing.assert_array_equal(x[:, :2], [[0, 1], [0, 0], [1, 0], [0, 0]])
    names, _ = design_matrix(np.ones((4, 2)), 4)
    assert names == ("x1", "x2")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"arm": ["c", "a", "b", "a"], "n": [1, 2, 3, 4]})
    names, y = design_matrix(frame, 4)
    assert names == ("arm=b", "arm=c", "n")
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"moderators": {}}, "at least one"),
        ({"moderators": {"d": [1, 2]}}, "expected 5 values"),
        ({"moderators": {"d": [1, 2, np.nan, 4, 5]}}, "study 2"),
        ({"moderators": {"d": [1, 2, 3, 4, 5]}, "hksj": "yes"}, "hksj"),
        ({"moderators": {"d": [1, 2, 3, 4, 5]}, "tau2": "XX"}, "tau2"),
        ({"moderators": {"d": [1, 2, 3, 4, 5]}, "intercept": False}, "intercept"),
        ({"moderators": {"d": [1, 2, 3, 4, 5]}, "permutations": 1}, "at least 2"),
        ({"moderators": {"d": [1, 2, 3, 4, 5]}, "permutations": "all"}, "exact"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], message: str) -> None:
    y, v = [0.1, 0.3, 0.2, 0.5, 0.4], [0.01, 0.02, 0.02, 0.03, 0.01]
    with pytest.raises(metapool.InputError, match=message):
        metapool.metareg(y, v, **kwargs)


def test_permutations_reproducible_and_within_batch() -> None:
    data = ragged(3, groups=2)
    a = metapool.metareg(**data, tau2="DL", permutations=200, seed=5)
    b = metapool.metareg(**data, tau2="DL", permutations=200, seed=np.random.default_rng(5))
    c = metapool.metareg(**data, tau2="DL", permutations=200, seed=6)
    assert a.permutation_p is not None and c.permutation_p is not None
    np.testing.assert_array_equal(a.permutation_p, b.permutation_p)
    assert not np.array_equal(a.permutation_p, c.permutation_p)
    assert a.permutations == 200 and not a.exact
    # P-values are counts over 200, the observed order included: at least 1/200
    assert (a.permutation_p >= 1 / 200).all() and (a.permutation_p <= 1).all()
    np.testing.assert_allclose(a.permutation_p * 200, np.round(a.permutation_p * 200))
    # permutation P-values are more conservative than the model's here (k = 12 and 5)
    assert (a.permutation_p > a.p_value).all()
    assert a.permutation_p[0, 1] < 0.05


def test_exact_when_permutations_exceed_the_distinct_orders() -> None:
    y, v = [0.1, 0.3, 0.2, 0.5, 0.4], [0.01, 0.02, 0.02, 0.03, 0.01]
    mods = {"arm": ["a", "a", "b", "b", "b"]}  # 5!/(2!3!) = 10 distinct orders
    res = metapool.metareg(y, v, mods, tau2="DL", permutations=1000)
    assert res.exact and res.permutations == 10
    assert res.permutation_p is not None
    np.testing.assert_allclose(res.permutation_p * 10, np.round(res.permutation_p * 10))
    with pytest.raises(metapool.InputError, match="exact"):
        metapool.metareg(np.arange(12.0), np.ones(12), {"d": np.arange(12.0)}, permutations="exact")


def test_random_permutations_approach_the_exact_test() -> None:
    rng = np.random.default_rng(3)
    x1, x2 = rng.uniform(10, 55, 7), rng.integers(1948, 1981, 7).astype(float)
    v = rng.uniform(0.005, 0.4, 7)
    y = -0.02 * x1 + rng.normal(size=7) * np.sqrt(v + 0.05)
    mods = {"x1": x1, "x2": x2}
    exact = metapool.metareg(y, v, mods, permutations="exact")
    sampled = metapool.metareg(y, v, mods, permutations=4000, seed=0)
    assert exact.exact and exact.permutations == 5040 and not sampled.exact
    assert exact.permutation_p is not None and sampled.permutation_p is not None
    p = exact.permutation_p
    se = np.sqrt(p * (1 - p) / 4000)
    assert (np.abs(sampled.permutation_p - p) < 4 * se + 1e-3).all()


def test_permutations_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    y, v = [0.1, 0.3, 0.2, 0.5, 0.4, 0.7], [0.01, 0.02, 0.02, 0.03, 0.01, 0.02]
    mods = {"d": [1.0, 2, 3, 4, 5, 6]}
    whole = metapool.metareg(y, v, mods, tau2="REML", permutations="exact")
    module = importlib.import_module("metapool.regression._permutation")
    monkeypatch.setattr(module, "PERM_BLOCK", 25)  # 4 permutations a block
    blocks = metapool.metareg(y, v, mods, tau2="REML", permutations="exact")
    assert whole.permutations == blocks.permutations == 720
    assert whole.permutation_p is not None and blocks.permutation_p is not None
    np.testing.assert_array_equal(whole.permutation_p, blocks.permutation_p)
    np.testing.assert_array_equal(whole.permutation_qm_p, blocks.permutation_qm_p)


def test_without_intercept_every_level_of_the_first_factor() -> None:
    y, v = [0.1, 0.3, 0.2, 0.5, 0.4, 0.6], [0.01, 0.02, 0.02, 0.03, 0.01, 0.02]
    arm = ["a", "a", "b", "b", "c", "c"]
    cell = metapool.metareg(y, v, {"arm": arm}, tau2="DL", intercept=False)
    ref = metapool.metareg(y, v, {"arm": arm}, tau2="DL")
    assert cell.names == ("arm=a", "arm=b", "arm=c") and not cell.intercept
    # the same model: the level means are the intercept plus each difference
    np.testing.assert_allclose(cell.coef[0], ref.coef[0, 0] + np.r_[0, ref.coef[0, 1:]])
    np.testing.assert_allclose(cell.tau2, ref.tau2)
    np.testing.assert_allclose(cell.qe, ref.qe)
    assert cell.qm_df[0] == 3 and np.isnan(cell.r2[0])
    assert "Test of all coefficients: QM(df = 3)" in str(cell)


def test_fixed_effect_and_hksj() -> None:
    data = ragged(4, groups=2)
    fe = metapool.metareg(**data, model="fixed")
    assert (fe.tau2 == 0).all()
    kh = metapool.metareg(**data, model="random", tau2="DL", hksj=True)
    adhoc = metapool.metareg(**data, model="random", tau2="DL", hksj="adhoc")
    wald = metapool.metareg(**data, model="random", tau2="DL")
    np.testing.assert_array_equal(kh.coef, wald.coef)
    # ad hoc never narrower than Wald; knha may be
    assert (adhoc.se >= wald.se * (1 - 1e-12)).all()
    assert (np.isclose(adhoc.se, kh.se) | np.isclose(adhoc.se, wald.se)).all()
    assert (kh.qe_df == kh.k - 3).all() and (kh.qm_df == 2).all()


@pytest.fixture
def stem_cell() -> tuple[metapool.MetaAnalysis, list[str], list[int]]:
    studies = metapool.examples.stem_cell_oa_pain()
    res = metapool.analyse(studies, measure="MD", model="random")
    source = [s.subgroup or "" for s in studies]
    year = [int(s.study.split()[-1]) for s in studies]
    return res, source, year


def test_analysis_method(stem_cell: Any) -> None:
    res, source, year = stem_cell
    mr = res.metareg({"source": source, "year": year}, tau2="DL")
    assert mr.names == ("intercept", "source=Bone marrow", "source=Umbilical cord", "year")
    direct = metapool.metareg(res.effects.yi, res.effects.vi, {"source": source, "year": year},
                              tau2="DL")  # fmt: skip
    np.testing.assert_array_equal(mr.coef, direct.coef)
    text = str(mr)
    assert text.startswith("Meta-regression of the Mean Difference: 10 studies")
    assert "QM(df = 3)" in text and "source=Umbilical cord" in text
    with pytest.raises(metapool.InputError, match="one value per study"):
        res.metareg({"year": year[:-1]})


def test_analysis_with_a_study_not_estimable() -> None:
    trials = [*metapool.examples.aspirin(), metapool.Dichotomous("Zero", 0, 50, 0, 50)]
    res = metapool.analyse(trials, measure="OR", method="IV", model="random")
    dose = [1.0, 2, 3, 1, 2, 3, 1, 9]  # the last belongs to the study left out
    mr = res.metareg({"dose": dose}, tau2="DL")
    assert mr.k[0] == 7
    direct = metapool.metareg(res.effects.yi[:7], res.effects.vi[:7], {"dose": dose[:7]},
                              tau2="DL")  # fmt: skip
    np.testing.assert_allclose(mr.coef, direct.coef, rtol=1e-14)
    header = str(mr).splitlines()[0]
    assert header == (
        "Meta-regression of the Odds Ratio (coefficients on the log scale): 7 studies; "
        "not estimable, left out: Zero"
    )


def test_subgroup_model_with_common_tau2(stem_cell: Any) -> None:
    """A categorical moderator: the subgroup means under a common τ² (fixed: RevMan's)."""
    res, source, _ = stem_cell
    fe = res.metareg({"source": source}, model="fixed")
    # fixed effect: QM is RevMan's test for subgroup differences (inverse variance)
    fixed = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="MD")
    assert fixed.subgroup_differences is not None
    assert fe.qm[0] == pytest.approx(fixed.subgroup_differences.q, rel=1e-10)
    ref = fixed.subgroups["Adipose tissue"].total.estimate
    assert fe.coef[0, 0] == pytest.approx(ref, rel=1e-10)


def test_bubble(stem_cell: Any) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    res, _, year = stem_cell
    mr = res.metareg({"year": year}, tau2="DL")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = mr.bubble("year")
    ax = fig.axes[0]
    points = ax.collections[1]
    np.testing.assert_allclose(points.get_offsets()[:, 0], year)
    sizes = points.get_sizes()
    w = 1 / (mr.vi + mr.tau2[0])
    np.testing.assert_allclose(sizes, 400 * w / w.max())
    line = ax.lines[0].get_xydata()
    np.testing.assert_allclose(line[:, 1], mr.coef[0, 0] + mr.coef[0, 1] * line[:, 0])
    assert ax.get_xlabel() == "year"
    plt.close(fig)
    with pytest.raises(metapool.InputError, match="not in the model"):
        mr.bubble("dose")
