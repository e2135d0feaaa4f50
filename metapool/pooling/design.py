"""Weighted least squares within every group: the mean model behind τ² estimators.

The random-effects model has an intercept only; trim-and-fill's choice of side
regresses the effects on their standard errors (one moderator); a
meta-regression has any number of moderators. All are fitted here by segment
sums, so every τ² estimator serves them all. Up to two coefficients the p×p
algebra is written out; beyond, it runs on stacked (groups, p, p) arrays.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import attrs
import numpy as np

from metapool._typing import FloatArray, IntArray
from metapool.pooling.segments import Segments

__all__ = ["Fit", "Moments", "Studies", "inverse", "stack", "trace"]

# a symmetric per-group matrix X'WX by its upper triangle, row by row:
# (s0,) for an intercept, (s0, s1, s2) for a line, p(p+1)/2 entries in general
Moments = tuple[FloatArray, ...]


def _order(m: Moments) -> int:
    """p for a matrix of p(p+1)/2 entries."""
    return round((math.sqrt(8 * len(m) + 1) - 1) / 2)


def stack(m: Moments) -> FloatArray:
    """The per-group matrices as one (groups, p, p) array."""
    p = _order(m)
    i, j = np.triu_indices(p)
    out = np.empty((m[0].size, p, p))
    out[:, i, j] = np.stack(m, axis=1)
    out[:, j, i] = out[:, i, j]
    return out


def _full(m: Moments) -> list[list[FloatArray]]:
    """The entries of a symmetric per-group matrix as a p×p list of per-group arrays."""
    p = _order(m)
    out: list[list[FloatArray]] = [[m[0]] * p for _ in range(p)]
    for e, (i, j) in enumerate(zip(*np.triu_indices(p), strict=True)):
        out[i][j] = out[j][i] = m[e]
    return out


def _sum(terms: Iterable[FloatArray], like: FloatArray) -> FloatArray:
    """Σ of per-group arrays (zeros shaped like ``like`` when there are none)."""
    out = np.zeros_like(like)
    for t in terms:
        out += t
    return out


def inverse(m: Moments) -> tuple[Moments, FloatArray]:
    """A⁻¹ (upper triangle, as ``m``) and log det A of symmetric positive-definite A.

    By Cholesky factors written out entry by entry: the loops run over p, and
    every operation is on per-group arrays, much faster for millions of small
    matrices than a batched LAPACK call.
    """
    p = _order(m)
    a = _full(m)
    low: list[list[FloatArray]] = [[m[0]] * p for _ in range(p)]  # L, A = LL'
    for j in range(p):
        diag = a[j][j] - _sum((low[j][c] * low[j][c] for c in range(j)), m[0])
        low[j][j] = np.sqrt(diag)
        for i in range(j + 1, p):
            off = a[i][j] - _sum((low[i][c] * low[j][c] for c in range(j)), m[0])
            low[i][j] = off / low[j][j]
    inv_low: list[list[FloatArray]] = [[m[0]] * p for _ in range(p)]  # L⁻¹, lower triangular
    for i in range(p):
        inv_low[i][i] = 1.0 / low[i][i]
        for j in range(i):
            acc = _sum((low[i][c] * inv_low[c][j] for c in range(j, i)), m[0])
            inv_low[i][j] = -acc / low[i][i]
    # A⁻¹ = L⁻ᵀL⁻¹
    entries = tuple(
        _sum((inv_low[c][i] * inv_low[c][j] for c in range(max(i, j), p)), m[0])
        for i, j in zip(*np.triu_indices(p), strict=True)
    )
    log_det = 2 * _sum((np.log(low[i][i]) for i in range(p)), m[0])
    return entries, log_det


def _trace_product(inv: Moments, m: Moments) -> FloatArray:
    """tr(BM) for symmetric B and M (both by upper triangles)."""
    p = _order(m)
    out = np.zeros_like(m[0])
    for e, (i, j) in enumerate(zip(*np.triu_indices(p), strict=True)):
        out += (1.0 if i == j else 2.0) * inv[e] * m[e]
    return out


def trace(a: Moments, m: Moments) -> FloatArray:
    """tr(A⁻¹M) for symmetric per-group matrices A and M."""
    if len(a) == 1:
        return m[0] / a[0]
    if len(a) == 3:
        return (a[2] * m[0] - 2 * a[1] * m[1] + a[0] * m[2]) / (a[0] * a[2] - a[1] * a[1])
    return _trace_product(inverse(a)[0], m)


@attrs.frozen
class Studies:
    """Estimates, variances and (optionally) moderators of many groups' studies.

    ``x`` is one moderator (1-D) or several (2-D, one column each); the model
    has an intercept and these columns.
    """

    yi: FloatArray
    vi: FloatArray
    seg: Segments
    x: FloatArray | None = None

    @property
    def p(self) -> int:
        """Number of coefficients of the mean model."""
        return 1 if self.x is None else 2 if self.x.ndim == 1 else 1 + self.x.shape[1]

    @property
    def columns(self) -> tuple[FloatArray, ...]:
        """The moderators' columns (the intercept's is implicit)."""
        if self.x is None:
            return ()
        return (self.x,) if self.x.ndim == 1 else tuple(self.x.T)

    def subset(self, groups: IntArray) -> Studies:
        """Only the studies of ``groups`` (sorted group indices)."""
        if groups.size == self.seg.n:  # every group: nothing to copy
            return self
        if self.x is None:
            yi, vi, seg = self.seg.subset(groups, self.yi, self.vi)
            return Studies(yi, vi, seg)
        yi, vi, x, seg = self.seg.subset(groups, self.yi, self.vi, self.x)
        return Studies(yi, vi, seg, x)

    def replicate(self, owner: IntArray) -> Studies:
        """Virtual groups holding the studies of groups ``owner`` (sorted, may repeat)."""
        if owner.size < 2 or (owner[1:] > owner[:-1]).all():  # no group twice
            return self.subset(owner)
        rows, seg = self.seg.replicate(owner)
        return Studies(self.yi[rows], self.vi[rows], seg, None if self.x is None else self.x[rows])

    def moments(self, w: FloatArray) -> Moments:
        """X'WX per group for the weights ``w``."""
        s0 = self.seg.sum(w)
        if self.x is None:
            return (s0,)
        cols = self.columns
        wx = [w * c for c in cols]
        first = tuple(self.seg.sum(c) for c in wx)
        m = len(cols)
        rest = (self.seg.sum(wx[i] * cols[j]) for i in range(m) for j in range(i, m))
        return (s0, *first, *rest)

    def fit(self, w: FloatArray) -> Fit:
        """Weighted least squares of ``yi`` on the model, per group."""
        seg, y = self.seg, self.yi
        m = self.moments(w)
        if self.x is None:
            coef: tuple[FloatArray, ...] = (seg.sum(w * y) / m[0],)
            residual = seg.expand(coef[0])
        else:
            wy = w * y
            b = (seg.sum(wy), *(seg.sum(wy * c) for c in self.columns))
            del wy
            if len(m) == 3:
                det = m[0] * m[2] - m[1] * m[1]
                coef = ((m[2] * b[0] - m[1] * b[1]) / det, (m[0] * b[1] - m[1] * b[0]) / det)
            else:
                solved = inverse(m)
                inv = _full(solved[0])
                p = len(b)
                coef = tuple(_sum((inv[i][j] * b[j] for j in range(p)), b[0]) for i in range(p))
            residual = seg.expand(coef[0])
            for c, x in zip(coef[1:], self.columns, strict=True):
                residual += seg.expand(c) * x
        np.subtract(y, residual, out=residual)  # in place: the fitted values become residuals
        fit = Fit(self, w, m, coef, residual)
        if len(m) > 3:  # the inverse is known already: fill the cached property
            fit.__dict__["inverse"] = solved
        return fit


@attrs.frozen(slots=False)
class Fit:
    """A weighted least-squares fit in every group, with P = W - WX(X'WX)⁻¹X'W's traces."""

    studies: Studies
    w: FloatArray
    xtwx: Moments
    coef: tuple[FloatArray, ...]
    residual: FloatArray

    def sum(self, x: FloatArray) -> FloatArray:
        return self.studies.seg.sum(x)

    def rss(self) -> FloatArray:
        """Σ wᵢ rᵢ² (= y'Py): Cochran's Q at these weights."""
        return self.sum(self.w * self.residual * self.residual)

    @functools.cached_property
    def inverse(self) -> tuple[Moments, FloatArray]:
        """(X'WX)⁻¹ and log det X'WX (see :func:`inverse`)."""
        return inverse(self.xtwx)

    def trace(self, m: Moments) -> FloatArray:
        """tr((X'WX)⁻¹ M) for a symmetric per-group M."""
        if len(self.xtwx) > 3:
            return _trace_product(self.inverse[0], m)
        return trace(self.xtwx, m)

    def trace_square(self, m: Moments) -> FloatArray:
        """tr((X'WX)⁻¹ M (X'WX)⁻¹ M)."""
        a = self.xtwx
        if len(a) == 1:
            return (m[0] / a[0]) ** 2
        if len(a) > 3:
            inv, mm = _full(self.inverse[0]), _full(m)
            p = len(mm)
            c = [
                [_sum((inv[i][e] * mm[e][j] for e in range(p)), m[0]) for j in range(p)]
                for i in range(p)
            ]
            return _sum((c[i][j] * c[j][i] for i in range(p) for j in range(p)), m[0])
        det = a[0] * a[2] - a[1] * a[1]
        # C = A⁻¹M, tr(CC) = c00² + 2 c01 c10 + c11²
        c00 = (a[2] * m[0] - a[1] * m[1]) / det
        c01 = (a[2] * m[1] - a[1] * m[2]) / det
        c10 = (a[0] * m[1] - a[1] * m[0]) / det
        c11 = (a[0] * m[2] - a[1] * m[1]) / det
        return c00 * c00 + 2 * c01 * c10 + c11 * c11

    def quadratic(self, g: Moments) -> FloatArray:
        """g'(X'WX)⁻¹g for a per-group vector g = (g0, ..., g_{p-1})."""
        a = self.xtwx
        if len(a) == 1:
            return g[0] * g[0] / a[0]
        if len(a) > 3:
            gs = np.stack(g, axis=1)
            out: FloatArray = np.einsum(
                "gi,gi->g", gs, np.linalg.solve(stack(a), gs[..., None])[..., 0]
            )
            return out
        det = a[0] * a[2] - a[1] * a[1]
        return (a[2] * g[0] * g[0] - 2 * a[1] * g[0] * g[1] + a[0] * g[1] * g[1]) / det

    def log_det(self) -> FloatArray:
        """log det(X'WX)."""
        a = self.xtwx
        if len(a) > 3:
            return self.inverse[1]
        return np.log(a[0]) if len(a) == 1 else np.log(a[0] * a[2] - a[1] * a[1])

    @functools.cached_property
    def xtw2x(self) -> Moments:
        """X'W²X per group (its first entry is Σwᵢ²)."""
        return self.studies.moments(self.w * self.w)

    def times_x(self, v: FloatArray) -> Moments:
        """X'v per group."""
        return (self.sum(v), *(self.sum(v * c) for c in self.studies.columns))
