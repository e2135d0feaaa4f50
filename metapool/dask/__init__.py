"""Pool meta-analyses stored as a Dask DataFrame, on a Dask cluster.

Needs the ``dask`` extra (``pip install 'metapool[dask]'``); ``import metapool``
alone never imports Dask. Two calls take study counts to pooled results for any
number of rows::

    studies = metapool.dask.effect_sizes(frame, "OR", events_exp="e1", ...)
    results = metapool.dask.pool(studies, estimable="estimable", tau2="REML")

How :func:`pool` runs (``docs/scaling-out.md`` has the long version):

1. It reads the group column once, when called (as ``DataFrame.set_index``
   does), for the lowest and highest label of every partition.
2. A group whose label lies between the highest label of the partitions before
   it and the lowest label of the partitions after it has all its rows in one
   partition: it is *local*, and :func:`metapool.pool` pools it there, in
   place. Data sorted by group are local except where a group straddles a
   partition boundary.
3. The other, *shared* groups take one of two paths:

   * **sums** (the fixed-effect model, and random effects with the
     closed-form τ² estimators DL, HS, HE and SJ; with HKSJ, prediction
     intervals, either I² and any level): per-partition sums added up by
     Dask's tree reduction, a few passes (two for fixed effect, three for DL,
     four with HKSJ, five for SJ); no row moves.
   * **shuffle** (the iterative estimators REML, ML, PM, EB, and
     ``tau2_ci``): the rows are shuffled by group once and
     :func:`metapool.pool` pools each group whole: they evaluate a likelihood
     or a generalised Q many times over all of a group's studies.

Every number comes from the in-memory engine's own code: local and shuffled
groups from :func:`metapool.pool`, summed groups from the sums of
:mod:`metapool.pooling.sums` and the engine's ``summarise``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from metapool._extras import extra

with extra("dask", "metapool.dask needs Dask and pandas"):
    import dask.dataframe as dd
    import pandas as pd

from metapool._typing import BoolArray
from metapool.batch import PoolOptions, pool_settings
from metapool.dask._layout import _Layout, _local, _piece, _plain
from metapool.dask._plan import DaskFrame, Frame, Options, Plan, Studies, result_frame
from metapool.dask._sums import pool_by_sums
from metapool.effects import effect_sizes as effect_sizes_in_memory
from metapool.errors import InputError
from metapool.vocabulary import Model as ModelEnum
from metapool.vocabulary import flag

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = ["effect_sizes", "pool"]

#: columns :func:`effect_sizes` adds
_EFFECT_COLUMNS = ("yi", "vi", "estimable")


def pool(
    frame: DaskFrame,
    *,
    yi: str = "yi",
    vi: str = "vi",
    groups: str = "group",
    estimable: str | None = None,
    **options: Unpack[PoolOptions],
) -> DaskFrame:
    """Pool every group of a Dask DataFrame of studies, as :func:`metapool.pool` does.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        One row per study, in any partitioning and any order: a group's rows
        may be spread over many partitions.
    yi, vi, groups : str
        Names of the columns holding the estimate (analysis scale), its
        sampling variance and the analysis label (any sortable type).
    model, tau2, ci_level, hksj, prediction, tau2_ci, i2
        As for :func:`metapool.pool`.
    estimable : str, optional
        A boolean column; rows where it is False are left out of every ``k``
        and need no ``yi``/``vi`` (the column :func:`effect_sizes` writes).

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; one row per group, indexed by the group label in sorted order
        (partitions follow each other in label order; divisions are not
        computed). The columns are the fields of :class:`metapool.PoolResult`
        in its order (``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``z``,
        ``p_value``, ``q``, ``df``, ``p_q``, ``i2``, ..., ``tau2``, ``k``,
        ``converged``), then the prediction and Q-profile intervals when
        asked for.

    Raises
    ------
    InputError
        At once for missing or non-numeric columns, bad options and missing or
        unsortable group labels; from ``compute()`` for a non-finite ``yi`` or
        a variance that is not positive, naming the column and the group.

    Notes
    -----
    The call reads the group column, partition by partition, for each
    partition's label range. Groups wholly inside one partition are pooled
    there. The others are pooled from partial sums added up by tree
    reductions (fixed effect; DL, HS, HE, SJ) or shuffled by group (REML, ML,
    PM, EB, ``tau2_ci``). See ``docs/scaling-out.md``.

    Examples
    --------
    >>> import dask, dask.dataframe as dd, pandas as pd
    >>> studies = pd.DataFrame({"group": ["a", "a", "b", "a", "b"],
    ...                         "yi": [0.1, 0.3, -0.1, 0.2, 0.4],
    ...                         "vi": [0.01, 0.02, 0.02, 0.015, 0.03]})
    >>> lazy = pool(dd.from_pandas(studies, npartitions=2), tau2="REML")
    >>> with dask.config.set(scheduler="synchronous"):
    ...     lazy[["estimate", "k"]].compute().round(4)
           estimate    k
    group
    a        0.1769  3.0
    b         0.14  2.0
    """
    unknown = sorted(set(options) - PoolOptions.__optional_keys__)
    if unknown:  # as Python does for a parameter that is not in the signature
        raise TypeError(f"pool() got unexpected keyword arguments: {', '.join(unknown)}")
    tau2_ci = options.pop("tau2_ci", False)
    settings = pool_settings(**options)
    plan = _plan(frame, yi=yi, vi=vi, groups=groups, estimable=estimable)
    fit = Options(
        random=settings.model is ModelEnum.RANDOM,
        tau2=settings.tau2,
        ci_level=settings.ci_level,
        hksj=settings.hksj,
        prediction=settings.prediction,
        tau2_ci=flag("tau2_ci", tau2_ci),
        i2=settings.i2,
    )
    studies = frame[list(plan.columns)]  # lets Dask read only these columns
    layout = _Layout.scan(studies, groups)
    meta = result_frame(fit.pool(*plan.empty()), plan, fit)
    if layout.all_local:
        return studies.map_partitions(_pool_local, None, None, plan, fit, meta=meta)
    parts = [studies.partitions[j] for j in range(layout.n)]
    local = [
        part.map_partitions(_pool_local, *layout.bounds(j), plan, fit, meta=meta)
        for j, part in enumerate(parts)
    ]
    rows = dd.concat(  # type: ignore[no-untyped-call]
        [
            part.map_partitions(_shared_rows, *layout.bounds(j), plan, meta=studies._meta)
            for j, part in enumerate(parts)
        ]
    )
    if fit.by_sums:
        shared = pool_by_sums(rows, plan, fit, meta)
    else:
        shared = _pool_by_shuffle(rows, plan, fit, meta)
    # shared groups sit between the local groups of consecutive partitions
    pieces = [
        shared.map_partitions(_piece, *layout.piece(j), meta=meta) for j in range(len(parts) + 1)
    ]
    order = [part for j, local_j in enumerate(local) for part in (pieces[j], local_j)]
    return dd.concat([*order, pieces[-1]])  # type: ignore[no-untyped-call]


def effect_sizes(
    frame: DaskFrame,
    measure: str,
    *,
    swap_events: bool = False,
    allow_missing: bool = False,
    **columns: str,
) -> DaskFrame:
    """Add ``yi``, ``vi`` and ``estimable`` columns, partition by partition.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    measure : str
        As for :func:`metapool.effect_sizes`: OR, RR, RD, PETO_OR, MD, SMD, or
        a generic label with ``estimate`` and ``se``.
    swap_events, allow_missing : bool
        As for :func:`metapool.effect_sizes`.
    **columns : str
        Each data argument of :func:`metapool.effect_sizes` and the column that
        holds it, e.g. ``events_exp="e1"``.

    Returns
    -------
    dask.dataframe.DataFrame
        ``frame`` with ``yi`` and ``vi`` (analysis scale, NaN where a study is
        not estimable) and the boolean ``estimable``; pass
        ``estimable="estimable"`` to :func:`pool`.

    Examples
    --------
    >>> import dask, dask.dataframe as dd, pandas as pd
    >>> counts = dd.from_pandas(pd.DataFrame({
    ...     "e1": [49, 0], "n1": [615, 20], "e2": [67, 0], "n2": [624, 20]}), npartitions=1)
    >>> out = effect_sizes(counts, "OR", events_exp="e1", total_exp="n1",
    ...                    events_ctrl="e2", total_ctrl="n2")
    >>> with dask.config.set(scheduler="synchronous"):
    ...     out[["yi", "estimable"]].compute().round(6)
             yi  estimable
    0 -0.328901       True
    1       NaN      False
    """
    _require_dask_frame(frame)
    if not columns:
        raise InputError("name the data columns, e.g. events_exp='e1', total_exp='n1', ...")
    for arg, column in columns.items():
        _require_numeric(frame, column, f"{arg}=")
    taken = [name for name in _EFFECT_COLUMNS if name in frame.columns]
    if taken:
        raise InputError(f"frame already has column(s) {', '.join(map(repr, taken))}")
    # unknown measures and wrong sets of columns fail now rather than on the workers
    effect_sizes_in_memory(
        measure,
        swap_events=swap_events,
        allow_missing=allow_missing,
        **{arg: np.empty(0) for arg in columns},
    )
    meta = frame._meta.assign(yi=np.empty(0), vi=np.empty(0), estimable=np.empty(0, dtype=bool))
    return frame.map_partitions(
        _add_effect_sizes, measure, columns, swap_events, allow_missing, meta=meta
    )


def _plan(frame: DaskFrame, *, yi: str, vi: str, groups: str, estimable: str | None) -> Plan:
    """The column names, checked against the frame."""
    _require_dask_frame(frame)
    names = [n for n in (yi, vi, groups, estimable) if n is not None]
    if len(set(names)) != len(names):
        raise InputError(f"yi, vi, groups and estimable must be different columns: {names}")
    _require_numeric(frame, yi, "yi=")
    _require_numeric(frame, vi, "vi=")
    _require_column(frame, groups, "groups=")
    if estimable is not None:
        _require_column(frame, estimable, "estimable=")
        if frame._meta[estimable].dtype != np.bool_:
            raise InputError(
                f"column {estimable!r} (estimable=) must be boolean, "
                f"got dtype {frame._meta[estimable].dtype}"
            )
    return Plan(yi, vi, groups, estimable, frame._meta[groups].dtype)


def _require_dask_frame(frame: Any) -> None:
    if not isinstance(frame, dd.DataFrame):
        raise InputError(
            f"frame must be a dask.dataframe.DataFrame, got {type(frame).__name__} "
            "(dask.dataframe.from_pandas converts one; metapool.pool pools arrays in memory)"
        )


def _require_column(frame: DaskFrame, name: str, argument: str) -> None:
    if name not in frame.columns:
        raise InputError(
            f"column {name!r} ({argument}) is not in the frame; its columns are "
            f"{', '.join(map(repr, frame.columns))}"
        )


def _require_numeric(frame: DaskFrame, name: str, argument: str) -> None:
    _require_column(frame, name, argument)
    dtype = frame._meta[name].dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise InputError(f"column {name!r} ({argument}) must hold numbers, got dtype {dtype}")


# ----------------------------------------------------------------------------- partitions


def _check(studies: Studies, part: Frame, rows: BoolArray, plan: Plan) -> None:
    """A clear error, naming column and group, for the first unusable study of ``rows``."""
    y, v, labels, keep = studies
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    if keep is not None:
        ok |= ~keep
    if ok.all():
        return
    i = int(np.flatnonzero(~ok)[0])
    if not np.isfinite(y[i]):
        column, value, what = plan.yi, y[i], "is not finite"
    elif not np.isfinite(v[i]):
        column, value, what = plan.vi, v[i], "is not finite"
    else:
        column, value, what = plan.vi, v[i], "is not a positive variance"
    more = int((~ok).sum()) - 1
    index = part.index[np.flatnonzero(rows)[i]]
    raise InputError(
        f"column {column!r}, group {_plain(labels[i])!r} (row index {_plain(index)!r}): "
        f"{value} {what}" + (f" (and {more} more in this partition)" if more else "")
    )


def _pool_local(part: Frame, before: Any, after: Any, plan: Plan, options: Options) -> Frame:
    rows = _local(part[plan.groups].to_numpy(), before, after)
    studies = plan.studies(part, rows)
    _check(studies, part, rows, plan)
    return result_frame(options.pool(*studies), plan, options)


def _shared_rows(part: Frame, before: Any, after: Any, plan: Plan) -> Frame:
    rows = ~_local(part[plan.groups].to_numpy(), before, after)
    _check(plan.studies(part, rows), part, rows, plan)
    return part[rows]


# ----------------------------------------------------------------------------- shuffle path


def _pool_by_shuffle(rows: DaskFrame, plan: Plan, options: Options, meta: Frame) -> DaskFrame:
    """Shared groups brought whole into one partition each, pooled in memory."""
    whole = rows.shuffle(on=plan.groups)
    pooled = whole.map_partitions(_pool_whole, plan, options, meta=meta)
    return pooled.repartition(npartitions=1).map_partitions(_sort_index, meta=meta)


def _pool_whole(part: Frame, plan: Plan, options: Options) -> Frame:
    return result_frame(options.pool(*plan.studies(part)), plan, options)


def _sort_index(frame: Frame) -> Frame:
    return frame.sort_index()


# ----------------------------------------------------------------------------- effect sizes


def _add_effect_sizes(
    part: Frame,
    measure: str,
    columns: dict[str, str],
    swap_events: bool,
    allow_missing: bool,
) -> Frame:
    data = {
        arg: part[column].to_numpy(dtype=np.float64, na_value=np.nan)
        for arg, column in columns.items()
    }
    try:
        es = effect_sizes_in_memory(
            measure,
            study=part.index.to_numpy(dtype=object),
            swap_events=swap_events,
            allow_missing=allow_missing,
            **data,
        )
    except InputError as exc:
        renamed = [f"{arg}={column!r}" for arg, column in columns.items() if arg != column]
        if not renamed:
            raise
        raise InputError(f"{exc} (columns {', '.join(renamed)})") from None
    return part.assign(yi=es.yi, vi=es.vi, estimable=es.estimable)
