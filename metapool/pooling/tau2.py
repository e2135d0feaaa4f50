"""Between-study variance τ² (spec §5): every estimator, for all groups at once.

Definitions follow metafor's ``rma.uni`` for a model without moderators. The
iterative estimators update every unfinished group in one array operation and
keep a per-group convergence flag instead of looping over groups.
"""

from __future__ import annotations

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray
from metapool.pooling.segments import Segments

__all__ = ["Tau2", "estimate_tau2", "generalised_q_root"]

#: convergence tolerance on τ² (relative to max(1, τ²)) and iteration cap
TOL = 1e-12
MAXITER = 200


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
                    start = np.where(multi, np.maximum(tau2, 0.0), 0.0)
                    res = _fisher_scoring(base, start, reml=method == "REML")
                    tau2, done, iterations = res.tau2, res.converged, res.iterations
        elif method in ("PM", "EB"):
            # EB's iteration (metafor) has the Paule-Mandel root as its fixed point
            res = generalised_q_root(base, k - 1)
            tau2, done, iterations = res.tau2, res.converged, res.iterations
        else:  # pragma: no cover - names are checked by vocabulary.resolve
            raise ValueError(method)
    tau2 = np.where(multi, np.maximum(tau2, 0.0), 0.0)
    return Tau2(tau2, done | ~multi, iterations)


def _fisher_scoring(base: Within, start: FloatArray, *, reml: bool) -> Tau2:
    """Maximise the (restricted) likelihood by Fisher scoring, all groups at once.

    A step that lowers a group's likelihood is halved, so each group climbs
    monotonically; at the end τ² = 0 replaces an interior maximum whose
    likelihood it beats (as metafor checks).
    """
    seg, yi, vi = base.seg, base.yi, base.vi
    tau2 = start.copy()
    active = base.k >= 2
    converged = ~active
    iterations = np.zeros(seg.n)
    prev_ll = np.full(seg.n, -np.inf)
    prev_tau2 = tau2.copy()
    for _ in range(MAXITER):
        if not active.any():
            break
        ll, step = _likelihood_step(yi, vi, seg, tau2, reml=reml)
        worse = active & (ll < prev_ll - 1e-12 * np.abs(prev_ll))
        # a step that went downhill is halved and tried again
        retry = np.where(worse, 0.5 * (prev_tau2 + tau2), tau2)
        new = np.where(worse, retry, np.maximum(tau2 + step, 0.0))
        change = np.abs(new - tau2)
        small = change <= TOL * np.maximum(1.0, tau2)
        finished = active & ~worse & small
        converged |= finished
        iterations += active
        prev_ll = np.where(active & ~worse, ll, prev_ll)
        prev_tau2 = np.where(active & ~worse, tau2, prev_tau2)
        tau2 = np.where(active & ~finished, new, tau2)
        active &= ~finished
    at_zero, _ = _likelihood_step(yi, vi, seg, np.zeros(seg.n), reml=reml)
    at_tau2, _ = _likelihood_step(yi, vi, seg, tau2, reml=reml)
    tau2 = np.where(at_zero > at_tau2, 0.0, tau2)
    return Tau2(tau2, converged, iterations)


def _likelihood_step(
    yi: FloatArray, vi: FloatArray, seg: Segments, tau2: FloatArray, *, reml: bool
) -> tuple[FloatArray, FloatArray]:
    """Log-likelihood (up to a constant) and the Fisher scoring step at ``tau2``."""
    total = vi + seg.expand(tau2)
    w = 1.0 / total
    sw = seg.sum(w)
    theta = seg.sum(w * yi) / sw
    wr = w * (yi - seg.expand(theta))
    sw2 = seg.sum(w * w)
    swr2 = seg.sum(wr * wr)
    ll = -0.5 * (seg.sum(np.log(total)) + seg.sum(wr * (yi - seg.expand(theta))))
    if reml:
        ll -= 0.5 * np.log(sw)
        trace_p = sw - sw2 / sw
        trace_pp = sw2 - 2 * seg.sum(w * w * w) / sw + (sw2 / sw) ** 2
        step = (swr2 - trace_p) / trace_pp
    else:
        step = (swr2 - sw) / sw2
    return ll, step


def generalised_q(base: Within, tau2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Generalised Q(τ²) = Σ wᵢ(yᵢ - θ)², wᵢ = 1/(vᵢ + τ²), and its derivative."""
    seg = base.seg
    w = 1.0 / (base.vi + seg.expand(tau2))
    theta = seg.sum(w * base.yi) / seg.sum(w)
    wr = w * (base.yi - seg.expand(theta))
    wr2 = wr * (base.yi - seg.expand(theta))
    return seg.sum(wr2), -seg.sum(wr * wr)


def generalised_q_root(base: Within, target: FloatArray) -> Tau2:
    """Solve Q(τ²) = target for τ² ≥ 0 in every group (0 where Q(0) < target).

    Q(τ²) decreases in τ², and Q(τ²) ≤ Σ(yᵢ - ȳ)²/τ², which brackets the root;
    Newton steps that leave the bracket are replaced by bisection.
    """
    seg, k = base.seg, base.k
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = base.yi - seg.expand(seg.sum(base.yi) / k)
        hi = seg.sum(centred * centred) / target
        q0, _ = generalised_q(base, np.zeros(seg.n))
        active = (k >= 2) & (q0 > target) & (hi > 0)
        lo = np.zeros(seg.n)
        tau2 = np.zeros(seg.n)
        converged = ~active
        iterations = np.zeros(seg.n)
        for _ in range(MAXITER):
            if not active.any():
                break
            q, dq = generalised_q(base, tau2)
            f = q - target
            lo = np.where(active & (f > 0), tau2, lo)
            hi = np.where(active & (f <= 0), tau2, hi)
            newton = tau2 - f / dq
            inside = (newton > lo) & (newton < hi)
            new = np.where(inside, newton, 0.5 * (lo + hi))
            small = np.abs(new - tau2) <= TOL * np.maximum(1.0, tau2)
            finished = active & (small | (f == 0))
            iterations += active
            tau2 = np.where(active, np.where(f == 0, tau2, new), tau2)
            converged |= finished
            active &= ~finished
    return Tau2(np.where(np.isfinite(tau2), tau2, 0.0), converged, iterations)
