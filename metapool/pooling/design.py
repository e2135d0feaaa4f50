"""Weighted least squares within every group: the mean model behind τ² estimators.

The random-effects model has an intercept only; trim-and-fill's choice of side
regresses the effects on their standard errors, a model with one moderator.
Both are fitted here by segment sums, so every τ² estimator serves both.
"""

from __future__ import annotations

import functools

import attrs
import numpy as np

from metapool._typing import FloatArray, IntArray
from metapool.pooling.segments import Segments

__all__ = ["Fit", "Moments", "Studies", "trace"]

# a symmetric per-group matrix X'WX: (s0,) for an intercept, (s0, s1, s2) for a line
Moments = tuple[FloatArray, ...]


def trace(a: Moments, m: Moments) -> FloatArray:
    """tr(A⁻¹M) for symmetric per-group matrices A and M."""
    if len(a) == 1:
        return m[0] / a[0]
    return (a[2] * m[0] - 2 * a[1] * m[1] + a[0] * m[2]) / (a[0] * a[2] - a[1] * a[1])


@attrs.frozen
class Studies:
    """Estimates, variances and (optionally) one moderator of many groups' studies."""

    yi: FloatArray
    vi: FloatArray
    seg: Segments
    x: FloatArray | None = None

    @property
    def p(self) -> int:
        """Number of coefficients of the mean model."""
        return 1 if self.x is None else 2

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
        wx = w * self.x
        return (s0, self.seg.sum(wx), self.seg.sum(wx * self.x))

    def fit(self, w: FloatArray) -> Fit:
        """Weighted least squares of ``yi`` on the model, per group."""
        seg, y = self.seg, self.yi
        m = self.moments(w)
        if self.x is None:
            coef: tuple[FloatArray, ...] = (seg.sum(w * y) / m[0],)
            residual = seg.expand(coef[0])
        else:
            wy = w * y
            b0, b1 = seg.sum(wy), seg.sum(wy * self.x)
            del wy
            det = m[0] * m[2] - m[1] * m[1]
            coef = ((m[2] * b0 - m[1] * b1) / det, (m[0] * b1 - m[1] * b0) / det)
            residual = seg.expand(coef[1]) * self.x
            residual += seg.expand(coef[0])
        np.subtract(y, residual, out=residual)  # in place: the fitted values become residuals
        return Fit(self, w, m, coef, residual)


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

    def trace(self, m: Moments) -> FloatArray:
        """tr((X'WX)⁻¹ M) for a symmetric per-group M."""
        return trace(self.xtwx, m)

    def trace_square(self, m: Moments) -> FloatArray:
        """tr((X'WX)⁻¹ M (X'WX)⁻¹ M)."""
        a = self.xtwx
        if len(a) == 1:
            return (m[0] / a[0]) ** 2
        det = a[0] * a[2] - a[1] * a[1]
        # C = A⁻¹M, tr(CC) = c00² + 2 c01 c10 + c11²
        c00 = (a[2] * m[0] - a[1] * m[1]) / det
        c01 = (a[2] * m[1] - a[1] * m[2]) / det
        c10 = (a[0] * m[1] - a[1] * m[0]) / det
        c11 = (a[0] * m[2] - a[1] * m[1]) / det
        return c00 * c00 + 2 * c01 * c10 + c11 * c11

    def quadratic(self, g: Moments) -> FloatArray:
        """g'(X'WX)⁻¹g for a per-group vector g = (g0,) or (g0, g1)."""
        a = self.xtwx
        if len(a) == 1:
            return g[0] * g[0] / a[0]
        det = a[0] * a[2] - a[1] * a[1]
        return (a[2] * g[0] * g[0] - 2 * a[1] * g[0] * g[1] + a[0] * g[1] * g[1]) / det

    def log_det(self) -> FloatArray:
        """log det(X'WX)."""
        a = self.xtwx
        return np.log(a[0]) if len(a) == 1 else np.log(a[0] * a[2] - a[1] * a[1])

    @functools.cached_property
    def xtw2x(self) -> Moments:
        """X'W²X per group (its first entry is Σwᵢ²)."""
        return self.studies.moments(self.w * self.w)

    def times_x(self, v: FloatArray) -> Moments:
        """X'v per group."""
        s = self.studies
        return (self.sum(v),) if s.x is None else (self.sum(v), self.sum(v * s.x))
