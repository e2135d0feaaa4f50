"""``metapool.pool``: many meta-analyses at once from flat or padded 2-D arrays."""

from __future__ import annotations

from typing import Any, TypedDict

import attrs
import numpy as np

from metapool._typing import (
    I2,
    BoolArray,
    FloatArray,
    Hksj,
    IntArray,
    PoolMethod,
    TableMeasure,
    Tau2Method,
)
from metapool._typing import Model as ModelName
from metapool.effects import EffectSizes, as_floats, effect_sizes
from metapool.errors import InputError
from metapool.pooling._workers import map_groups, resolve_workers
from metapool.pooling.engine import PoolResult, pool_with
from metapool.pooling.segments import Segments, factorize
from metapool.records import FIELDS
from metapool.vocabulary import DataType, Settings, flag, resolve

__all__ = ["ModelOptions", "PoolOptions", "PoolResult", "pool", "pool_settings", "pool_tables"]


class ModelOptions(TypedDict, total=False):
    """The model's options, shared by :func:`pool` and :func:`metapool.metareg`."""

    model: ModelName
    tau2: Tau2Method | None
    ci_level: float
    hksj: Hksj


class PoolOptions(ModelOptions, total=False):
    """The options of :func:`pool` after the data, for :func:`metapool.dask.pool`."""

    prediction: bool
    tau2_ci: bool
    i2: I2


def pool(
    yi: Any,
    vi: Any = None,
    groups: Any = None,
    model: ModelName = "random",
    tau2: Tau2Method | None = None,
    ci_level: float = 0.95,
    hksj: Hksj = False,
    prediction: bool = False,
    *,
    tau2_ci: bool = False,
    i2: I2 = "Q",
    workers: int = 1,
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
    workers : int
        Threads to pool on (scipy's convention: -1 for every core). The
        analyses are split into contiguous chunks; the results are identical,
        bit for bit, to ``workers=1``.

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
    threads = resolve_workers(workers)
    y, v, seg, labels = _layout(yi, vi, groups)

    def fit(index: slice | IntArray, part: Segments) -> PoolResult:
        return pool_with(settings, y, v, index, part, tau2_ci=tau2_ci)

    res = attrs.evolve(map_groups(seg, threads, fit), groups=labels)
    _check_range(res, y, v, seg)
    return res


def pool_tables(
    events_exp: Any,
    total_exp: Any,
    events_ctrl: Any,
    total_ctrl: Any,
    groups: Any = None,
    measure: TableMeasure = "OR",
    method: PoolMethod | None = None,
    model: ModelName = "fixed",
    ci_level: float = 0.95,
    hksj: Hksj = False,
    prediction: bool = False,
    *,
    tau2: Tau2Method | None = None,
    tau2_ci: bool = False,
    i2: I2 = "Q",
    swap_events: bool = False,
    workers: int = 1,
) -> PoolResult:
    """Pool any number of meta-analyses of 2x2 tables, all at once, as :func:`metapool.analyse`.

    Every analysis gets the numbers :func:`metapool.analyse` gives it alone:
    the same effect sizes, RevMan's zero-cell rule (0.5 added to every cell
    of a table with a zero), the same Mantel-Haenszel, Peto or inverse-variance
    pooling, and for random effects DerSimonian-Laird with the method's Q.
    Studies without events in either arm (or with events for everyone), not
    estimable in RevMan, are left out of their analysis' ``k`` (for OR, RR and
    Peto; RD keeps them).

    Parameters
    ----------
    events_exp, total_exp, events_ctrl, total_ctrl : array_like
        Events and participants in each arm. Either flat arrays with
        ``groups``, or 2-D arrays of shape ``(studies, analyses)`` padded with
        NaN (in all four together) for ragged data.
    groups : array_like, optional
        Flat data only: each study's analysis label (any sortable dtype, in any
        order). Results come in sorted label order, labels in ``.groups``.
    measure : {"OR", "RR", "RD", "PETO_OR"}
    method : {"MH", "IV", "PETO"}, optional
        Default MH (Peto for PETO_OR), as :func:`metapool.analyse`.
    model : {"fixed", "random"}
    ci_level, hksj, prediction, tau2, tau2_ci, i2
        As :func:`metapool.pool`; the τ² estimator defaults to RevMan's DL.
    swap_events : bool
        Analyse non-events instead of events.
    workers : int
        Threads to pool on, as :func:`metapool.pool`.

    Returns
    -------
    PoolResult
        On the analysis scale (log for ratios), one entry per analysis.

    Examples
    --------
    >>> import numpy as np
    >>> res = pool_tables([49, 44, 102, 3, 0], [615, 758, 832, 50, 40],
    ...                   [67, 64, 126, 5, 0], [624, 771, 850, 50, 41],
    ...                   groups=[1, 1, 1, 2, 2], measure="OR", method="MH")
    >>> res.k.tolist()
    [3.0, 1.0]
    >>> np.exp(res.estimate).round(4)
    array([0.7491, 0.5745])
    """
    settings = pool_settings(
        model,
        tau2,
        ci_level,
        hksj,
        prediction,
        i2,
        DataType.DICHOTOMOUS,
        measure=measure,
        method=method,
        swap_events=swap_events,
    )
    threads = resolve_workers(workers)
    names = FIELDS[DataType.DICHOTOMOUS]
    columns, seg, labels, where = _table_layout(
        dict(zip(names, (events_exp, total_exp, events_ctrl, total_ctrl), strict=True)), groups
    )

    def fit(index: slice | IntArray, part: Segments) -> PoolResult:
        # effect sizes chunk by chunk too: a chunk's temporaries stay in the caches
        cols = {name: arr[index] for name, arr in columns.items()}
        try:
            es = effect_sizes(settings.measure, swap_events=swap_events, **cols)
        except InputError:  # name the study by its place in the whole batch
            effect_sizes(settings.measure, study=where, swap_events=swap_events, **columns)
            raise
        ok = es.estimable
        rows: slice | IntArray = slice(None)
        if not ok.all():  # the groups of the estimable studies, in the same layout
            rows = np.flatnonzero(ok)
            if part.starts is not None:
                part = Segments.of_sizes(np.add.reduceat(ok.astype(np.intp), part.starts))
            else:
                part = part.take(rows)
        return pool_with(settings, es.yi, es.vi, rows, part, cells=es.cells, tau2_ci=tau2_ci)

    return attrs.evolve(map_groups(seg, threads, fit), groups=labels)


def _table_layout(
    columns: dict[str, Any], groups: Any
) -> tuple[dict[str, Any], Segments, Any, Any]:
    """Flat columns, the Segments of their groups, the labels, and study names for errors."""
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in columns.items()}
    shape = arrays["events_exp"].shape
    for name, arr in arrays.items():
        if arr.shape != shape:
            raise InputError(f"{name} has shape {arr.shape} but events_exp has shape {shape}")
    if len(shape) == 2:
        if groups is not None:
            raise InputError("2-D tables are one analysis per column; groups is for flat arrays")
        gaps = np.array([np.isnan(arr) for arr in arrays.values()])
        present = ~gaps.any(axis=0)
        if (gaps.any(axis=0) != gaps.all(axis=0)).any():
            i, j = np.argwhere(gaps.any(axis=0) != gaps.all(axis=0))[0]
            raise InputError(
                f"study {i} of analysis {j}: the four cells must be NaN together (padding)"
            )
        keep = present.T  # analyses become contiguous runs of the flat arrays
        flat = {name: arr.T[keep] for name, arr in arrays.items()}
        sizes = keep.sum(axis=1)
        return flat, Segments.of_sizes(sizes), np.arange(keep.shape[0]), _Padded(keep)
    if len(shape) != 1:
        raise InputError(
            f"events_exp must be 1-D (with groups) or 2-D (studies x analyses), got {len(shape)}-D"
        )
    if groups is None:
        return arrays, Segments.single(shape[0]), np.array([0]), None
    g = np.asarray(groups)
    if g.shape != shape:
        raise InputError(f"groups has shape {g.shape} but events_exp has shape {shape}")
    labels, seg = factorize(g)
    return arrays, seg, labels, None


@attrs.frozen
class _Padded:
    """Names a flat study of a padded 2-D layout by its place, for error messages."""

    keep: BoolArray

    def __getitem__(self, i: int) -> str:
        analysis, study = np.argwhere(self.keep)[i]
        return f"{study} of analysis {analysis}"


def pool_settings(
    model: str = "random",
    tau2: str | None = None,
    ci_level: float = 0.95,
    hksj: bool | str = False,
    prediction: bool = False,
    i2: str = "Q",
    data_type: DataType = DataType.GENERIC,
    **labels: Any,
) -> Settings:
    """:func:`pool`'s options, checked (as :mod:`metapool.dask` checks them too); with
    ``data_type``, the ``labels`` (measure, method, ...) of :func:`pool_tables`' data."""
    if data_type is DataType.GENERIC:
        labels = {"measure": "pool", "ratio": False}
    return resolve(
        data_type,
        model=model,
        ci_level=ci_level,
        tau2=tau2,
        hksj=hksj,
        prediction=prediction,
        i2=i2,
        **labels,
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
