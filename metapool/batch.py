"""``metapool.pool``: many meta-analyses at once from flat or padded 2-D arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from metapool._typing import FloatArray
from metapool.effects import EffectSizes, as_floats
from metapool.errors import InputError
from metapool.pooling.engine import PoolResult, pool_segments
from metapool.pooling.segments import Segments, factorize
from metapool.vocabulary import DataType, Model, Settings, flag, resolve

__all__ = ["PoolResult", "pool", "pool_settings"]


def pool(
    yi: Any,
    vi: Any = None,
    groups: Any = None,
    model: str = "random",
    tau2: str | None = None,
    ci_level: float = 0.95,
    hksj: bool | str = False,
    prediction: bool = False,
    *,
    tau2_ci: bool = False,
    i2: str = "Q",
) -> PoolResult:
    """Pool any number of meta-analyses by inverse variance, all at once.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances (analysis scale, e.g. log odds ratios).
        Either flat arrays with ``groups``, or 2-D arrays of shape
        ``(studies, analyses)`` padded with NaN for ragged data. ``yi`` may
        also be an :class:`~metapool.EffectSizes` (then omit ``vi``); its
        non-estimable studies are left out of every ``k``.
    groups : array_like, optional
        Flat data only: each study's analysis label (any sortable dtype, in any
        order). Results come in sorted label order, labels in ``.groups``.
        Without it, flat data are one analysis.
    model : {"random", "fixed"}
    tau2 : str, optional
        τ² estimator: DL (default), REML, ML, PM, EB, HE, SJ or HS (metafor's
        definitions). It, ``hksj`` and ``prediction`` need ``model="random"``.
    ci_level : float
    hksj : bool or "adhoc"
        Hartung-Knapp-Sidik-Jonkman CI and test (t with k-1 df). ``"adhoc"``
        keeps its variance from falling below the Wald one (Knapp and Hartung
        2003; metafor's ``test="adhoc"``). Plain ``True`` applies that rule
        only where the HKSJ variance is 0 (identical estimates), with a
        :class:`~metapool.MetapoolWarning`. An analysis of one study reports
        the study's own z-based result, as RevMan does.
    prediction : bool
        Prediction interval θ ± t(k-2)·sqrt(τ² + SE²) (random effects, k >= 3).
    tau2_ci : bool
        Q-profile confidence interval for τ², with the matching I² and H².
    i2 : {"Q", "tau2"}
        I² and H² from Q (Higgins-Thompson, RevMan 5.4) or from τ² (metafor, RevMan Web).

    Returns
    -------
    PoolResult
        A record of arrays, one entry per analysis; ``converged`` flags
        iterative τ² estimates that reached the tolerance.

    Examples
    --------
    >>> import numpy as np
    >>> res = pool([0.1, 0.3, 0.2, -0.1, 0.4], [0.01, 0.02, 0.015, 0.02, 0.03],
    ...            groups=["a", "a", "a", "b", "b"])
    >>> res.groups.tolist(), res.k.tolist()
    (['a', 'b'], [3.0, 2.0])
    >>> np.round(res.estimate, 4)
    array([0.1769, 0.14  ])
    """
    settings = pool_settings(model, tau2, ci_level, hksj, prediction, i2)
    tau2_ci = flag("tau2_ci", tau2_ci)
    y, v, seg, labels = _layout(yi, vi, groups)
    res = pool_segments(
        y,
        v,
        seg,
        random=settings.model is Model.RANDOM,
        tau2=settings.tau2,
        ci_level=settings.ci_level,
        hksj=settings.hksj,
        prediction=settings.prediction,
        tau2_ci=tau2_ci,
        i2=settings.i2,
        groups=labels,
    )
    _check_range(res, y, v, seg)
    return res


def pool_settings(
    model: str, tau2: str | None, ci_level: float, hksj: bool | str, prediction: bool, i2: str
) -> Settings:
    """:func:`pool`'s options, checked (as :mod:`metapool.dask` checks them too)."""
    return resolve(
        DataType.GENERIC,
        measure="pool",
        ratio=False,
        model=model,
        ci_level=ci_level,
        tau2=tau2,
        hksj=hksj,
        prediction=prediction,
        i2=i2,
    )


def _layout(yi: Any, vi: Any, groups: Any) -> tuple[FloatArray, FloatArray, Segments, Any]:
    if isinstance(yi, EffectSizes):
        if vi is not None:
            raise InputError("pass either EffectSizes or yi and vi, not both")
        keep = yi.estimable
        y, v = yi.yi[keep], yi.vi[keep]
        if groups is not None:
            g = np.asarray(groups)
            if g.shape != keep.shape:
                raise InputError(f"groups has {g.shape[0]} labels for {keep.size} studies")
            labels, seg = factorize(g)
            return y, v, seg.take(keep), labels
        return y, v, Segments.single(y.size), np.array([0])
    if vi is None:
        raise InputError("vi (sampling variances) is required")
    y, v = as_floats("yi", yi), as_floats("vi", vi)
    if y.shape != v.shape:
        raise InputError(f"yi has shape {y.shape} but vi has shape {v.shape}")
    if y.ndim == 2:
        if groups is not None:
            raise InputError("2-D yi/vi are one analysis per column; groups is for flat arrays")
        present = ~np.isnan(y)
        if (present != ~np.isnan(v)).any():
            i, j = np.argwhere(present != ~np.isnan(v))[0]
            raise InputError(f"study {i} of analysis {j}: yi and vi must be NaN together (padding)")
        # analyses become contiguous runs of the flat arrays
        keep = present.T
        y, v = y.T[keep], v.T[keep]
        seg = Segments.of_sizes(keep.sum(axis=1))
        labels = np.arange(keep.shape[0])
        _check(y, v, seg, labels)
        return y, v, seg, labels
    if y.ndim != 1:
        raise InputError(
            f"yi must be 1-D (with groups) or 2-D (studies x analyses), got {y.ndim}-D"
        )
    if groups is None:
        labels, seg = np.array([0]), Segments.single(y.size)
    else:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise InputError(f"groups has shape {g.shape} but yi has shape {y.shape}")
        labels, seg = factorize(g)
    _check(y, v, seg, labels)
    return y, v, seg, labels


def _check(y: FloatArray, v: FloatArray, seg: Segments, labels: Any) -> None:
    # reductions first: they allocate nothing; the slow search runs only on failure
    if y.size == 0 or (
        np.isfinite(y.max()) and np.isfinite(y.min()) and v.min() > 0 and np.isfinite(v.max())
    ):
        return
    codes = seg.codes
    for name, arr, bad in (
        ("yi", y, ~np.isfinite(y)),
        ("vi", v, ~np.isfinite(v)),
        ("vi", v, ~(v > 0)),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = (
                "is not finite" if name == "yi" or not np.isfinite(arr[i]) else "must be positive"
            )
            label = labels[codes[i]]
            label = label.item() if isinstance(label, np.generic) else label
            raise InputError(
                f"study {i} (group {label!r}): {name} = {arr[i]} {what}"
                + (f" ({int(bad.sum()) - 1} more)" if bad.sum() > 1 else "")
            )


def _check_range(res: PoolResult, y: FloatArray, v: FloatArray, seg: Segments) -> None:
    """Finite data whose pooled result overflows are out of floating-point range."""
    fields = ("estimate", "se", "ci_lower", "ci_upper", "z", "q", "tau2")
    present = res.k > 0
    bad = np.zeros(res.k.size, dtype=bool)
    for name in fields:
        bad |= present & ~np.isfinite(getattr(res, name))
    if not bad.any():
        return
    g = int(np.flatnonzero(bad)[0])
    label = res.groups[g]
    label = label.item() if isinstance(label, np.generic) else label
    mine = seg.codes == g
    which = [name for name in fields if not np.isfinite(getattr(res, name)[g])]
    raise InputError(
        f"group {label!r}: the data are out of floating-point range (yi from "
        f"{y[mine].min():g} to {y[mine].max():g}, vi from {v[mine].min():g} to "
        f"{v[mine].max():g}): {', '.join(which)} would overflow"
        + (f" ({int(bad.sum()) - 1} more groups)" if bad.sum() > 1 else "")
    )
