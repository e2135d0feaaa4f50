"""The batched fit of every group at once, and its tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.errors import InputError
from metapool.pooling.design import Studies, stack
from metapool.pooling.engine import z_critical
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2

#: a moderator's share of variance not explained by the others below this makes a
#: design rank-deficient (squared singular values of the correlation-scaled design)
RANK_TOL = 1e-12


def _test(hksj: Any) -> str:
    if hksj is False or hksj is True:
        return "knha" if hksj else "z"
    if hksj == "adhoc":
        return "adhoc"
    raise InputError(f"hksj must be True, False or 'adhoc', got {hksj!r}")


def _sorted(seg: Segments) -> IntArray | None:
    if seg.starts is not None:
        return None
    return np.argsort(seg.codes, kind="stable")


def _fit(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    seg: Segments,
    *,
    random: bool,
    method: str,
    test: str,
    level: float,
    basis: FloatArray | None = None,
    r2: bool = True,
) -> dict[str, Any]:
    """Every group's meta-regression; studies sorted by group.

    The model is an intercept and the columns of ``x``; ``basis`` (for a
    model without intercept) maps its coefficients to those reported.
    """
    n, p = seg.n, x.shape[1] + 1
    m = p - 1 if basis is None else p  # coefficients QM tests
    k = seg.counts.astype(np.float64)
    reason = np.full(n, "", dtype=object)
    ok = _full_rank(x, seg)
    reason[~ok] = "moderators are collinear within the group"
    few = k <= p
    reason[few] = f"k <= {p}: no more studies than coefficients"
    ok &= ~few
    good = np.flatnonzero(ok)
    out = _nan_fields(n, p)
    out.update(k=k, converged=np.ones(n, dtype=bool), estimable=ok, reason=reason)
    if good.size == 0:
        return out
    # centred moderators condition X'WX (a moderator like the year); the intercept
    # is transformed back at the end
    centre = x.mean(axis=0)
    studies = Studies(y, v, seg, x - centre).subset(good)
    kg = k[good]
    with np.errstate(divide="ignore", invalid="ignore"):
        fit0 = studies.fit(1.0 / v if good.size == n else 1.0 / studies.vi)
        base = Within.of(fit0)
        qe = np.maximum(base.q_iv, 0.0)
        df = kg - p
        if random:
            est = estimate_tau2(method, base)
            t2, converged = est.tau2, est.converged
            fit = studies.fit(1.0 / (studies.vi + studies.seg.expand(t2)))
        else:
            t2, converged, fit = np.zeros(good.size), np.ones(good.size, dtype=bool), fit0
        vb = stack(fit.inverse[0])
        if test != "z":
            s2w = fit.rss() / df
            if test == "adhoc":
                s2w = np.maximum(s2w, 1.0)
            vb *= s2w[:, None, None]
        # back to the moderators' own scale: b0 = b0c - Σ bⱼ cⱼ
        t = np.eye(p)
        t[0, 1:] = -centre
        if basis is not None:
            t = basis @ t
        coef = np.stack(fit.coef, axis=1) @ t.T
        vb = t @ vb @ t.T
        se = np.sqrt(np.einsum("gii->gi", vb))
        z = coef / se
        tested = coef[:, p - m :]
        solved = np.linalg.solve(vb[:, p - m :, p - m :], tested[..., None])[..., 0]
        qm = np.einsum("gi,gi->g", tested, solved)
        if test == "z":
            p_value = 2 * special.ndtr(-np.abs(z))
            crit: Any = z_critical(level)
            qm_p = special.chdtrc(m, qm)
        else:
            p_value = 2 * special.stdtr(df[:, None], -np.abs(z))
            crit = special.stdtrit(df, 0.5 + level / 2)[:, None]
            qm = qm / m
            qm_p = special.fdtrc(m, df, qm)
        trace_p = base.xtwx[0] - fit0.trace(base.xtw2x)
        # metafor: from τ² and the typical variance (k - p)/tr(P); from QE for fixed effect
        i2 = 100 * t2 / (df / trace_p + t2) if random else np.maximum(0.0, 100 * (qe - df) / qe)
        r2 = r2 and basis is None  # metafor: no R² without an intercept
        r2_v = _r2(studies, t2, qe, df, random=random, method=method) if r2 else np.nan
    values = dict(
        coef=coef,
        se=se,
        z=z,
        p_value=p_value,
        ci_lower=coef - crit * se,
        ci_upper=coef + crit * se,
        vcov=vb,
        tau2=t2,
        qe=qe,
        qe_df=df,
        qe_p=special.chdtrc(df, qe),
        qm=qm,
        qm_df=np.full(good.size, float(m)),
        qm_p=qm_p,
        r2=r2_v,
        i2=i2,
    )
    for key, value in values.items():
        out[key][good] = value
    out["converged"][good] = converged
    return out


def _nan_fields(n: int, p: int) -> dict[str, Any]:
    per_coef = ("coef", "se", "z", "p_value", "ci_lower", "ci_upper")
    per_group = ("tau2", "qe", "qe_df", "qe_p", "qm", "qm_df", "qm_p", "r2", "i2")
    out: dict[str, Any] = {key: np.full((n, p), np.nan) for key in per_coef}
    out.update({key: np.full(n, np.nan) for key in per_group})
    out["vcov"] = np.full((n, p, p), np.nan)
    return out


def _full_rank(x: FloatArray, seg: Segments) -> BoolArray:
    """Whether [1, X] has full column rank in each group.

    Within-group centred columns, scaled to unit length, must have a Gram
    matrix whose smallest eigenvalue is not lost in rounding.
    """
    m = x.shape[1]
    k = np.maximum(seg.counts, 1).astype(np.float64)
    centred = x - np.stack([seg.expand(seg.sum(c) / k) for c in x.T], axis=1)
    i, j = np.triu_indices(m)
    gram = np.empty((seg.n, m, m))
    gram[:, i, j] = np.stack(
        [seg.sum(centred[:, a] * centred[:, b]) for a, b in zip(i, j, strict=True)], 1
    )
    gram[:, j, i] = gram[:, i, j]
    scale = np.sqrt(np.einsum("gii->gi", gram))
    # a column constant within the group (or all zero) is collinear with the intercept
    size = np.sqrt(np.stack([seg.sum(c * c) for c in x.T], axis=1))
    constant = scale <= 1e-10 * size
    safe = np.where(constant, 1.0, scale)
    corr = gram / (safe[:, :, None] * safe[:, None, :])
    smallest = np.linalg.eigvalsh(corr)[:, 0]
    ok: BoolArray = ~constant.any(axis=1) & (smallest > RANK_TOL * m)
    return ok


def _r2(
    studies: Studies, tau2: FloatArray, qe: FloatArray, df: FloatArray, *, random: bool, method: str
) -> FloatArray:
    """metafor's pseudo-R² (percent) against the intercept-only model."""
    alone = Studies(studies.yi, studies.vi, studies.seg)
    fit0 = alone.fit(1.0 / alone.vi)
    if random:
        tau2_0 = estimate_tau2(method, Within.of(fit0)).tau2
        return np.where(tau2_0 > 0, np.maximum(0.0, 100 * (tau2_0 - tau2) / tau2_0), 0.0)
    # the adjusted R² of the weighted least-squares regression (metafor's lm())
    q0 = fit0.rss()
    k = studies.seg.counts
    adj = 1 - (qe / df) / (q0 / (k - 1))
    return np.where(q0 > 0, np.maximum(0.0, 100 * adj), 0.0)
