"""Meta-regression for one analysis or a million: mixed-effects models with moderators.

Every group (analysis) is fitted at once by segment sums on one design, with
the τ² estimators of :mod:`metapool.pooling.tau2` as metafor's ``rma(mods=)``
defines them; permutation tests run as one batch of permuted meta-regressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import ArrayLike

from metapool._typing import Hksj, Seed, Tau2Method
from metapool._typing import Model as ModelName
from metapool.batch import ModelOptions, _layout, pool_settings
from metapool.effects import EffectSizes
from metapool.errors import InputError
from metapool.pooling.segments import Segments
from metapool.regression._design import _through_intercept, design_matrix
from metapool.regression._fit import _fit, _sorted, _test
from metapool.regression._permutation import _permutation_test
from metapool.regression._result import MetaRegression
from metapool.table import label_lines
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from metapool.results import MetaAnalysis

__all__ = ["MetaRegression", "MetaregOptions", "design_matrix", "metareg", "metareg_analysis"]


class MetaregOptions(ModelOptions, total=False):
    """The options of :func:`metareg` after the data, for :meth:`MetaAnalysis.metareg`."""

    intercept: bool
    permutations: int | str | None
    seed: Seed


def metareg(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None,
    moderators: Mapping[str, ArrayLike] | ArrayLike,
    groups: ArrayLike | None = None,
    model: ModelName = "random",
    tau2: Tau2Method | None = None,
    hksj: Hksj = False,
    ci_level: float = 0.95,
    *,
    intercept: bool = True,
    permutations: int | str | None = None,
    seed: Seed = None,
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


def metareg_analysis(
    res: MetaAnalysis, moderators: Any, **options: Unpack[MetaregOptions]
) -> MetaRegression:
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
