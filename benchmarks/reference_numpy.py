"""Minimal hand-written numpy implementations that the benchmark treats as the floor.

These are what a competent user would write in an afternoon for one fixed
layout: no input checks, no labels, no options, nothing beyond the formulas.
``metapool.pool`` does more (validation, any group labels, p-values, I², H²,
convergence flags), so the ratio to these is the price of all of that.

Every function takes flat study arrays and integer group codes ``0..n-1`` (one
per study, any order) and returns per-group arrays.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["dl", "dl_full", "dl_sorted", "p_q", "reml_loglik"]


def dl(yi: np.ndarray, vi: np.ndarray, codes: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """DerSimonian-Laird random effects by segment sums (np.bincount).

    Σw, Σwy, Q in residual form, C = Σw - Σw²/Σw, τ² = max(0, (Q - df)/C),
    then Σw*, Σw*y and the pooled estimate and its standard error.
    """
    k = np.bincount(codes, minlength=n)
    w = 1.0 / vi
    sw = np.bincount(codes, weights=w, minlength=n)
    theta_f = np.bincount(codes, weights=w * yi, minlength=n) / sw
    r = yi - theta_f[codes]
    q = np.bincount(codes, weights=w * r * r, minlength=n)
    sw2 = np.bincount(codes, weights=w * w, minlength=n)
    c = sw - sw2 / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(k > 1, np.maximum(0.0, (q - (k - 1)) / c), 0.0)
    ws = 1.0 / (vi + tau2[codes])
    sws = np.bincount(codes, weights=ws, minlength=n)
    estimate = np.bincount(codes, weights=ws * yi, minlength=n) / sws
    return {"estimate": estimate, "se": np.sqrt(1.0 / sws), "tau2": tau2, "q": q, "k": k}


def dl_sorted(yi: np.ndarray, vi: np.ndarray, starts: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`dl` for studies sorted by group, no group empty: ``np.add.reduceat`` over runs.

    ``starts`` holds the offset of each group's first study. Contiguous sums
    avoid bincount's scatter, so this is a lower floor than :func:`dl` for the
    sorted layouts the benchmark uses (context; the target is against :func:`dl`).
    """
    k = np.diff(starts, append=yi.size)
    w = 1.0 / vi
    sw = np.add.reduceat(w, starts)
    theta_f = np.add.reduceat(w * yi, starts) / sw
    r = yi - np.repeat(theta_f, k)
    q = np.add.reduceat(w * r * r, starts)
    sw2 = np.add.reduceat(w * w, starts)
    c = sw - sw2 / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(k > 1, np.maximum(0.0, (q - (k - 1)) / c), 0.0)
    ws = 1.0 / (vi + np.repeat(tau2, k))
    sws = np.add.reduceat(ws, starts)
    estimate = np.add.reduceat(ws * yi, starts) / sws
    return {"estimate": estimate, "se": np.sqrt(1.0 / sws), "tau2": tau2, "q": q, "k": k}


def dl_full(yi: np.ndarray, vi: np.ndarray, codes: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """:func:`dl` plus the rest of what ``metapool.pool`` computes eagerly by default.

    95% Wald CI, z, two-sided p, I² and H² from Q. Not a target: it shows how
    much of metapool's time the extra outputs cost. The P-value of Q (a χ² tail,
    as expensive as all the rest) is left out because metapool computes it only
    when ``.p_q`` is read; :func:`p_q` is the same formula.
    """
    out = dl(yi, vi, codes, n)
    est, se, q, k = out["estimate"], out["se"], out["q"], out["k"]
    df = k - 1.0
    crit = special.ndtri(0.975)
    z = est / se
    with np.errstate(divide="ignore", invalid="ignore"):
        out.update(
            ci_lower=est - crit * se,
            ci_upper=est + crit * se,
            z=z,
            p_value=2 * special.ndtr(-np.abs(z)),
            i2=np.where(q > 0, np.maximum(0.0, (q - df) / q), 0.0) * 100,
            h2=q / df,
        )
    return out


def p_q(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """P-value of the heterogeneity test: χ² tail of Q with k - 1 df."""
    return special.chdtrc(k - 1.0, q)


def reml_loglik(
    yi: np.ndarray, vi: np.ndarray, codes: np.ndarray, n: int, tau2: np.ndarray
) -> np.ndarray:
    """Restricted log-likelihood of the random-effects model at ``tau2``, per group.

    ll_R(τ²) = -½ [Σ log(vᵢ + τ²) + log Σwᵢ + Σ wᵢ (yᵢ - θ̂)²] + const,
    wᵢ = 1/(vᵢ + τ²), θ̂ = Σwᵢyᵢ / Σwᵢ (the constant is the same for every τ²).
    """
    total = vi + tau2[codes]
    w = 1.0 / total
    sw = np.bincount(codes, weights=w, minlength=n)
    theta = np.bincount(codes, weights=w * yi, minlength=n) / sw
    r = yi - theta[codes]
    return -0.5 * (
        np.bincount(codes, weights=np.log(total), minlength=n)
        + np.log(sw)
        + np.bincount(codes, weights=w * r * r, minlength=n)
    )
