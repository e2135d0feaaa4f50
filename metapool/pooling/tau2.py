"""Between-study variance τ² (spec §5): every estimator, for all groups at once.

Definitions follow metafor's ``rma.uni`` for a model without moderators. The
iterative estimators update every unfinished group in one array operation and
keep a per-group convergence flag instead of looping over groups.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.pooling.segments import Segments

__all__ = ["Tau2", "estimate_tau2", "generalised_q_root"]

#: convergence tolerance on τ² (relative to max(1, τ²)) and iteration cap
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
    """Fixed-effect sums every estimator starts from (inverse-variance weights)."""

    yi: FloatArray
    vi: FloatArray
    seg: Segments
    k: FloatArray
    sw: FloatArray
    sw2: FloatArray
    q: FloatArray  # the method's Q (MH-based for Mantel-Haenszel, RevMan)


def estimate_tau2(method: str, base: Within) -> Tau2:
    """τ² by ``method`` (DL, REML, ML, PM, EB, HE, SJ or HS), truncated at 0.

    Groups with fewer than two studies get τ² = 0.
    """
    seg, yi, vi, k = base.seg, base.yi, base.vi, base.k
    multi = k >= 2
    done = np.ones(seg.n, dtype=bool)
    iterations = np.zeros(seg.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "DL":
            c = base.sw - base.sw2 / base.sw
            tau2 = (base.q - (k - 1)) / c
        elif method == "HS":
            tau2 = (base.q - k) / base.sw
        elif method in ("HE", "SJ", "ML", "REML"):
            centred = yi - seg.expand(seg.sum(yi) / k)
            ss = seg.sum(centred * centred)
            if method == "SJ":
                tau0 = ss / k
                w = 1.0 / (vi + seg.expand(tau0))
                theta = seg.sum(w * yi) / seg.sum(w)
                r = yi - seg.expand(theta)
                tau2 = tau0 * seg.sum(w * r * r) / (k - 1)
            else:
                tau2 = ss / (k - 1) - seg.sum(vi) / k
                if method in ("ML", "REML"):
                    res = _maximise_likelihood(base, reml=method == "REML")
                    tau2, done, iterations = res.tau2, res.converged, res.iterations
        elif method in ("PM", "EB"):
            # EB's iteration (metafor) has the Paule-Mandel root as its fixed point
            res = generalised_q_root(base, k - 1)
            tau2, done, iterations = res.tau2, res.converged, res.iterations
        else:  # pragma: no cover - names are checked by vocabulary.resolve
            raise ValueError(method)
    tau2 = np.where(multi, np.maximum(tau2, 0.0), 0.0)
    return Tau2(tau2, done | ~multi, iterations)


def _maximise_likelihood(base: Within, *, reml: bool) -> Tau2:
    """Global maximum of the (restricted) likelihood over τ² ≥ 0, all groups at once.

    The likelihood can have several local maxima, and Fisher scoring from one
    start (metafor) may stop at the wrong one or cycle. So: evaluate it and the
    sign of its slope on a grid from 0 to (max yᵢ - min yᵢ)², which bounds the
    maximiser; refine every local maximum the grid brackets (a group with two
    is pooled twice, as two virtual groups); keep the highest.
    """
    seg, yi, vi = base.seg, base.yi, base.vi
    n = seg.n
    hi_y = np.full(n, -np.inf)
    lo_y = np.full(n, np.inf)
    np.maximum.at(hi_y, seg.codes, yi)
    np.minimum.at(lo_y, seg.codes, yi)
    spread = np.where(base.k >= 2, (hi_y - lo_y) ** 2, 0.0)
    grid = np.concatenate(([0.0], np.geomspace(1e-6, 1.0, GRID), [4.0]))
    lls = np.empty((grid.size, n))
    rising = np.empty((grid.size, n), dtype=bool)
    for j, fraction in enumerate(grid):
        lls[j], score = _likelihood_step(yi, vi, seg, fraction * spread, reml=reml, what="score")
        rising[j] = score > 0
    # τ² = 0 is a maximum where the likelihood falls from it; every other one lies
    # between a grid point where it rises and the next where it falls
    peaks = (rising[:-1] & ~rising[1:]).T & (spread > 0)[:, None]
    group, interval = np.nonzero(peaks)  # sorted by group
    rows, virtual = seg.replicate(group)
    lo, hi = grid[interval] * spread[group], grid[interval + 1] * spread[group]
    better_hi = lls[interval + 1, group] > lls[interval, group]

    def step(y: FloatArray, v: FloatArray, s: Segments, t: FloatArray, _: IntArray) -> FloatArray:
        return _likelihood_step(y, v, s, t, reml=reml)[1]

    y_v, v_v = yi[rows], vi[rows]
    found = _bracketed_newton(
        y_v, v_v, virtual, np.where(better_hi, hi, lo), lo, hi, np.ones(group.size, bool), step
    )
    ll_found, _ = _likelihood_step(y_v, v_v, virtual, found.tau2, reml=reml, what="ll")
    # best candidate per group, starting from τ² = 0 where that is a maximum
    best_ll = np.where(rising[0] & (spread > 0), -np.inf, lls[0])
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
    yi: FloatArray,
    vi: FloatArray,
    seg: Segments,
    tau2: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    active: BoolArray,
    step: Callable[[FloatArray, FloatArray, Segments, FloatArray, IntArray], FloatArray],
) -> Tau2:
    """Find, per group, the point in [lo, hi] where ``step`` changes sign.

    ``step`` proposes a Newton-type step whose sign says on which side the
    solution lies; steps that leave the shrinking bracket are replaced by
    bisection, so every group converges. Finished groups drop out of the
    arrays (they are compacted away), so late iterations touch few studies.
    """
    converged = ~active
    iterations = np.zeros(tau2.size)
    idx = np.flatnonzero(active)
    yi, vi, seg = seg.subset(idx, yi, vi)
    t, a, b = tau2[idx], lo[idx], hi[idx]
    for _ in range(MAXITER):
        if idx.size == 0:
            break
        s = step(yi, vi, seg, t, idx)
        a = np.where(s > 0, t, a)
        b = np.where(s <= 0, t, b)
        newton = t + s
        new = np.where((newton > a) & (newton < b), newton, 0.5 * (a + b))
        scale = TOL * np.maximum(1.0, t)
        finished = (np.abs(new - t) <= scale) | (b - a <= scale)
        iterations[idx] += 1
        t = new
        tau2[idx] = t
        converged[idx[finished]] = True
        if finished.any():
            keep = ~finished
            idx, t, a, b = idx[keep], t[keep], a[keep], b[keep]
            yi, vi, seg = seg.subset(np.flatnonzero(keep), yi, vi)
    return Tau2(tau2, converged, iterations)


def _likelihood_step(
    yi: FloatArray,
    vi: FloatArray,
    seg: Segments,
    tau2: FloatArray,
    *,
    reml: bool,
    what: str = "step",
) -> tuple[FloatArray, FloatArray]:
    """Log-likelihood (up to a constant) at ``tau2`` and a step towards its maximum.

    The step is Newton's where the likelihood is concave (quadratic convergence)
    and Fisher scoring's elsewhere; both have the sign of the score. With
    ``what="score"`` the second value is (twice) the score, with ``"ll"`` it is
    empty: each costs fewer sums.
    """
    total = vi + seg.expand(tau2)
    w = 1.0 / total
    sw = seg.sum(w)
    r = yi - seg.expand(seg.sum(w * yi) / sw)
    wr = w * r
    ll = -0.5 * (seg.sum(np.log(total)) + seg.sum(wr * r))
    if reml:
        ll -= 0.5 * np.log(sw)
    if what == "ll":
        return ll, np.empty(0)
    sw2 = seg.sum(w * w)
    wr *= wr  # w²r² from here on
    swr2 = seg.sum(wr)
    trace_p = sw - sw2 / sw if reml else sw
    if what == "score":
        return ll, swr2 - trace_p
    sw3r2 = seg.sum(w * wr)
    if reml:
        fisher = sw2 - 2 * seg.sum(w * w * w) / sw + (sw2 / sw) ** 2  # tr(PP)
        score = swr2 - trace_p
        sw2r = seg.sum(w * w * r)
        curvature = fisher - 2 * (sw3r2 - sw2r * sw2r / sw)
    else:
        fisher = sw2
        score = swr2 - sw
        curvature = sw2 - 2 * sw3r2
    # score, information and curvature are all twice their textbook values
    info = np.where(curvature < 0, -curvature, fisher)
    return ll, score / info


def generalised_q(
    yi: FloatArray, vi: FloatArray, seg: Segments, tau2: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Generalised Q(τ²) = Σ wᵢ(yᵢ - θ)², wᵢ = 1/(vᵢ + τ²), and its derivative."""
    w = 1.0 / (vi + seg.expand(tau2))
    r = yi - seg.expand(seg.sum(w * yi) / seg.sum(w))
    wr = w * r
    return seg.sum(wr * r), -seg.sum(wr * wr)


def generalised_q_root(base: Within, target: FloatArray) -> Tau2:
    """Solve Q(τ²) = target for τ² ≥ 0 in every group (0 where Q(0) < target).

    Q(τ²) decreases in τ², and Q(τ²) ≤ Σ(yᵢ - ȳ)²/τ², which brackets the root.
    """
    seg, k = base.seg, base.k
    target = np.broadcast_to(target, k.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = base.yi - seg.expand(seg.sum(base.yi) / k)
        hi = seg.sum(centred * centred) / target
        q0, _ = generalised_q(base.yi, base.vi, seg, np.zeros(seg.n))
        active = (k >= 2) & (q0 > target) & (hi > 0)

        def step(
            y: FloatArray, v: FloatArray, s: Segments, t: FloatArray, idx: IntArray
        ) -> FloatArray:
            q, dq = generalised_q(y, v, s, t)
            return (q - target[idx]) / -dq

        res = _bracketed_newton(
            base.yi, base.vi, seg, np.zeros(seg.n), np.zeros(seg.n), hi, active, step
        )
    return attrs.evolve(res, tau2=np.where(np.isfinite(res.tau2), res.tau2, 0.0))
