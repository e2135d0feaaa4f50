"""Every estimator and interval is scale-equivariant: pool(c·y, c²·v) is the same analysis.

Estimates and interval limits scale by c, τ² and its limits by c², and P, Q, I²,
H² and z do not change, for c from 1e-150 to 1e150. Each value is compared to
its own size plus the data's scale in its units (c·(max|y| + max √v) for
locations, c² times that squared for τ²): rounding c·y and c²·v perturbs every
result by that much relative to the data, whatever the result's own size.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metapool

ITERATIVE = ("REML", "ML", "PM", "EB")
CLOSED = ("DL", "HE", "HS", "SJ")

#: field -> power of c it scales with
LOCATION = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "se")
SQUARED = ("tau2", "tau2_ci_lower", "tau2_ci_upper")
INVARIANT = (
    "z",
    "p_value",
    "q",
    "p_q",
    "i2",
    "h2",
    "i2_tau2",
    "h2_tau2",
    "i2_ci_lower",
    "i2_ci_upper",
    "h2_ci_lower",
    "h2_ci_upper",
)
EXACT = ("k", "df", "converged")


@st.composite
def analyses(draw: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    sizes = draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))
    n = sum(sizes)
    yi = np.array(draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
    vi = np.array(draw(st.lists(st.floats(0.02, 2), min_size=n, max_size=n)))
    return yi, vi, np.repeat(np.arange(len(sizes)), sizes)


OPTIONS = st.fixed_dictionaries(
    {
        "model": st.just("random"),
        "tau2": st.sampled_from(metapool.TAU2_METHODS),
        "hksj": st.sampled_from([False, True, "adhoc"]),
        "prediction": st.booleans(),
        "tau2_ci": st.booleans(),
        "ci_level": st.sampled_from([0.9, 0.95, 0.99]),
    }
) | st.fixed_dictionaries(
    {
        "model": st.just("fixed"),
        "tau2_ci": st.booleans(),
        "ci_level": st.sampled_from([0.9, 0.95, 0.99]),
    }
)


def deviations(
    data: tuple[np.ndarray[Any, Any], ...], options: dict[str, Any], c: float
) -> dict[str, float]:
    """Largest deviation of each field of pool(c·y, c²·v) from c^j · pool(y, v)."""
    yi, vi, groups = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metapool.MetapoolWarning)
        plain = metapool.pool(yi, vi, groups, **options)
        scaled = metapool.pool(c * yi, c * c * vi, groups, **options)
    # the data's scale in units of the estimate, and the same as a number of SEs
    size = float(np.abs(yi).max() + np.sqrt(vi.max()))
    in_se = size / math.sqrt(float(vi.min()))
    out: dict[str, float] = {}
    for name in (*LOCATION, *SQUARED, *INVARIANT, *EXACT):
        a, b = getattr(scaled, name), getattr(plain, name)
        if b is None:
            assert a is None, name
            continue
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        assert (np.isnan(a) == np.isnan(b)).all(), name
        ok = ~np.isnan(b)
        a, b = a[ok], b[ok]
        if name in LOCATION:
            a, unit = a / c, size
        elif name in SQUARED:
            a, unit = a / (c * c), size * size
        elif name in EXACT:
            assert (a == b).all(), name
            continue
        else:  # dimensionless: perturbed as much as a shift of the data by eps·size
            unit = in_se * in_se + 100.0
        out[name] = float(np.max(np.abs(a - b) / (np.abs(b) + unit), initial=0.0))
    return out


def tolerance(options: dict[str, Any]) -> float:
    iterative = options["model"] == "random" and options["tau2"] in ITERATIVE
    return 1e-9 if iterative or options["tau2_ci"] else 1e-12


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=analyses(), options=OPTIONS, exponent=st.integers(-150, 150))
def test_pool_is_scale_equivariant(
    data: tuple[np.ndarray[Any, Any], ...], options: dict[str, Any], exponent: int
) -> None:
    worst = deviations(data, options, 10.0**exponent)
    tol = tolerance(options)
    assert all(d <= tol for d in worst.values()), {k: d for k, d in worst.items() if d > tol}


def test_tiny_units_give_the_same_paule_mandel_tau2() -> None:
    # the same data in units 1e-6: an absolute tolerance stopped at tau2 1e12 = 0.067
    yi = np.array([0.9, 2.3, -0.2, 2.9])
    vi = np.array([0.07, 0.16, 0.03, 0.21])
    for method in ITERATIVE:
        small = metapool.pool(yi * 1e-6, vi * 1e-12, tau2=method, tau2_ci=True)
        unit = metapool.pool(yi, vi, tau2=method, tau2_ci=True)
        assert small.converged.all()
        assert math.isclose(small.tau2[0] * 1e12, unit.tau2[0], rel_tol=1e-10)
        assert math.isclose(small.tau2_ci_upper[0] * 1e12, unit.tau2_ci_upper[0], rel_tol=1e-10)
    pm = metapool.pool(yi * 1e-6, vi * 1e-12, tau2="PM")
    assert math.isclose(pm.tau2[0] * 1e12, 1.8402685, rel_tol=1e-7)


def test_extreme_variances_and_estimates() -> None:
    # variances of 1e-300: weights 1e300 whose squares overflow unless scaled
    tiny = metapool.pool([0.1, 0.2, 0.3], [1e-300] * 3)
    # Q = 0.02e300, tr(P) = 2e300: tau2 = (Q - 2) / tr(P) = 0.01
    assert math.isclose(tiny.tau2[0], 0.01, rel_tol=1e-12)
    assert math.isclose(tiny.se[0], math.sqrt((0.01 + 1e-300) / 3), rel_tol=1e-12)
    assert math.isclose(tiny.i2[0], 100 * (1 - 2 / 2e298), rel_tol=1e-12)
    huge = metapool.pool([1e308] * 2, [1.0, 1.0])
    assert huge.estimate[0] == 1e308
    assert math.isclose(huge.se[0], math.sqrt(0.5), rel_tol=1e-15)
    assert huge.q[0] == 0 and huge.tau2[0] == 0
    assert np.isfinite([huge.z[0], huge.ci_lower[0], huge.ci_upper[0]]).all()
    # a spread of 2e308 cannot be represented: said, not returned as inf or NaN
    with pytest.raises(metapool.InputError, match=r"group 'b'.*out of floating-point range"):
        metapool.pool([0.1, 0.2, 1e308, -1e308], [1.0] * 4, ["a", "a", "b", "b"])


def worst_by_estimator(n: int, seed: int = 1) -> dict[str, tuple[float, str]]:
    """Largest deviation (and its field) of each estimator over ``n`` random batches.

    Run as ``python tests/test_scale.py [n]`` to print them.
    """
    rng = np.random.default_rng(seed)
    worst: dict[str, tuple[float, str]] = {}
    for _ in range(n):
        sizes = rng.integers(1, 8, rng.integers(1, 4))
        m = int(sizes.sum())
        data = (
            rng.uniform(-2, 2, m),
            rng.uniform(0.02, 2, m),
            np.repeat(np.arange(sizes.size), sizes),
        )
        c = 10.0 ** int(rng.integers(-150, 151))
        for name in ("fixed", *metapool.TAU2_METHODS):
            options: dict[str, Any] = {
                "hksj": [False, True, "adhoc"][rng.integers(3)],
                "tau2_ci": bool(rng.integers(2)),
                "ci_level": [0.9, 0.95, 0.99][rng.integers(3)],
            }
            if name == "fixed":
                options.update(model="fixed", hksj=False)
            else:
                options.update(model="random", tau2=name, prediction=bool(rng.integers(2)))
            field, d = max(deviations(data, options, c).items(), key=lambda kv: kv[1])
            key = name + (" with tau2_ci" if options["tau2_ci"] else "")
            if d >= worst.get(key, (0.0, ""))[0]:
                worst[key] = (d, field)
    return worst


if __name__ == "__main__":
    import sys

    for key, (d, field) in sorted(
        worst_by_estimator(int(sys.argv[1]) if sys.argv[1:] else 500).items()
    ):
        print(f"{key:18s} {d:.2e}  ({field})")
