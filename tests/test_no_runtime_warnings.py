"""No RuntimeWarning (overflow, division by zero, invalid value) reaches the caller from
valid input: numpy's floating-point warnings are errors here, metapool's own warnings
(a fallback rule, no convergence) are not."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metapool

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def strict() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", metapool.MetapoolWarning)
        yield


OPTIONS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["fixed", "random"]),
        "tau2": st.sampled_from(metapool.TAU2_METHODS),
        "hksj": st.sampled_from([False, True, "adhoc"]),
        "prediction": st.booleans(),
        "tau2_ci": st.booleans(),
        "i2": st.sampled_from(["Q", "tau2"]),
        "ci_level": st.sampled_from([0.9, 0.95, 0.99]),
    }
)


def fixed_effect_only(options: dict[str, Any]) -> dict[str, Any]:
    """The options without the random-effects ones under a fixed-effect model."""
    if options["model"] == "fixed":
        return {key: options[key] for key in ("model", "tau2_ci", "i2", "ci_level")}
    return options


@st.composite
def flat(draw: Any) -> tuple[np.ndarray[Any, Any], ...]:
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    n = sum(sizes)
    magnitude = draw(st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]))
    y = draw(st.lists(st.floats(-5, 5) | st.just(1.0), min_size=n, max_size=n))
    v = draw(st.lists(st.floats(1e-4, 10), min_size=n, max_size=n))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    return np.array(y) * magnitude, np.array(v) * magnitude**2, groups


@PROPERTY
@given(data=flat(), options=OPTIONS)
def test_pool_is_quiet(data: tuple[np.ndarray[Any, Any], ...], options: dict[str, Any]) -> None:
    yi, vi, groups = data
    with strict():
        res = metapool.pool(yi, vi, groups, **fixed_effect_only(options))
        assert np.isfinite(res.estimate).all() and np.isfinite(res.se).all()
        assert ((res.p_q >= 0) | (res.k < 2)).all()


@st.composite
def dichotomous(draw: Any) -> list[metapool.Dichotomous]:
    k = draw(st.integers(1, 6))
    subgroups = draw(st.booleans()) and k >= 2
    studies = []
    for i in range(k):
        n1, n2 = draw(st.integers(1, 60)), draw(st.integers(1, 60))
        e1, e2 = draw(st.integers(0, n1)), draw(st.integers(0, n2))
        label = draw(st.sampled_from(["A", "B"])) if subgroups else None
        studies.append(metapool.Dichotomous(f"Trial {i}", e1, n1, e2, n2, subgroup=label))
    return studies


@PROPERTY
@given(
    studies=dichotomous(),
    measure=st.sampled_from(["OR", "RR", "RD"]),
    method=st.sampled_from(["MH", "IV"]),
    options=OPTIONS,
)
def test_analyse_is_quiet(
    studies: list[metapool.Dichotomous], measure: str, method: str, options: dict[str, Any]
) -> None:
    with strict():
        try:
            res = metapool.analyse(studies, measure, method, **fixed_effect_only(options))
        except metapool.InputError:  # e.g. no estimable study at all: said, not warned
            return
        str(res)


@PROPERTY
@given(
    rows=st.lists(st.tuples(st.floats(-3, 3), st.floats(1e-3, 3)), min_size=1, max_size=6),
    options=OPTIONS,
)
def test_analyse_generic_is_quiet(rows: list[tuple[float, float]], options: dict[str, Any]) -> None:
    studies = [metapool.Generic(f"Study {i}", y, se) for i, (y, se) in enumerate(rows)]
    with strict():
        res = metapool.analyse(studies, "HR", ratio=True, **fixed_effect_only(options))
        str(res)
