"""Meta-regression for one analysis or a million: mixed-effects models with moderators.

Every group (analysis) is fitted at once by segment sums on one design, with
the τ² estimators of :mod:`metapool.pooling.tau2` as metafor's ``rma(mods=)``
defines them; permutation tests run as one batch of permuted meta-regressions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from scipy import special

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.batch import _layout, pool_settings
from metapool.effects import EffectSizes
from metapool.errors import InputError
from metapool.plots._style import label_lines
from metapool.pooling.design import Studies, stack
from metapool.pooling.engine import z_critical
from metapool.pooling.segments import Segments
from metapool.pooling.tau2 import Within, estimate_tau2
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = ["MetaRegression", "design_matrix", "metareg", "metareg_analysis"]

#: largest number of distinct permutations an exact permutation test enumerates
EXACT_LIMIT = 1_000_000
#: a moderator's share of variance not explained by the others below this makes a
#: design rank-deficient (squared singular values of the correlation-scaled design)
RANK_TOL = 1e-12
#: metafor's permutest compares statistics with this absolute tolerance (sqrt(eps))
PERM_TOL = math.sqrt(np.finfo(float).eps)
#: studies per batch of permuted meta-regressions
PERM_BLOCK = 2_000_000


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
        rows = [head]
        for j, name in enumerate(self.names):
            row = [name] + [f"{getattr(self, f)[g, j]:.4f}" for f in ("coef", "se", "z")]
            row += [_p(self.p_value[g, j])]
            row += [f"{getattr(self, f)[g, j]:.4f}" for f in ("ci_lower", "ci_upper")]
            if self.permutation_p is not None:
                row.append(_p(self.permutation_p[g, j]))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for r in rows:
            lines.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        if self.permutations is not None:
            kind = "exact" if self.exact else "random"
            lines.append(f"Permutation test: {self.permutations} {kind} permutations")
        return "\n".join(lines)

    def bubble(self, moderator: str | None = None, group: Any = None, **kwargs: Any) -> Any:
        """Bubble plot of the effects against one moderator (matplotlib Figure).

        See :func:`metapool.plots.bubble.bubble`.
        """
        from metapool.plots.bubble import bubble

        return bubble(self, moderator, group=group, **kwargs)


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def design_matrix(
    moderators: Any, n: int, *, intercept: bool = True
) -> tuple[tuple[str, ...], FloatArray]:
    """Moderator names and the (n, m) design without its intercept column.

    ``moderators`` maps names to per-study values, or is a data frame, an
    (n × m) array (names ``x1``..``xm``) or a 1-D array (``x1``). Numeric values are used as
    they are; strings (and booleans) are categorical: one 0/1 column per level
    but the first in sorted order (the reference), named ``"name=level"``.
    Without an intercept the first categorical moderator keeps every level
    (as R's model formulae ``~ factor - 1``).

    Examples
    --------
    >>> names, x = design_matrix({"dose": [1, 2, 4], "arm": ["b", "a", "b"]}, 3)
    >>> names
    ('dose', 'arm=b')
    >>> x.tolist()
    [[1.0, 1.0], [2.0, 0.0], [4.0, 1.0]]
    """
    if isinstance(moderators, Mapping):
        items = list(moderators.items())
    elif hasattr(moderators, "columns"):  # a data frame: its columns by name
        items = [(str(c), np.asarray(moderators[c])) for c in moderators.columns]
    else:
        arr = np.asarray(moderators)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(f"moderators must be a mapping or a 1-D/2-D array, got {arr.ndim}-D")
        items = [(f"x{j + 1}", arr[:, j]) for j in range(arr.shape[1])]
    if not items:
        raise InputError("moderators is empty: a meta-regression needs at least one")
    names: list[str] = []
    columns: list[FloatArray] = []
    for name, values in items:
        col = np.asarray(values)
        if col.ndim != 1 or col.size != n:
            raise InputError(
                f"moderator {name!r} has shape {col.shape}, expected {n} values (one per study)"
            )
        if col.dtype.kind in "iuf":
            num = col.astype(np.float64)
            bad = ~np.isfinite(num)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"moderator {name!r}, study {i}: value {num[i]} is not finite")
            names.append(str(name))
            columns.append(num)
            continue
        if col.dtype.kind not in "USbO":
            raise InputError(f"moderator {name!r}: cannot use values of dtype {col.dtype}")
        missing = [i for i, v in enumerate(col.tolist()) if v is None or v != v]
        if missing:
            raise InputError(f"moderator {name!r}, study {missing[0]}: value is missing")
        try:
            levels, codes = np.unique(col, return_inverse=True)
        except TypeError as exc:
            raise InputError(f"moderator {name!r}: levels must be sortable ({exc})") from None
        first = 0 if not intercept and not any("=" in nm for nm in names) else 1
        for j in range(first, levels.size):
            names.append(f"{name}={levels[j]}")
            columns.append((codes.reshape(-1) == j).astype(np.float64))
    return tuple(names), np.column_stack(columns)


def metareg(
    yi: Any,
    vi: Any,
    moderators: Any,
    groups: Any = None,
    model: str = "random",
    tau2: str | None = None,
    hksj: bool | str = False,
    ci_level: float = 0.95,
    *,
    intercept: bool = True,
    permutations: int | str | None = None,
    seed: int | np.random.Generator | None = None,
) -> MetaRegression:
    """Meta-regression of many groups of studies on one set of moderators, all at once.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances (analysis scale), flat; ``yi`` may be
        an :class:`~metapool.EffectSizes` (then ``vi=None``; its non-estimable
        studies are left out, as in :func:`metapool.pool`).
    moderators : mapping or array_like
        Name -> one value per study, or a data frame (strings are dummy-coded, see
        :func:`design_matrix`), or an (n × m) array named ``x1``..``xm``.
    groups : array_like, optional
        Each study's analysis label, as in :func:`metapool.pool`.
    model : {"random", "fixed"}
    tau2 : str, optional
        DL, REML (the default), ML, PM, EB, HE, SJ or HS, as metafor's
        ``rma(mods=)``; random effects only.
    hksj : bool or "adhoc"
        Knapp-Hartung: the covariance scaled by the weighted residual variance,
        t tests on k - p df and the omnibus test as F(m, k - p) (metafor's
        ``test="knha"``); ``"adhoc"`` never scales it below 1 (``test="adhoc"``).
    ci_level : float
    intercept : bool
        Whether the model has an intercept. Without one, the moderators'
        columns must add up to a constant (every level of a factor, as
        ``mods = ~ factor - 1`` in metafor); QM then tests all coefficients.
    permutations : int or "exact", optional
        Permutation tests (Higgins and Thompson 2004) of each coefficient and
        of the omnibus test, permuting the moderators' rows within each group:
        ``N`` permutations (the observed order counted as one), or every
        distinct permutation with ``"exact"`` (also when ``N`` is at least
        their number), as metafor's ``permutest``.
    seed : int or numpy.random.Generator, optional
        Random permutations are drawn from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    MetaRegression

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor
    package. J Stat Softw 36(3).
    Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings
    from meta-regression. Stat Med 23:1663-82.
    Knapp G, Hartung J (2003). Improved tests for a random effects
    meta-regression with a single covariate. Stat Med 22:2693-710.

    Examples
    --------
    >>> res = metareg([0.1, 0.3, 0.35, 0.6, 0.7], [0.01, 0.02, 0.015, 0.02, 0.03],
    ...               {"dose": [1, 2, 3, 4, 5]}, tau2="DL")
    >>> res.names
    ('intercept', 'dose')
    >>> [round(float(b), 4) for b in res.coef[0]]
    [-0.0477, 0.1513]
    """
    if tau2 is None and model == "random":
        tau2 = "REML"
    settings = pool_settings(model, tau2, ci_level, False, False, "Q")
    test = _test(hksj)
    if isinstance(yi, EffectSizes):
        names, x = design_matrix(moderators, yi.yi.size, intercept=intercept)
        x = x[yi.estimable]
    else:
        n = np.asarray(yi).reshape(-1).size if np.asarray(yi).ndim == 1 else -1
        if n < 0:
            raise InputError("metareg takes flat yi and vi, with groups for several analyses")
        names, x = design_matrix(moderators, n, intercept=intercept)
    z, basis = (x, None) if intercept else _through_intercept(x)
    y, v, seg, labels = _layout(yi, vi, groups)
    order = _sorted(seg)
    if order is not None:  # studies by group, so that sums run over contiguous runs
        y, v, x, z = y[order], v[order], x[order], z[order]
        seg = Segments.of_sizes(seg.counts)
    random = settings.model is Model.RANDOM
    options: dict[str, Any] = dict(random=random, method=settings.tau2, test=test, basis=basis)
    # every group in one call; groups are independent, so a future ``workers=`` can
    # hand contiguous runs of them to threads here
    fit = _fit(y, v, z, seg, level=ci_level, **options)
    extra: dict[str, Any] = {}
    if permutations is not None:
        extra = _permutation_test(y, v, z, seg, fit, permutations, seed, **options)
    return MetaRegression(
        names=("intercept", *names) if intercept else names,
        groups=labels,
        model=settings.model.value,
        method=settings.tau2,
        hksj=hksj,
        ci_level=settings.ci_level,
        intercept=bool(intercept),
        yi=y,
        vi=v,
        x=x,
        study_group=seg.codes,
        **fit,
        **extra,
    )


def metareg_analysis(res: MetaAnalysis, moderators: Any, **options: Any) -> MetaRegression:
    """:meth:`MetaAnalysis.metareg`: the analysis' effect sizes on ``moderators``.

    ``moderators`` maps names to one value per study, in the order of the
    studies given to :func:`metapool.analyse` (``res.studies``); strings are
    categorical. Options are :func:`metareg`'s (random effects with REML by
    default, whatever the analysis used). Studies that are not estimable in
    the analysis are left out, and named in the printed header.
    """
    effects = res.effects
    if effects is None:  # pragma: no cover - analyse always keeps them
        raise InputError("this result does not carry its effect sizes; re-run analyse()")
    if isinstance(moderators, Mapping):
        for name, values in moderators.items():
            if np.ndim(values) != 1 or len(values) != len(res.studies):
                raise InputError(
                    f"moderator {name!r} needs one value per study of the analysis "
                    f"({len(res.studies)}, in the order given to analyse), "
                    f"got {np.shape(values)}"
                )
    out = metareg(effects, None, moderators, **options)
    settings = res.settings
    measure = label_lines(settings.label)[0]
    scale = " (coefficients on the log scale)" if settings.ratio else ""
    left_out = [s.study for s in res.studies if not s.estimable]
    header = f"Meta-regression of the {measure}{scale}: {int(out.k[0])} studies"
    if left_out:
        header += f"; not estimable, left out: {', '.join(left_out)}"
    return attrs.evolve(out, header=header)


def _through_intercept(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A model without intercept as one with: columns Z = [1, X without column j] and T.

    Where X c = 1 with c_j ≠ 0, X and Z span the same space, so the fit, τ²
    and every test are the same; the coefficients are β = Tγ of Z's γ.
    """
    c = np.linalg.lstsq(x, np.ones(x.shape[0]), rcond=None)[0]
    if np.abs(x @ c - 1).max() > 1e-9:
        raise InputError(
            "intercept=False needs moderators whose columns add up to a constant, such as "
            "every level of a factor; a regression through the origin is not supported"
        )
    j = int(np.argmax(np.abs(c)))
    rest = [i for i in range(x.shape[1]) if i != j]
    # X_j = (1 - Σ_{l≠j} c_l X_l)/c_j, so β_j = c_j γ₀ and β_l = γ_l + c_l γ₀
    basis = np.zeros((x.shape[1], x.shape[1]))
    basis[:, 0] = c
    basis[rest, np.arange(1, x.shape[1])] = 1.0
    return x[:, rest], basis


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


# -- permutation tests --------------------------------------------------------------------


def _permutation_test(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    seg: Segments,
    fit: dict[str, Any],
    permutations: int | str,
    seed: int | np.random.Generator | None,
    *,
    random: bool,
    method: str,
    test: str,
    basis: FloatArray | None,
) -> dict[str, Any]:
    """P-values from refitting with the moderators' rows permuted within each group.

    As metafor's ``permutest``: a statistic counts when at least the observed
    one (|z| or |t| per coefficient, QM for the omnibus test) less sqrt(eps);
    random permutations include the observed order once.
    """
    exact_count = _distinct_permutations(x, seg)
    if permutations == "exact":
        exact = True
        if exact_count.max() > EXACT_LIMIT:
            raise InputError(
                f"permutations='exact' needs {int(exact_count.max())} permutations, more than "
                f"{EXACT_LIMIT}; ask for a number of random permutations instead"
            )
    elif isinstance(permutations, (int, np.integer)) and not isinstance(permutations, bool):
        if permutations < 2:
            raise InputError(f"permutations must be at least 2, got {permutations}")
        # as permutest: all distinct orders when they are no more than asked for
        exact = seg.n == 1 and bool(exact_count[0] <= permutations)
    else:
        raise InputError(f"permutations must be a number or 'exact', got {permutations!r}")
    if seg.n != 1 and exact:
        raise InputError("exact permutation tests are for one meta-regression at a time")
    if exact:
        all_rows = _exact_rows(x)
        n_perm = all_rows.shape[0]
    else:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n_perm = int(permutations)
    hits = np.zeros(fit["z"].shape)
    hits_qm = np.zeros(seg.n)
    valid = np.zeros(fit["z"].shape)
    valid_qm = np.zeros(seg.n)
    # blocks of permutations keep the batch to about PERM_BLOCK studies at a time
    block = max(1, PERM_BLOCK // max(y.size, 1))
    for first in range(0, n_perm, block):
        count = min(block, n_perm - first)
        if exact:
            rows = all_rows[first : first + count]
        else:
            # random keys sorted within each group give every group its own order
            keys = rng.random((count, y.size)) + seg.codes
            rows = np.argsort(keys, axis=1, kind="stable")
            if first == 0:  # the observed order counts as one permutation
                rows[0] = np.arange(y.size)
        # permutation r of group g is virtual group r·n + g: the studies repeat in blocks
        res = _fit(
            np.tile(y, count),
            np.tile(v, count),
            x[rows.reshape(-1)],
            Segments.of_sizes(np.tile(seg.counts, count)),
            random=random,
            method=method,
            test=test,
            level=0.95,
            basis=basis,
            r2=False,
        )
        z = res["z"].reshape(count, seg.n, -1)
        qm = res["qm"].reshape(count, seg.n)
        if first == 0 and not exact:  # the observed statistics as they were reported
            z[0], qm[0] = fit["z"], fit["qm"]
        with np.errstate(invalid="ignore"):
            hits += (np.abs(z) >= np.abs(fit["z"]) - PERM_TOL).sum(axis=0)
            hits_qm += (qm >= fit["qm"] - PERM_TOL).sum(axis=0)
        valid += (~np.isnan(z)).sum(axis=0)
        valid_qm += (~np.isnan(qm)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(fit["estimable"][:, None], np.minimum(hits / valid, 1.0), np.nan)
        p_qm = np.where(fit["estimable"], hits_qm / valid_qm, np.nan)
    return {"permutation_p": p, "permutation_qm_p": p_qm, "permutations": n_perm, "exact": exact}


def _row_classes(x: FloatArray) -> IntArray:
    """Equal moderator rows share a class: permuting them changes nothing."""
    _, classes = np.unique(x, axis=0, return_inverse=True)
    return classes.reshape(-1)


def _distinct_permutations(x: FloatArray, seg: Segments) -> FloatArray:
    """Number of distinct orders of each group's moderator rows (a multinomial)."""
    classes = _row_classes(x)
    # counts of each (group, class) pair
    pair = seg.codes * (classes.max() + 1) + classes
    _, sizes = np.unique(pair, return_counts=True)
    owner = np.unique(pair) // (classes.max() + 1)
    log_count = special.gammaln(seg.counts + 1.0)
    np.subtract.at(log_count, owner, special.gammaln(sizes + 1.0))
    count: FloatArray = np.round(np.exp(log_count))
    return count


def _exact_rows(x: FloatArray) -> IntArray:
    """Every distinct permutation of the rows of one group's design, identity first."""
    classes = _row_classes(x)
    k = classes.size
    first_row = np.zeros(classes.max() + 1, dtype=np.intp)
    first_row[classes[::-1]] = np.arange(k)[::-1]  # a representative row per class
    # distinct arrangements of the class multiset, built position by position
    sequences = np.zeros((1, 0), dtype=np.intp)
    left = np.bincount(classes)[None, :]
    for _ in range(k):
        parts, rests = [], []
        for c in range(left.shape[1]):
            has = left[:, c] > 0
            if has.any():
                parts.append(np.column_stack([sequences[has], np.full(has.sum(), c)]))
                rest = left[has].copy()
                rest[:, c] -= 1
                rests.append(rest)
        sequences, left = np.vstack(parts), np.vstack(rests)
    rows = first_row[sequences]
    # the observed arrangement first (as the reference statistic), then the others
    observed = first_row[classes]
    is_observed = (rows == observed).all(axis=1)
    return np.vstack([observed[None, :], rows[~is_observed]]) if is_observed.any() else rows
