"""Between-study variance τ²: every estimator, for all groups at once.

Definitions follow metafor's ``rma.uni``, for the intercept-only model of a
meta-analysis and for meta-regressions (trim-and-fill's choice of side,
:func:`metapool.metareg`); :mod:`metapool.pooling.design` fits them all. The iterative
estimators update every unfinished group in one array operation and keep a
per-group convergence flag instead of looping over groups.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.pooling.design import Fit, Moments, Studies, trace
from metapool.pooling.sums import tau2_from_sums

__all__ = ["Tau2", "Within", "estimate_tau2", "generalised_q_root", "tau2_from_sums"]

#: convergence tolerance on τ² (relative to max(v, τ²), v a group's typical
#: within-study variance, so that it does not depend on the data's units) and iteration cap
TOL = 1e-12
MAXITER = 200
#: grid points (besides 0) on which the likelihood is searched for its global maximum
GRID = 16


@attrs.frozen
class Tau2:
    """τ² per group with each group's convergence flag and iteration count."""

    tau2: FloatArray
    converged: BoolArray
    iterations: FloatArray


@attrs.frozen
class Within:
    """The studies, sums of their inverse-variance fit at τ² = 0, and the method's Q.

    Only per-group sums are kept: the fit's per-study arrays are not, so that
    they do not stay in memory while τ² is estimated.
    """

    studies: Studies
    xtwx: Moments  # X'WX with W = diag(1/vᵢ)
    xtw2x: Moments  # X'W²X
    q_iv: FloatArray  # Q of the inverse-variance fit
    q: FloatArray  # Q of the method (MH-centred for Mantel-Haenszel, as RevMan)

    @classmethod
    def of(cls, fit: Fit, q: FloatArray | None = None) -> Within:
        """From an inverse-variance fit; Q defaults to that fit's."""
        q_iv = fit.rss()
        return cls(fit.studies, fit.xtwx, fit.xtw2x, q_iv, q_iv if q is None else q)

    @property
    def k(self) -> FloatArray:
        return self.studies.seg.counts.astype(np.float64)


def estimate_tau2(method: str, base: Within) -> Tau2:
    """τ² by ``method`` (DL, REML, ML, PM, EB, HE, SJ or HS), truncated at 0.

    Groups with no more studies than coefficients get τ² = 0. The closed forms
    converge by definition; the iterative estimators report each group's flag.
    """
    studies, k = base.studies, base.k
    seg, yi, vi, p = studies.seg, studies.yi, studies.vi, studies.p
    if method in ("ML", "REML"):
        return _maximise_likelihood(base, reml=method == "REML")
    if method in ("PM", "EB"):
        # EB's iteration (metafor) has the Paule-Mandel root as its fixed point
        return generalised_q_root(base, k - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "DL":
            trace_p = base.xtwx[0] - trace(base.xtwx, base.xtw2x)
            tau2 = tau2_from_sums(method, k, p=p, q=base.q, trace_p=trace_p)
        elif method == "HS":
            tau2 = tau2_from_sums(method, k, p=p, q=base.q, sw=base.xtwx[0])
        elif method == "HE":
            ols = studies.fit(np.ones_like(vi))
            trace_pv = seg.sum(vi) - ols.trace(studies.moments(vi))
            tau2 = tau2_from_sums(method, k, p=p, rss_ols=ols.rss(), trace_pv=trace_pv)
        elif method == "SJ":
            centred = yi - seg.expand(seg.sum(yi) / k)
            tau0 = seg.sum(centred * centred) / k
            q_tau0 = studies.fit(1.0 / (vi + seg.expand(tau0))).rss()
            tau2 = tau2_from_sums(method, k, p=p, tau0=tau0, q_tau0=q_tau0)
        else:  # pragma: no cover - names are checked by vocabulary.resolve
            raise ValueError(method)
    return Tau2(tau2, np.ones(seg.n, dtype=bool), np.zeros(seg.n))


def _maximise_likelihood(base: Within, *, reml: bool) -> Tau2:
    """Global maximum of the (restricted) likelihood over τ² ≥ 0, all groups at once.

    The likelihood can have several local maxima, and Fisher scoring from one
    start (metafor) may stop at the wrong one or cycle. So: evaluate it and the
    sign of its slope on a grid from 0 to (max yᵢ - min yᵢ)², which bounds the
    maximiser; refine every local maximum the grid brackets (a group with two
    is pooled twice, as two virtual groups); keep the highest.
    """
    studies = base.studies
    seg, yi = studies.seg, studies.yi
    n = seg.n
    if studies.p == 1:
        spread = np.where(base.k > 1, (seg.max(yi) - seg.min(yi)) ** 2, 0.0)
    else:
        # the score is negative beyond RSS/(k - p) + max vᵢ (RSS of the unweighted fit):
        # y'PPy <= RSS/(min vᵢ + τ²)² and tr(P) >= (k - p)/(max vᵢ + τ²)
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = studies.fit(np.ones_like(yi)).rss() / (base.k - studies.p)
        spread = np.where(base.k > studies.p, bound + seg.max(studies.vi), 0.0)
    grid = np.concatenate(([0.0], np.geomspace(1e-6, 1.0, GRID), [4.0]))
    # τ² = 0 is a maximum where the likelihood falls from it; every other one lies
    # between a grid point where it rises and the next where it falls: collect those
    # brackets as the grid is walked, keeping one row of likelihoods at a time
    found_groups, found_intervals, ll_lo, ll_hi = [], [], [], []
    ll_zero, score = _likelihood_step(studies, np.zeros(n), reml=reml, what="score")
    zero_rises = score > 0
    was_rising, previous_ll = zero_rises, ll_zero
    for j in range(1, grid.size):
        ll, score = _likelihood_step(studies, grid[j] * spread, reml=reml, what="score")
        rising = score > 0
        peak = np.flatnonzero(was_rising & ~rising & (spread > 0))
        found_groups.append(peak)
        found_intervals.append(np.full(peak.size, j - 1))
        ll_lo.append(previous_ll[peak])
        ll_hi.append(ll[peak])
        was_rising, previous_ll = rising, ll
    group = np.concatenate(found_groups)
    order = np.argsort(group, kind="stable")  # virtual groups must come sorted by group
    group = group[order]
    interval = np.concatenate(found_intervals)[order]
    better_hi = (np.concatenate(ll_hi) > np.concatenate(ll_lo))[order]
    lo, hi = grid[interval] * spread[group], grid[interval + 1] * spread[group]

    def step(s: Studies, t: FloatArray, _: IntArray) -> FloatArray:
        return _likelihood_step(s, t, reml=reml)[1]

    # the virtual groups' copies are made twice rather than held during the search,
    # which compacts them as groups finish
    start = np.where(better_hi, hi, lo)
    everyone = np.ones(group.size, bool)
    unit = _typical_variance(base)[group]
    found = _bracketed_newton(studies.replicate(group), start, lo, hi, everyone, step, unit)
    ll_found, _ = _likelihood_step(studies.replicate(group), found.tau2, reml=reml, what="ll")
    # best candidate per group, starting from τ² = 0 where that is a maximum
    best_ll = np.where(zero_rises & (spread > 0), -np.inf, ll_zero)
    tau2 = np.zeros(n)
    converged = np.ones(n, dtype=bool)
    iterations = np.zeros(n)
    np.logical_and.at(converged, group, found.converged)
    np.maximum.at(iterations, group, found.iterations)
    order = np.argsort(ll_found, kind="stable")  # later writes win: the highest last
    for_group, candidate_ll = group[order], ll_found[order]
    wins = candidate_ll > best_ll[for_group]
    tau2[for_group[wins]] = found.tau2[order][wins]
    return Tau2(tau2, converged, iterations)


def _bracketed_newton(
    studies: Studies,
    tau2: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    active: BoolArray,
    step: Callable[[Studies, FloatArray, IntArray], FloatArray],
    unit: FloatArray,
) -> Tau2:
    """Find, per group, the point in [lo, hi] where ``step`` changes sign.

    ``step`` proposes a Newton-type step whose sign says on which side the
    solution lies; steps that leave the shrinking bracket are replaced by
    bisection, so every group converges. A group has converged when the step
    or the bracket is below ``TOL`` times the larger of τ² and ``unit`` (its
    typical within-study variance): the same digits in any units. Finished
    groups drop out of the arrays (they are compacted away), so late
    iterations touch few studies.
    """
    converged = ~active
    iterations = np.zeros(tau2.size)
    idx = np.flatnonzero(active)
    studies = studies.subset(idx)
    t, a, b, u = tau2[idx], lo[idx], hi[idx], unit[idx]
    for _ in range(MAXITER):
        if idx.size == 0:
            break
        s = step(studies, t, idx)
        a = np.where(s > 0, t, a)
        b = np.where(s <= 0, t, b)
        newton = t + s
        new = np.where((newton > a) & (newton < b), newton, 0.5 * (a + b))
        scale = TOL * np.maximum(u, t)
        finished = (np.abs(new - t) <= scale) | (b - a <= scale)
        iterations[idx] += 1
        t = new
        tau2[idx] = t
        converged[idx[finished]] = True
        if finished.any():
            keep = ~finished
            idx, t, a, b, u = idx[keep], t[keep], a[keep], b[keep], u[keep]
            studies = studies.subset(np.flatnonzero(keep))
    return Tau2(tau2, converged, iterations)


def _typical_variance(base: Within) -> FloatArray:
    """k / Σ(1/vᵢ) per group: the scale against which τ² converges."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return base.k / base.xtwx[0]


def _likelihood_step(
    studies: Studies, tau2: FloatArray, *, reml: bool, what: str = "step"
) -> tuple[FloatArray, FloatArray]:
    """Log-likelihood (up to a constant) at ``tau2`` and a step towards its maximum.

    The step is Newton's where the likelihood is concave (quadratic convergence)
    and Fisher scoring's elsewhere; both have the sign of the score. With
    ``what="score"`` the second value is (twice) the score, with ``"ll"`` it is
    empty: each costs fewer sums.
    """
    seg = studies.seg
    w = seg.expand(tau2)
    w += studies.vi
    log_total = seg.sum(np.log(w))
    np.divide(1.0, w, out=w)  # the weights 1/(vᵢ + τ²), in the same buffer
    fit = studies.fit(w)
    r = fit.residual
    wr = w * r
    ll = -0.5 * (log_total + seg.sum(wr * r))
    if reml:
        ll -= 0.5 * fit.log_det()
    if what == "ll":
        return ll, np.empty(0)
    w2 = w * w
    w2_moments = studies.moments(w2)
    sw = fit.xtwx[0]
    trace_p = sw - fit.trace(w2_moments) if reml else sw
    projected = fit.times_x(w * wr) if what == "step" else ()  # X'W²r
    wr *= wr  # w²r² = (Py)² from here on
    score = seg.sum(wr) - trace_p
    if what == "score":
        return ll, score
    ppp = seg.sum(w * wr) - fit.quadratic(projected)  # y'PPPy
    if reml:
        w2 *= w
        fisher = w2_moments[0] - 2 * fit.trace(studies.moments(w2)) + fit.trace_square(w2_moments)
    else:
        fisher = w2_moments[0]
    curvature = fisher - 2 * ppp
    # score, information and curvature are all twice their textbook values
    info = np.where(curvature < 0, -curvature, fisher)
    return ll, score / info


def generalised_q(studies: Studies, tau2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Generalised Q(τ²) = Σ wᵢ rᵢ², wᵢ = 1/(vᵢ + τ²), and its derivative in τ²."""
    w = 1.0 / (studies.vi + studies.seg.expand(tau2))
    fit = studies.fit(w)
    wr = w * fit.residual
    return fit.sum(wr * fit.residual), -fit.sum(wr * wr)


def generalised_q_root(base: Within, target: FloatArray) -> Tau2:
    """Solve Q(τ²) = target for τ² ≥ 0 in every group (0 where Q(0) < target).

    Q(τ²) decreases in τ², and Q(τ²) ≤ Σ(yᵢ - ȳ)²/τ², which brackets the root.
    """
    studies, k = base.studies, base.k
    seg = studies.seg
    target = np.broadcast_to(target, k.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = studies.yi - seg.expand(seg.sum(studies.yi) / k)
        hi = seg.sum(centred * centred) / target
        active = (k > studies.p) & (base.q_iv > target) & (hi > 0)

        def step(s: Studies, t: FloatArray, idx: IntArray) -> FloatArray:
            q, dq = generalised_q(s, t)
            return (q - target[idx]) / -dq

        unit = _typical_variance(base)
        res = _bracketed_newton(studies, np.zeros(seg.n), np.zeros(seg.n), hi, active, step, unit)
    return attrs.evolve(res, tau2=np.where(np.isfinite(res.tau2), res.tau2, 0.0))
