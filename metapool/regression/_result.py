"""The meta-regression record and its printed summary."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.io.tables import render

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


@attrs.frozen(repr=False, slots=False)
class MetaRegression:
    """Meta-regressions of many groups on one set of moderators.

    Arrays of shape (groups, coefficients) hold the coefficients (``names``
    gives their order, ``"intercept"`` first) and their tests; arrays of shape
    (groups,) the per-group statistics. A group that cannot be fitted (no more
    studies than coefficients, or moderators that are collinear within it) has
    ``estimable`` False, NaN numbers and its ``reason``.

    Attributes
    ----------
    names : tuple of str
    coef, se, z, p_value, ci_lower, ci_upper : ndarray (groups, coefficients)
        With ``hksj``, ``z`` is the t statistic on ``qe_df`` = k - p df.
    vcov : ndarray (groups, coefficients, coefficients)
        Covariance matrix of the coefficients.
    tau2 : ndarray
        Residual τ² (0 for the fixed-effect model).
    qe, qe_df, qe_p : ndarray
        Test for residual heterogeneity (χ², k - p df).
    qm, qm_df, qm_p : ndarray
        Omnibus test of the moderators: Wald χ² on ``qm_df`` df, or with
        ``hksj`` an F statistic on (``qm_df``, ``qe_df``) df.
    r2 : ndarray
        Percentage of τ² accounted for: (τ²₀ - τ²)/τ²₀ against the
        intercept-only model with the same estimator, 0 where τ²₀ = 0 (for the
        fixed-effect model, the adjusted R² of the weighted regression), as metafor.
    i2 : ndarray
        Residual I² (percent), with metafor's typical variance (k - p)/tr(P).
    k, converged, estimable, reason, groups : ndarray
    permutation_p, permutation_qm_p : ndarray or None
        Permutation P-values of each coefficient and of the omnibus test
        (when ``permutations`` was asked for); ``permutations`` is their number.
    """

    names: tuple[str, ...]
    coef: FloatArray
    se: FloatArray
    z: FloatArray
    p_value: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    vcov: FloatArray
    tau2: FloatArray
    qe: FloatArray
    qe_df: FloatArray
    qe_p: FloatArray
    qm: FloatArray
    qm_df: FloatArray
    qm_p: FloatArray
    r2: FloatArray
    i2: FloatArray
    k: FloatArray
    converged: BoolArray
    estimable: BoolArray
    reason: Any
    groups: Any
    model: str
    method: str
    hksj: bool | str
    ci_level: float
    intercept: bool
    permutation_p: FloatArray | None = None
    permutation_qm_p: FloatArray | None = None
    permutations: int | None = None
    exact: bool = False
    # the studies, for plots: estimates, variances, moderators, group of each
    yi: FloatArray = attrs.field(default=None, eq=False)
    vi: FloatArray = attrs.field(default=None, eq=False)
    x: FloatArray = attrs.field(default=None, eq=False)
    study_group: IntArray = attrs.field(default=None, eq=False)
    header: str | None = attrs.field(default=None, eq=False)

    def __repr__(self) -> str:
        n = self.tau2.size
        return (
            f"MetaRegression({n} group{'s' * (n != 1)}, coefficients {list(self.names)}, "
            f"model={self.model!r}, tau2={self.method!r})"
        )

    def __str__(self) -> str:
        return "\n\n".join(self._format(g) for g in range(self.tau2.size))

    def _format(self, g: int) -> str:
        random = self.model == "random"
        label = self.groups[g]
        lines = []
        if self.header:
            lines.append(self.header)
        title = "Mixed-effects" if random else "Fixed-effect"
        if self.groups.size > 1:
            title += f" meta-regression, group {label!r}"
        else:
            title += " meta-regression"
        est = f"; τ² estimator {self.method}" if random else ""
        lines.append(f"{title} (k = {int(self.k[g])}{est})")
        if not self.estimable[g]:
            lines.append(f"Not estimable: {self.reason[g]}")
            return "\n".join(lines)
        if random:
            lines.append(f"tau^2 (residual heterogeneity):          {self.tau2[g]:.4f}")
            lines.append(f"I^2 (residual heterogeneity):            {self.i2[g]:.2f}%")
            if self.intercept:
                lines.append(f"R^2 (heterogeneity accounted for):       {self.r2[g]:.2f}%")
        df = int(self.qe_df[g])
        lines.append(
            f"Test for residual heterogeneity: QE(df = {df}) = {self.qe[g]:.4f}, "
            f"p = {_p(self.qe_p[g])}"
        )
        m = int(self.qm_df[g])
        if self.hksj:
            test = f"F(df1 = {m}, df2 = {df}) = {self.qm[g]:.4f}"
        else:
            test = f"QM(df = {m}) = {self.qm[g]:.4f}"
        moderators = "all coefficients" if not self.intercept else "the moderators"
        perm = ""
        if self.permutation_qm_p is not None:
            perm = f", permutation p = {_p(self.permutation_qm_p[g])}"
        lines.append(f"Test of {moderators}: {test}, p = {_p(self.qm_p[g])}{perm}")
        stat = "tval" if self.hksj else "zval"
        level = f"{100 * self.ci_level:g}%"
        head = ["", "estimate", "se", stat, "pval", f"ci.lb {level}", "ci.ub"]
        if self.permutation_p is not None:
            head.append("pval(perm)")
        rows = []
        for j, name in enumerate(self.names):
            row = [name] + [f"{getattr(self, f)[g, j]:.4f}" for f in ("coef", "se", "z")]
            row += [_p(self.p_value[g, j])]
            row += [f"{getattr(self, f)[g, j]:.4f}" for f in ("ci_lower", "ci_upper")]
            if self.permutation_p is not None:
                row.append(_p(self.permutation_p[g, j]))
            rows.append(row)
        lines.append(render(head, rows))
        if self.permutations is not None:
            kind = "exact" if self.exact else "random"
            lines.append(f"Permutation test: {self.permutations} {kind} permutations")
        return "\n".join(lines)

    def bubble(
        self,
        moderator: str | None = None,
        group: Any = None,
        *,
        ylabel: str = "Effect (analysis scale)",
    ) -> Figure:
        """Bubble plot of the effects against one moderator (matplotlib Figure).

        See :func:`metapool.plots.bubble.bubble`.
        """
        from metapool.plots.bubble import bubble

        return bubble(self, moderator, group=group, ylabel=ylabel)


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"
