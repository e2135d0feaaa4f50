"""metapool.pool as a batch engine: layouts, labels, the counts -> results path, presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metapool
from metapool.pooling.segments import factorize


def test_counts_to_pooled_results_in_two_calls() -> None:
    studies = metapool.examples.aspirin()
    cols = {
        f: [getattr(s, f) for s in studies]
        for f in ("events_exp", "total_exp", "events_ctrl", "total_ctrl")
    }
    es = metapool.effect_sizes("OR", **cols)
    batch = metapool.pool(es, model="fixed")
    single = metapool.analyse(studies, measure="OR", method="IV")
    assert math.isclose(math.exp(batch.estimate[0]), single.total.estimate, rel_tol=1e-13)
    assert math.isclose(batch.q[0], single.heterogeneity.q, rel_tol=1e-12)


def test_effect_sizes_with_non_estimable_studies_and_groups() -> None:
    es = metapool.effect_sizes(
        "RR",
        events_exp=[3, 0, 5, 2],
        total_exp=[20, 10, 30, 15],
        events_ctrl=[6, 0, 9, 4],
        total_ctrl=[20, 12, 30, 15],
    )
    assert es.estimable.tolist() == [True, False, True, True]
    res = metapool.pool(es, groups=["x", "x", "y", "y"])
    assert res.groups.tolist() == ["x", "y"] and res.k.tolist() == [1.0, 2.0]
    assert math.isnan(res.i2[0]) and res.q[0] == 0.0 and res.tau2[0] == 0.0


def test_empty_group_is_nan_not_an_error() -> None:
    es = metapool.effect_sizes(
        "OR", events_exp=[0, 2], total_exp=[10, 10], events_ctrl=[0, 3], total_ctrl=[10, 10]
    )
    res = metapool.pool(es, groups=["none", "some"])
    assert res.k.tolist() == [0.0, 1.0]
    assert math.isnan(res.estimate[0]) and math.isnan(res.q[0]) and not math.isnan(res.estimate[1])


def test_group_labels_are_sorted_and_results_follow_them() -> None:
    rng = np.random.default_rng(3)
    yi, vi = rng.normal(size=30), rng.uniform(0.01, 0.2, 30)
    groups = rng.choice(np.array(["c", "a", "b"]), 30)
    res = metapool.pool(yi, vi, groups, tau2="PM")
    assert res.groups.tolist() == ["a", "b", "c"]
    for j, g in enumerate(res.groups):
        alone = metapool.pool(yi[groups == g], vi[groups == g], tau2="PM")
        assert math.isclose(res.estimate[j], alone.estimate[0], rel_tol=1e-12)


def test_sorted_integer_labels_take_the_fast_path() -> None:
    labels, seg = factorize(np.array([2, 2, 5, 9, 9, 9]))
    assert labels.tolist() == [2, 5, 9] and seg.codes.tolist() == [0, 0, 1, 2, 2, 2]
    assert seg.starts is not None and seg.counts.tolist() == [2, 1, 3]
    labels, seg = factorize(np.array([5, 2, 2]))  # unsorted: np.unique
    assert labels.tolist() == [2, 5] and seg.codes.tolist() == [1, 0, 0]


def test_fixed_model_has_no_tau2_and_no_prediction_interval() -> None:
    res = metapool.pool([0.1, 0.5, 0.9], [0.01, 0.02, 0.03], model="fixed")
    assert res.tau2[0] == 0.0
    assert res.pi_lower is None
    w = 1 / np.array([0.01, 0.02, 0.03])
    assert math.isclose(
        res.estimate[0], float(np.sum(w * [0.1, 0.5, 0.9]) / w.sum()), rel_tol=1e-14
    )


def test_prediction_interval_needs_three_studies() -> None:
    two = metapool.pool([0.1, 0.5], [0.01, 0.02], prediction=True)
    assert two.pi_lower is not None and math.isnan(two.pi_lower[0])
    three = metapool.pool([0.1, 0.5, 0.9], [0.01, 0.02, 0.03], prediction=True)
    assert three.pi_lower is not None and three.pi_lower[0] < three.ci_lower[0]


def test_revman_web_preset() -> None:
    studies = metapool.examples.stem_cell_oa_pain()
    res = metapool.analyse(studies, measure="SMD", **metapool.REVMAN_WEB)
    explicit = metapool.analyse(
        studies,
        measure="SMD",
        model="random",
        tau2="REML",
        hksj=True,
        prediction=True,
        i2="tau2",
        tau2_ci=True,
    )
    assert res.total == explicit.total and res.heterogeneity == explicit.heterogeneity
    assert res.settings.tau2 == "REML" and res.settings.hksj and res.settings.i2 == "tau2"
    h = res.heterogeneity
    assert h.tau2_ci is not None and h.tau2_ci.lower <= h.tau2 <= h.tau2_ci.upper
    assert res.prediction is not None and res.prediction.lower < res.total.ci_lower
    batch = metapool.pool(
        [0.1, 0.3, 0.2, -0.1, 0.4], [0.01, 0.02, 0.015, 0.02, 0.03], **metapool.REVMAN_WEB
    )
    assert batch.tau2_ci_lower is not None and batch.pi_lower is not None


def test_pool_repr_is_short() -> None:
    res = metapool.pool(np.zeros(50), np.ones(50), np.repeat(np.arange(10), 5))
    text = repr(res)
    assert text.startswith("PoolResult(10 analyses:") and text.endswith("...)")


@pytest.mark.parametrize("method", metapool.TAU2_METHODS)
def test_huge_batch_of_identical_analyses_agrees(method: str) -> None:
    yi = np.tile([0.2, -0.1, 0.5, 0.3], 500)
    vi = np.tile([0.02, 0.05, 0.04, 0.01], 500)
    res = metapool.pool(yi, vi, np.repeat(np.arange(500), 4), tau2=method)
    one = metapool.pool(yi[:4], vi[:4], tau2=method)
    assert np.allclose(res.tau2, one.tau2[0], rtol=1e-12, atol=0)
    assert res.converged.all()
