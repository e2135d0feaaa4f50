"""metapool.pool_tables (2x2 tables in batch) and workers= on pool and pool_tables."""

from __future__ import annotations

import math
import warnings
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metapool
from metapool.pooling import _workers
from metapool.pooling._workers import chunks, resolve_workers
from metapool.pooling.segments import Segments, factorize

COMBOS = [
    (measure, method, model)
    for measure in ("OR", "RR", "RD")
    for method in ("MH", "IV")
    for model in ("fixed", "random")
] + [("PETO_OR", "PETO", "fixed")]


@st.composite
def arm(draw: Any) -> tuple[int, int]:
    total = draw(st.integers(1, 60))
    # zero cells and all-event arms often, so that double zeros are common
    events = draw(st.one_of(st.just(0), st.just(total), st.integers(0, total)))
    return events, total


@st.composite
def batch(draw: Any) -> tuple[np.ndarray, list[str]]:
    """Tables (rows e1, n1, e2, n2) of ragged groups with unsorted labels, shuffled."""
    n_groups = draw(st.integers(1, 5))
    names = draw(st.permutations([f"g{j}" for j in range(n_groups)]))
    tables, labels = [], []
    for name in names:
        for _ in range(draw(st.integers(1, 6))):
            (e1, n1), (e2, n2) = draw(arm()), draw(arm())
            tables.append((e1, n1, e2, n2))
            labels.append(name)
    order = draw(st.permutations(range(len(tables))))
    return np.array([tables[i] for i in order], dtype=float), [labels[i] for i in order]


def alone(rows: np.ndarray, **options: Any) -> metapool.MetaAnalysis:
    studies = [metapool.Dichotomous(f"s{i}", *map(int, row)) for i, row in enumerate(rows)]
    return metapool.analyse(studies, **options)


def expected(res: metapool.MetaAnalysis) -> dict[str, float]:
    """The analysis' numbers under PoolResult's names, on the analysis scale."""
    log = math.log if res.settings.ratio else (lambda x: x)
    t, h = res.total, res.heterogeneity
    out = {
        "estimate": log(t.estimate),
        "ci_lower": log(t.ci_lower),
        "ci_upper": log(t.ci_upper),
        "se": t.se,
        "z": t.z,
        "p_value": t.p_value,
        "q": h.q,
        "df": h.df,
        "p_q": h.p_value,
        "i2": h.i2,
        "h2": h.h2,
        "tau2": h.tau2,
        "k": float(res.k),
    }
    if res.prediction is not None:
        out.update(pi_lower=log(res.prediction.lower), pi_upper=log(res.prediction.upper))
    if h.tau2_ci is not None:
        out.update(tau2_ci_lower=h.tau2_ci.lower, tau2_ci_upper=h.tau2_ci.upper)
    return out


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-13)


def with_nan(x: float) -> float:
    return math.nan if x is None else x


@settings(max_examples=150, deadline=None)
@given(
    data=batch(),
    combo=st.sampled_from(COMBOS),
    tau2=st.sampled_from(metapool.TAU2_METHODS),
    extras=st.fixed_dictionaries(
        {
            "hksj": st.booleans(),
            "prediction": st.booleans(),
            "ci_level": st.sampled_from([0.95, 0.9]),
            "i2": st.sampled_from(["Q", "tau2"]),
            "tau2_ci": st.booleans(),
        }
    ),
    workers=st.sampled_from([1, 2, 3]),
)
def test_every_group_equals_analyse_alone(
    data: tuple[np.ndarray, list[str]],
    combo: tuple[str, str, str],
    tau2: str,
    extras: dict[str, Any],
    workers: int,
) -> None:
    tables, labels = data
    measure, method, model = combo
    options = dict(measure=measure, method=method, model=model, tau2=tau2, **extras)
    if model == "fixed":  # random-effects options need model="random"
        options.update(tau2=None, hksj=False, prediction=False)
    res = metapool.pool_tables(*tables.T, groups=labels, workers=workers, **options)
    assert res.groups.tolist() == sorted(set(labels))
    for j, name in enumerate(res.groups):
        one = alone(tables[np.array(labels) == name], **options)
        for field, value in expected(one).items():
            got = float(getattr(res, field)[j])
            assert close(got, with_nan(value)), (name, field, got, value)


def test_zero_cells_and_double_zeros_as_analyse() -> None:
    # group 0: a double-zero study (not estimable for OR) and a zero cell; group 1 only
    # double zeros: k = 0 and NaN everywhere, as analyse
    e1, n1, e2, n2 = (
        np.array(x, dtype=float) for x in ([0, 0, 4], [10, 20, 30], [0, 3, 6], [12, 20, 30])
    )
    res = metapool.pool_tables(
        np.append(e1, 0),
        np.append(n1, 5),
        np.append(e2, 0),
        np.append(n2, 5),
        groups=[0, 0, 0, 1],
        measure="OR",
        method="MH",
    )
    assert res.k.tolist() == [2.0, 0.0]
    one = alone(np.array([[0, 20, 3, 20], [4, 30, 6, 30]]), measure="OR", method="MH")
    assert res.estimate[0] == pytest.approx(math.log(one.total.estimate), rel=1e-12)
    assert np.isnan(res.estimate[1]) and np.isnan(res.se[1])
    # RD keeps double zeros
    rd = metapool.pool_tables(e1, n1, e2, n2, measure="RD", method="MH")
    assert rd.k.tolist() == [3.0]
    ref = alone(np.array([e1, n1, e2, n2]).T, measure="RD", method="MH")
    assert rd.estimate[0] == pytest.approx(ref.total.estimate, rel=1e-12)


@pytest.mark.parametrize("measure", ["OR", "RR", "RD", "PETO_OR"])
def test_swap_events_as_analyse(measure: str) -> None:
    # swapped, the last table has no non-events in either arm: not estimable but for RD
    rows = np.array([[3, 20, 5, 20], [10, 20, 20, 20], [0, 15, 2, 16], [0, 9, 0, 11]])
    res = metapool.pool_tables(*rows.T, measure=measure, swap_events=True)
    one = alone(rows, measure=measure, swap_events=True)
    for field, value in expected(one).items():
        assert close(float(getattr(res, field)[0]), with_nan(value)), field
    assert res.k[0] == (4.0 if measure == "RD" else 3.0)


def test_padded_layout_equals_flat() -> None:
    rng = np.random.default_rng(5)
    n = rng.integers(5, 80, size=(6, 4)).astype(float)
    m = rng.integers(5, 80, size=(6, 4)).astype(float)
    e = np.floor(n * rng.uniform(0, 0.3, n.shape)) + 1
    f = np.floor(m * rng.uniform(0, 0.3, m.shape)) + 1
    for arr in (e, n, f, m):
        arr[4:, 1] = np.nan  # analysis 1 has 4 studies
    padded = metapool.pool_tables(e, n, f, m, model="random")
    keep = ~np.isnan(e.T)
    flat = metapool.pool_tables(
        *(a.T[keep] for a in (e, n, f, m)),
        groups=np.repeat(np.arange(4), keep.sum(axis=1)),
        model="random",
    )
    assert padded.k.tolist() == [6.0, 4.0, 6.0, 6.0]
    for field in ("estimate", "se", "tau2", "q", "i2"):
        np.testing.assert_array_equal(getattr(padded, field), getattr(flat, field))


def test_input_errors_name_the_study() -> None:
    with pytest.raises(
        metapool.InputError, match="row 1: events_exp = 7 is greater than total_exp = 5"
    ):
        metapool.pool_tables([1, 7], [5, 5], [1, 1], [5, 5])
    with pytest.raises(metapool.InputError, match="events_ctrl = nan is not finite"):
        metapool.pool_tables([1, 2], [5, 5], [1, np.nan], [5, 5])
    with pytest.raises(metapool.InputError, match="total_ctrl has shape"):
        metapool.pool_tables([1, 2], [5, 5], [1, 1], [5])
    with pytest.raises(metapool.InputError, match="groups has shape"):
        metapool.pool_tables([1, 2], [5, 5], [1, 1], [5, 5], groups=[1])
    with pytest.raises(metapool.InputError, match="no random-effects model"):
        metapool.pool_tables([1, 2], [5, 5], [1, 1], [5, 5], measure="PETO_OR", model="random")
    with pytest.raises(metapool.InputError, match="method IV does not fit measure PETO_OR"):
        metapool.pool_tables([1, 2], [5, 5], [1, 1], [5, 5], measure="PETO_OR", method="IV")
    e = np.array([[1.0, 2.0], [3.0, np.nan]])
    n = np.array([[5.0, 5.0], [5.0, 5.0]])
    with pytest.raises(metapool.InputError, match="study 1 of analysis 1: the four cells"):
        metapool.pool_tables(e, n, e, n)
    with pytest.raises(metapool.InputError, match="'1 of analysis 0': events_exp = 6"):
        metapool.pool_tables(np.array([[1.0], [6.0]]), n[:, :1], n[:, :1] - 1, n[:, :1])
    with pytest.raises(metapool.InputError, match="workers must be"):
        metapool.pool([0.1], [0.1], workers=0)
    with pytest.raises(metapool.InputError, match="workers must be an integer"):
        metapool.pool([0.1], [0.1], workers=1.5)  # type: ignore[arg-type]


# -- workers= -----------------------------------------------------------------------------


def identical(a: Any, b: Any) -> None:
    for field in attrs.fields(type(a)):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), field.name
        else:
            assert (x is None and y is None) or field.name == "groups", field.name
    assert np.array_equal(a.groups, b.groups)
    assert np.array_equal(a.p_q, b.p_q, equal_nan=True)


@pytest.mark.parametrize("tau2", metapool.TAU2_METHODS)
@pytest.mark.parametrize("layout", ["sorted", "scattered", "padded"])
def test_workers_bit_for_bit(tau2: str, layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 30, size=997)
    groups = np.repeat(np.arange(sizes.size), sizes)
    # scale 1e-4: convergence must not depend on what else is in the batch
    y = rng.normal(0, 0.3, groups.size) * 1e-4
    v = rng.uniform(0.01, 0.2, groups.size) * 1e-8
    if layout == "scattered":
        order = rng.permutation(groups.size)
        y, v, groups = y[order], v[order], (groups[order] * 7919) % 10007
    args: tuple[Any, ...] = (y, v, groups)
    if layout == "padded":
        pad = np.full((sizes.max(), sizes.size), np.nan)
        mask = np.arange(sizes.max())[:, None] < sizes
        yy, vv = pad.copy(), pad.copy()
        yy.T[mask.T], vv.T[mask.T] = y, v
        args = (yy, vv)
    options = dict(tau2=tau2, hksj=True, prediction=True, tau2_ci=True)
    monkeypatch.setattr(_workers, "BLOCK", 10**9)  # one block: the whole batch at once
    one = metapool.pool(*args, **options)
    for block in (10**9, 500):  # and blocks of about 500 studies (about 30 chunks)
        monkeypatch.setattr(_workers, "BLOCK", block)
        for workers in (1, 2, 3, 8, -1):
            identical(one, metapool.pool(*args, workers=workers, **options))


@pytest.mark.parametrize("workers", [1, 3])
def test_warnings_of_the_chunks_come_once_with_the_totals(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 300 analyses of 3 studies in blocks of ~30 studies; every 7th has identical estimates
    y = np.tile([0.1, 0.3, 0.5], 300)
    y.reshape(300, 3)[::7] = 0.2
    v = np.full(y.size, 0.02)
    groups = np.repeat(np.arange(300), 3)
    monkeypatch.setattr(_workers, "BLOCK", 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = metapool.pool(y, v, groups, hksj=True, workers=workers)
    messages = [str(w.message) for w in caught]
    assert messages == [
        "the HKSJ variance is 0 (identical estimates) in 43 of 300 analyses: the ad hoc "
        "rule (never below the Wald variance) was used there"
    ]
    assert caught[0].filename == __file__  # it points at the caller, not at a thread
    assert res.se[::7] == pytest.approx(np.sqrt(0.02 / 3), rel=1e-14)


@pytest.mark.parametrize("combo", COMBOS)
def test_pool_tables_workers_bit_for_bit(
    combo: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    size = 6000
    n1, n2 = rng.integers(1, 40, size), rng.integers(1, 40, size)
    e1, e2 = rng.binomial(n1, 0.05), rng.binomial(n2, 0.1)
    groups = rng.integers(0, 500, size)  # scattered, with double zeros left out
    measure, method, model = combo
    options = dict(measure=measure, method=method, model=model, tau2_ci=True)
    if model == "random":
        options["tau2"] = "REML"
    one = metapool.pool_tables(e1, n1, e2, n2, groups=groups, **options)
    identical(one, metapool.pool_tables(e1, n1, e2, n2, groups=groups, workers=2, **options))
    ordered = np.argsort(groups, kind="stable")  # contiguous runs, in blocks of ~700 studies
    monkeypatch.setattr(_workers, "BLOCK", 700)
    one = metapool.pool_tables(
        *(x[ordered] for x in (e1, n1, e2, n2)), groups=groups[ordered], **options
    )
    two = metapool.pool_tables(
        *(x[ordered] for x in (e1, n1, e2, n2)), groups=groups[ordered], workers=3, **options
    )
    identical(one, two)
    monkeypatch.setattr(_workers, "BLOCK", 10**9)
    identical(
        one,
        metapool.pool_tables(
            *(x[ordered] for x in (e1, n1, e2, n2)), groups=groups[ordered], **options
        ),
    )


@pytest.mark.parametrize("scattered", [False, True])
def test_chunks_never_split_a_group(scattered: bool) -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(50), rng.integers(0 if scattered else 1, 40, size=50))
    if scattered:
        labels = rng.permutation(labels)
    _, seg = factorize(labels)
    pieces = chunks(seg, 4)
    assert len(pieces) == 4
    assert (seg.starts is None) == scattered  # both layouts are exercised
    seen = np.zeros(labels.size, dtype=int)
    first = 0
    for piece in pieces:
        assert piece.groups.start == first  # consecutive runs of groups, in order
        first = piece.groups.stop
        index = np.arange(labels.size)[piece.index]
        seen[index] += 1
        codes = seg.codes[index]
        assert ((codes >= piece.groups.start) & (codes < piece.groups.stop)).all()
        assert piece.seg.n == piece.groups.stop - piece.groups.start
        np.testing.assert_array_equal(piece.seg.codes, codes - piece.groups.start)
        assert (piece.seg.starts is None) == scattered  # the layout of the whole
        # balanced by studies: no chunk holds more than a quarter plus one group
        assert index.size <= labels.size / 4 + seg.counts.max()
    assert first == seg.n
    assert (seen == 1).all()
    assert len(chunks(Segments.single(10), 4)) == 1


def test_resolve_workers() -> None:
    import os

    assert resolve_workers(1) == 1
    assert resolve_workers(np.int64(3)) == 3
    assert resolve_workers(-1) == (os.cpu_count() or 1)
    with pytest.raises(metapool.InputError):
        resolve_workers(True)
