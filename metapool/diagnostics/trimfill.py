"""Duval and Tweedie's trim-and-fill: the studies a funnel plot's asymmetry suggests are missing.

The studies are trimmed and filled on the analysis' estimable effects with
inverse-variance weights, whatever the analysis' pooling method, as metafor's
``trimfill`` on ``rma(yi, vi)``; the final refit uses the analysis' model and
options (τ² estimator, CI method, level, Q-profile CIs of τ²).

References
----------
.. [1] Duval S, Tweedie R. Trim and fill: a simple funnel-plot-based method of
   testing and adjusting for publication bias in meta-analysis. Biometrics
   2000;56:455-463.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np

from metapool._typing import FloatArray, Side, TrimfillEstimator
from metapool.diagnostics._refit import estimable_studies, rounding
from metapool.errors import InputError
from metapool.pooling.design import Studies
from metapool.pooling.engine import pool_with
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2
from metapool.results import Heterogeneity, Total, pooled_groups
from metapool.table import effect_text, heterogeneity_line, overall_effect_line
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = ["MAXITER", "TrimFill", "trimfill"]


@attrs.frozen(eq=False)
class TrimFill:
    """Duval and Tweedie's trim-and-fill (metafor ``trimfill``).

    Attributes
    ----------
    estimator : str
        ``"L0"`` or ``"R0"``.
    side : str
        ``"left"`` or ``"right"``: where studies were judged missing.
    k0, k0_se : int, float
        Estimated number of missing studies and its standard error.
    total : Total
        The analysis' model refitted on the observed and filled studies
        (natural scale for ratios, as :attr:`MetaAnalysis.total`).
    heterogeneity : Heterogeneity
        Of that refit.
    filled_yi, filled_vi : ndarray
        The filled studies' effects (analysis scale) and variances.
    k : int
        Studies in the refit (observed + filled).
    measure : str
    random : bool
        Whether the model is random effects (for the heterogeneity line).
    """

    estimator: str
    side: str
    k0: int
    k0_se: float
    total: Total
    heterogeneity: Heterogeneity
    filled_yi: FloatArray
    filled_vi: FloatArray
    k: int
    measure: str
    random: bool

    def __str__(self) -> str:
        plural = "study" if self.k0 == 1 else "studies"
        t = self.total
        return "\n".join(
            [
                f"Trim-and-fill ({self.estimator} estimator): {self.k0} {plural} "
                f"(SE {self.k0_se:.4f}) filled on the {self.side} side",
                f"Adjusted total ({self.measure}, k = {self.k}): "
                f"{effect_text(t.estimate, t.ci_lower, t.ci_upper)}",
                heterogeneity_line(self.heterogeneity, self.random),
                overall_effect_line(t),
            ]
        )


#: trim-and-fill iterations before giving up (metafor's ``maxiter``)
MAXITER = 100


def trimfill(
    res: MetaAnalysis, estimator: TrimfillEstimator = "L0", side: Side | None = None
) -> TrimFill:
    """Duval and Tweedie's trim-and-fill with the analysis' model (metafor ``trimfill``).

    Parameters
    ----------
    res : MetaAnalysis
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    side : {"left", "right"}, optional
        Where studies are missing. By default from the sign of the slope of
        a meta-regression of yᵢ on SEᵢ under the analysis' model (negative
        slope: missing on the right), as metafor.

    Returns
    -------
    TrimFill
        The refit uses the analysis' model (τ² estimator, CI method and level)
        pooled by inverse variance.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> tf = trimfill(res)
    >>> tf.k0, tf.side, round(tf.total.estimate, 4)
    (3, 'right', 0.914)
    """
    name = estimator.strip().upper() if isinstance(estimator, str) else estimator
    if name not in ("L0", "R0"):
        raise InputError(f"unknown trim-and-fill estimator {estimator!r}; allowed: L0, R0")
    data = estimable_studies(res)
    k = data.k
    if k < 3:
        raise InputError(f"trim-and-fill needs at least 3 studies, the analysis has {k}")
    random = data.settings.model is Model.RANDOM
    if side is None:
        se = np.sqrt(data.vi)
        slope = _regression_slope(data.yi, data.vi, se, data.settings.tau2, random)
        # a slope of rounding size (symmetric data) has no sign: metafor's default, left
        side = "right" if slope * np.ptp(se) < -rounding(data.yi) else "left"
    elif side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {side!r}")
    # work as if studies were missing on the left: flip the sign otherwise
    sign = -1.0 if side == "right" else 1.0
    # by effect; equal effects by variance (metafor keeps their input order), so that
    # the result does not depend on the order of the studies
    order = np.lexsort((data.vi, sign * data.yi))
    y, v = sign * data.yi[order], data.vi[order]
    flipped = attrs.evolve(data, names=tuple(data.names[i] for i in order), yi=y, vi=v, cells=None)
    k0, k0_prev, k0_se, beta, iterations = 0, -1, math.nan, math.nan, 0
    while k0 != k0_prev:
        iterations += 1
        if iterations > MAXITER:
            raise InputError(f"trim-and-fill did not converge in {MAXITER} iterations")
        k0_prev = k0
        kept = np.arange(k - k0)
        trimmed = flipped.refit(kept, Segments.single(kept.size), inverse_variance=True)
        beta = float(trimmed.estimate[0])
        centred = y - beta
        # a study at the estimate up to rounding is on neither side (all effects equal:
        # nothing is missing) rather than on a side chosen by rounding noise
        k0, k0_se = _missing(np.where(np.abs(centred) <= rounding(y), 0.0, centred), name)
    # the k0 largest (on the flipped scale) mirrored around the trimmed estimate
    filled_yi = sign * (2 * beta - y[k - k0 :])
    filled_vi = v[k - k0 :]
    # the refit stands for the analysis: with its own options, Q-profile CIs of τ² included
    refit = pool_with(
        data.settings,
        np.concatenate([data.yi, filled_yi]),
        np.concatenate([data.vi, filled_vi]),
        slice(None),
        Segments.single(k + k0),
        inverse_variance=True,
    )
    refitted = pooled_groups(refit, data.settings.ratio)[0]
    return TrimFill(
        estimator=name,
        side=side,
        k0=k0,
        k0_se=k0_se,
        total=refitted.total,
        heterogeneity=refitted.heterogeneity,
        filled_yi=filled_yi,
        filled_vi=filled_vi,
        k=k + k0,
        measure=data.settings.measure,
        random=random,
    )


def _missing(centred: FloatArray, estimator: str) -> tuple[int, float]:
    """Duval and Tweedie's estimate of the number of missing studies, and its SE."""
    k = centred.size
    rank = np.empty(k)
    # ranks of |centred| with ties in order of appearance (R's ties.method="first")
    rank[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
    if estimator == "R0":
        # the rightmost run of positive ranks: above the largest rank of a study at or
        # below the estimate (metafor: of a negative one, which it then always has)
        k0 = k - rank[centred <= 0].max(initial=0.0) - 1
        se = math.sqrt(2 * max(0.0, k0) + 2)
    else:
        sr = rank[centred > 0].sum()
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (
            k * (k + 1) * (2 * k + 1)
            + 10 * k0**3
            + 27 * k0**2
            + 17 * k0
            - 18 * k * k0**2
            - 18 * k * k0
            + 6 * k**2 * k0
        ) / 24
        se = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan
    # round half to even, as R's round()
    return max(0, int(np.round(k0))), se


# -- meta-regression on the SE: the side of trim-and-fill ---------------------------------


def _regression_slope(
    y: FloatArray, v: FloatArray, x: FloatArray, method: str, random: bool
) -> float:
    """Slope of the meta-regression of y on x: fixed effect or random effects with τ².

    As metafor's ``rma(yi, vi, mods=x, method=...)``; only its sign is used.
    """
    studies = Studies(y, v, Segments.single(y.size), x)
    fixed = studies.fit(1.0 / v)
    tau2 = estimate_tau2(method, Within.of(fixed)).tau2[0] if random else 0.0
    return float(studies.fit(1.0 / (v + tau2)).coef[1][0])
