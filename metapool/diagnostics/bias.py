"""Tests for small-study effects: Egger, Peters and Harbord (one regression), Begg.

All of them work on the analysis' estimable study effects (analysis scale, the
zero-cell rule applied) with inverse-variance weights, whatever the analysis'
pooling method, as metafor's ``regtest`` and ``ranktest`` do on ``rma(yi, vi)``.
The three regression tests are one weighted least squares of an effect on a
predictor; Begg's test centres on the engine's fixed-effect estimate
(:func:`metapool.pooling.engine.pool_segments`). Trim-and-fill is in
:mod:`metapool.diagnostics.trimfill`.

The tests refuse analyses of fewer than 10 studies unless asked (``k_min=``):
the Cochrane Handbook advises tests for funnel plot asymmetry only with at
least 10 studies, as with fewer they are too weak to tell asymmetry from chance.

References
----------
.. [1] Page MJ, Higgins JPT, Sterne JAC. Chapter 13: Assessing risk of bias
   due to missing results in a synthesis. In: Higgins JPT et al. (eds).
   Cochrane Handbook for Systematic Reviews of Interventions, version 6,
   section 13.3.5.4. Cochrane, 2019.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs
import numpy as np
from scipy import linalg, special, stats

from metapool._typing import FloatArray
from metapool.diagnostics._refit import StudyData, estimable_studies, rounding
from metapool.effects import peto_o_minus_e
from metapool.errors import InputError
from metapool.pooling.engine import pool_segments
from metapool.pooling.segments import Segments
from metapool.results import Interval
from metapool.table import format_p
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = ["RankTest", "RegressionTest", "begg", "egger", "harbord", "peters"]

#: fewest studies for a test of funnel plot asymmetry by default (Cochrane Handbook 13.3.5.4)
K_MIN = 10


# -- records ------------------------------------------------------------------------------


class _Unpacks:
    """A test result that unpacks as ``statistic, p_value = res.egger()``, as scipy's do."""

    __slots__ = ()
    statistic: float
    p_value: float

    def __iter__(self) -> Iterator[float]:
        return iter((self.statistic, self.p_value))


@attrs.frozen
class RegressionTest(_Unpacks):
    """A regression test for funnel-plot asymmetry: t test of the slope, k − 2 df.

    The regression is weighted least squares of the effect on ``predictor``
    with a multiplicative residual variance (metafor ``regtest(model="lm")``).
    Coefficients are on the analysis scale (log for ratios).

    Attributes
    ----------
    test : str
        ``"Egger"``, ``"Peters"`` or ``"Harbord"``.
    predictor : str
        The regressor: ``"SE"`` (Egger, Harbord: 1/sqrt(V)) or ``"1/N"`` (Peters).
    statistic, df, p_value : float
        t = slope / SE(slope), its degrees of freedom (k − 2) and two-sided P.
    intercept, intercept_se : float
        The effect extrapolated to a predictor of 0: metafor's "limit estimate".
    intercept_ci : Interval
        Its t-based confidence interval at the analysis' level.
    slope, slope_se : float
        The asymmetry coefficient and its SE, also as :attr:`bias` and
        :attr:`bias_se`.
    k : int
        Studies in the regression.
    """

    test: str
    predictor: str
    statistic: float
    df: float
    p_value: float
    intercept: float
    intercept_se: float
    intercept_ci: Interval
    slope: float
    slope_se: float
    k: int

    @property
    def bias(self) -> float:
        """The slope under the name R meta's and Stata's ``metabias`` give it: "bias".

        The intercept of Egger's regression of y/SE on 1/SE (Egger 1997), the
        same number as the slope of y on SE fitted here.
        """
        return self.slope

    @property
    def bias_se(self) -> float:
        """The SE of :attr:`bias`."""
        return self.slope_se

    def __str__(self) -> str:
        return (
            f"{self.test}{_possessive(self.test)} regression test for funnel plot asymmetry "
            f"(predictor {self.predictor}, k = {self.k})\n"
            f"t = {self.statistic:.4f}, df = {self.df:.0f}, {format_p(self.p_value)}\n"
            f"bias (slope): {self.slope:.4f} (SE {self.slope_se:.4f}); "
            f"intercept (limit estimate): {self.intercept:.4f} (SE {self.intercept_se:.4f}, "
            f"CI {self.intercept_ci.lower:.4f} to {self.intercept_ci.upper:.4f})"
        )


def _possessive(name: str) -> str:
    return "'" if name.endswith("s") else "'s"


@attrs.frozen
class RankTest(_Unpacks):
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    Attributes
    ----------
    statistic : float
        Kendall's τ_b between standardised effects and variances.
    p_value : float
        Two-sided; exact when there are no ties, else the normal approximation
        with the tie-corrected variance and no continuity correction.
    exact : bool
        Whether ``p_value`` is exact.
    k : int
    """

    statistic: float
    p_value: float
    exact: bool
    k: int

    @property
    def tau(self) -> float:
        """Kendall's τ_b (the statistic)."""
        return self.statistic

    def __str__(self) -> str:
        kind = "exact" if self.exact else "normal approximation"
        return (
            f"Begg and Mazumdar's rank correlation test (k = {self.k})\n"
            f"Kendall's tau = {self.statistic:.4f}, {format_p(self.p_value)} ({kind})"
        )


# -- weighted least squares ---------------------------------------------------------------


@attrs.frozen
class _Fit:
    """Weighted least squares of y on (1, x): coefficients, raw residuals, (X'WX)⁻¹."""

    coef: FloatArray
    residual: FloatArray
    xtwx_inv: FloatArray


def _wfit(y: FloatArray, x: FloatArray, w: FloatArray) -> _Fit:
    # QR of the weighted design, as R's lm: better conditioned than normal equations
    root = np.sqrt(w)
    design = np.column_stack([root, root * x])
    q, r = np.linalg.qr(design)
    coef = linalg.solve_triangular(r, q.T @ (root * y))
    r_inv = linalg.solve_triangular(r, np.eye(2))
    return _Fit(coef, y - coef[0] - coef[1] * x, r_inv @ r_inv.T)


def _enough(test: str, k: int, k_min: int) -> None:
    """Refuse fewer than ``k_min`` studies (by default the Handbook's 10), and fewer than 3."""
    if isinstance(k_min, bool) or not isinstance(k_min, (int, np.integer)) or k_min < 1:
        raise InputError(f"k_min must be a positive whole number, got {k_min!r}")
    if k < k_min:
        anyway = f"; pass k_min={k} to run it anyway" if k >= 3 else ""
        raise InputError(
            f"{test}'s test needs at least k_min = {k_min} studies, the analysis has {k}: "
            f"the Cochrane Handbook (section 13.3.5.4) advises tests for funnel plot "
            f"asymmetry only with at least {K_MIN} studies, as with fewer they are too weak "
            f"to tell asymmetry from chance{anyway}"
        )
    if k < 3:
        raise InputError(f"{test}'s test needs at least 3 studies, the analysis has {k}")


def _regression_test(
    test: str,
    predictor: str,
    y: FloatArray,
    x: FloatArray,
    w: FloatArray,
    level: float,
    k_min: int,
) -> RegressionTest:
    k = y.size
    _enough(test, k, k_min)
    if np.ptp(x) == 0:
        raise InputError(f"{test}'s test is not possible: every study has the same {predictor}")
    fit = _wfit(y, x, w)
    df = k - 2
    sigma2 = float(w @ fit.residual**2) / df  # lm's residual variance
    se = np.sqrt(sigma2 * np.diag(fit.xtwx_inv))
    # a line through every study leaves residuals of rounding size only: no test
    # (R's lm reports the t of that noise)
    terms = np.concatenate([y, fit.coef[:1], fit.coef[1] * x])
    perfect = np.abs(fit.residual).max() <= rounding(terms)
    t = math.nan if perfect else fit.coef[1] / se[1]
    half = float(special.stdtrit(df, 0.5 + level / 2)) * se[0]
    return RegressionTest(
        test=test,
        predictor=predictor,
        statistic=float(t),
        df=float(df),
        p_value=float(2 * special.stdtr(df, -abs(t))),
        intercept=float(fit.coef[0]),
        intercept_se=float(se[0]),
        intercept_ci=Interval(float(fit.coef[0] - half), float(fit.coef[0] + half)),
        slope=float(fit.coef[1]),
        slope_se=float(se[1]),
        k=k,
    )


# -- tests --------------------------------------------------------------------------------


def egger(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Egger's regression test: effect on its SE, weights 1/SE², t test of the slope.

    The same as regressing y/SE on 1/SE and testing the intercept, Egger's
    "bias" (Egger 1997); metafor ``regtest(model="lm")``, R meta ``metabias``.

    Parameters
    ----------
    res : MetaAnalysis
    k_min : int
        Fewest estimable studies to test (default 10, the Cochrane Handbook's
        advice); at least 3 are always needed.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> t = egger(res, k_min=7)  # the seven aspirin trials: fewer than the Handbook's 10
    >>> round(t.statistic, 4), round(t.p_value, 4), t.df, round(t.bias, 4)
    (-0.9213, 0.3992, 5.0, -0.7245)
    """
    data = estimable_studies(res)
    se = np.sqrt(data.vi)
    return _regression_test(
        "Egger", "SE", data.yi, se, 1.0 / data.vi, data.settings.ci_level, k_min
    )


def peters(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Peters' test (dichotomous data): effect on 1/N, weights 1/(1/S + 1/F).

    N, S and F are each study's raw numbers of participants, events and
    non-events over both arms (R meta ``metabias(method.bias="Peters")``).
    A study without events or without non-events has no weight and is left out.
    ``k_min`` as for :func:`egger`, counting the studies in the regression.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> round(peters(res, k_min=7).p_value, 4)
    0.3051
    """
    data = _dichotomous(res, "Peters")
    assert data.cells is not None
    c = data.cells
    events, non_events = c.a + c.c, c.b + c.d
    used = (events > 0) & (non_events > 0)
    w = 1.0 / (1.0 / events[used] + 1.0 / non_events[used])
    inverse_n = 1.0 / (events + non_events)[used]
    return _regression_test(
        "Peters", "1/N", data.yi[used], inverse_n, w, data.settings.ci_level, k_min
    )


def harbord(res: MetaAnalysis, *, k_min: int = K_MIN) -> RegressionTest:
    """Harbord's test (odds ratios): Egger's test on Peto's score statistics.

    y = (O − E)/V with SE 1/sqrt(V), V the hypergeometric variance, from the raw
    2x2 cells (no continuity correction); the same regression as Z/sqrt(V) on
    sqrt(V) (Harbord 2006; R meta ``metabias(method.bias="Harbord")``).
    ``k_min`` as for :func:`egger`.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> round(harbord(res, k_min=7).statistic, 4)
    -0.9214
    """
    data = _dichotomous(res, "Harbord")
    if data.settings.measure not in ("OR", "PETO_OR"):
        raise InputError(
            f"Harbord's test is for odds ratios; the analysis uses {data.settings.measure}"
        )
    assert data.cells is not None
    o_minus_e, v = peto_o_minus_e(data.cells)
    return _regression_test(
        "Harbord", "1/sqrt(V)", o_minus_e / v, 1.0 / np.sqrt(v), v, data.settings.ci_level, k_min
    )


def _dichotomous(res: MetaAnalysis, test: str) -> StudyData:
    if res.settings.data_type is not DataType.DICHOTOMOUS:
        raise InputError(
            f"{test}'s test needs dichotomous data (events and totals); "
            f"the analysis has {res.settings.data_type.value} data"
        )
    return estimable_studies(res)


def begg(res: MetaAnalysis, *, k_min: int = K_MIN) -> RankTest:
    """Begg and Mazumdar's rank correlation test (metafor ``ranktest``).

    Kendall's τ between (yᵢ − θ_FE)/sqrt(vᵢ − 1/Σw) and vᵢ, θ_FE the
    fixed-effect inverse-variance estimate. ``k_min`` as for :func:`egger`.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> r = begg(res, k_min=7)
    >>> round(r.statistic, 4), round(r.p_value, 4), r.exact
    (-0.4286, 0.2389, True)
    """
    data = estimable_studies(res)
    k = data.k
    _enough("Begg", k, k_min)
    if np.ptp(data.vi) == 0:
        raise InputError("Begg's test is not possible: every study has the same SE")
    fe = pool_segments(data.yi, data.vi, Segments.single(k), random=False)
    centred = data.yi - fe.estimate[0]
    # equal effects are tied at 0, not ranked by rounding noise
    centred[np.abs(centred) <= rounding(data.yi)] = 0.0
    standardised = centred / np.sqrt(data.vi - fe.se[0] ** 2)
    ties = np.unique(standardised).size < k or np.unique(data.vi).size < k
    result = stats.kendalltau(standardised, data.vi, method="asymptotic" if ties else "exact")
    return RankTest(
        statistic=float(result.statistic), p_value=float(result.pvalue), exact=not ties, k=k
    )
