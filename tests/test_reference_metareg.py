"""metapool.metareg against metafor's rma(mods=) and permutest (tests/reference/make_metareg.R)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _helpers import load_reference

import metapool

DATA = load_reference("metareg_cases.json")
CLOSED = {"FE", "DL", "HE", "SJ", "HS"}
FITS = [
    pytest.param(case, fit, id=f"{case['name']}-{fit['method']}-{fit['test']}")
    for case in DATA["cases"]
    for fit in case["fits"]
]
HKSJ = {"z": False, "knha": True, "adhoc": "adhoc"}


def run(case: dict[str, Any], method: str, test: str, **extra: Any) -> metapool.MetaRegression:
    return metapool.metareg(
        case["yi"],
        case["vi"],
        {name: np.asarray(v) for name, v in case["moderators"].items()},
        groups=case.get("groups"),
        model="fixed" if method == "FE" else "random",
        tau2=None if method == "FE" else method,
        hksj=HKSJ[test],
        intercept=case.get("intercept", True),
        **extra,
    )


def _values(expected: Any) -> np.ndarray:
    return np.array([np.nan if e is None else e for e in np.atleast_1d(expected)], dtype=float)


@pytest.mark.parametrize(("case", "fit"), FITS)
def test_metareg_against_metafor(case: dict[str, Any], fit: dict[str, Any]) -> None:
    res = run(case, fit["method"], fit["test"])
    rtol = 1e-8 if fit["method"] in CLOSED else 1e-5
    if case.get("groups") is not None:
        assert res.groups.tolist() == case["labels"]
    for g, ref in enumerate(fit["groups"]):
        assert res.k[g] == ref["k"]
        assert bool(res.estimable[g]) == ref["estimable"]
        if not ref["estimable"]:
            assert np.isnan(res.coef[g]).all() and res.reason[g]
            continue
        tau2 = ref["tau2"]
        # τ² near 0 is compared on the scale of the sampling variances
        scale = float(np.median(res.vi[res.study_group == g]))
        assert res.tau2[g] == pytest.approx(tau2, rel=rtol, abs=rtol * scale)
        for ours, theirs in (
            ("coef", "coef"),
            ("se", "se"),
            ("z", "zval"),
            ("ci_lower", "ci_lb"),
            ("ci_upper", "ci_ub"),
        ):
            np.testing.assert_allclose(
                getattr(res, ours)[g], ref[theirs], rtol=rtol, atol=rtol * 1e-3, err_msg=ours
            )
        np.testing.assert_allclose(res.p_value[g], ref["pval"], rtol=rtol, atol=1e-14)
        for ours, theirs in (("qe", "QE"), ("qm", "QM"), ("qe_p", "QEp"), ("qm_p", "QMp")):
            np.testing.assert_allclose(getattr(res, ours)[g], ref[theirs], rtol=rtol, atol=1e-14)
        assert res.qm_df[g] == ref["QMdf"][0]
        if ref["QMdf"][1] is not None:
            assert res.qe_df[g] == ref["QMdf"][1]
        np.testing.assert_allclose(res.i2[g], ref["I2"], rtol=rtol, atol=1e-6)
        np.testing.assert_allclose(res.r2[g], _values(ref["R2"]), rtol=rtol, atol=1e-6)


PERMS = [
    pytest.param(c, id=f"{c['name']}-{c['method']}-{c['test']}") for c in DATA["permutation_cases"]
]


@pytest.mark.parametrize("case", PERMS)
def test_exact_permutation_test_against_permutest(case: dict[str, Any]) -> None:
    res = run(case, case["method"], case["test"], permutations="exact")
    assert res.exact and res.permutations == case["permutations"]
    assert res.permutation_p is not None and res.permutation_qm_p is not None
    np.testing.assert_allclose(res.permutation_p[0], case["pval"], rtol=1e-12)
    assert res.permutation_qm_p[0] == pytest.approx(case["QMp"], rel=1e-12)


def test_fixtures_cover_every_estimator_and_test() -> None:
    seen = {(f["method"], f["test"]) for c in DATA["cases"] for f in c["fits"]}
    methods = {"FE", *metapool.TAU2_METHODS}
    assert seen == {(m, t) for m in methods for t in HKSJ}
