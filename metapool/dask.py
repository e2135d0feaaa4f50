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
groups from :func:`metapool.pool`, summed groups from the engine's ``finish``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import attrs
import numpy as np

try:
    import dask.dataframe as dd
    import pandas as pd
    from dask.base import compute
except ImportError as exc:  # pragma: no cover - tested in a subprocess without Dask
    raise ImportError(
        "metapool.dask needs Dask and pandas: pip install 'metapool[dask]' "
        "(in a clone of metapool: pip install '.[dask]')"
    ) from exc

from metapool._typing import BoolArray, FloatArray
from metapool.batch import pool as pool_in_memory
from metapool.batch import pool_settings
from metapool.effects import EffectSizes, NotEstimable
from metapool.effects import effect_sizes as effect_sizes_in_memory
from metapool.errors import InputError
from metapool.pooling.engine import PoolResult, finish, hksj_variance, typical_variance
from metapool.pooling.segments import Segments, factorize
from metapool.pooling.tau2 import tau2_from_sums
from metapool.vocabulary import Model, flag

__all__ = ["effect_sizes", "pool"]

# Dask's collections are untyped, and pandas-stubs does not cover the Python
# version mypy checks for (3.10): frames are typed loosely, under these names.
DaskFrame: TypeAlias = Any
Frame: TypeAlias = Any

#: a partition's studies: yi, vi, group labels and (with ``estimable=``) which to pool
_Studies: TypeAlias = tuple[FloatArray, FloatArray, Any, "BoolArray | None"]

#: columns :func:`effect_sizes` adds
_EFFECT_COLUMNS = ("yi", "vi", "estimable")


def pool(
    frame: DaskFrame,
    *,
    yi: str = "yi",
    vi: str = "vi",
    groups: str = "group",
    model: str = "random",
    tau2: str | None = None,
    ci_level: float = 0.95,
    hksj: bool | str = False,
    prediction: bool = False,
    tau2_ci: bool = False,
    i2: str = "Q",
    estimable: str | None = None,
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
    settings = pool_settings(model, tau2, ci_level, hksj, prediction, i2)
    plan = _Plan.make(frame, yi=yi, vi=vi, groups=groups, estimable=estimable)
    options = _Options(
        random=settings.model is Model.RANDOM,
        tau2=settings.tau2,
        ci_level=settings.ci_level,
        hksj=settings.hksj,
        prediction=settings.prediction,
        tau2_ci=flag("tau2_ci", tau2_ci),
        i2=settings.i2,
    )
    studies = frame[list(plan.columns)]  # lets Dask read only these columns
    layout = _Layout.scan(studies, groups)
    meta = _result_frame(options.pool(*plan.empty()), plan, options)
    if layout.all_local:
        return studies.map_partitions(_pool_local, None, None, plan, options, meta=meta)
    parts = [studies.partitions[j] for j in range(layout.n)]
    local = [
        part.map_partitions(_pool_local, *layout.bounds(j), plan, options, meta=meta)
        for j, part in enumerate(parts)
    ]
    rows = dd.concat(  # type: ignore[no-untyped-call]
        [
            part.map_partitions(_shared_rows, *layout.bounds(j), plan, meta=studies._meta)
            for j, part in enumerate(parts)
        ]
    )
    if options.by_sums:
        shared = _pool_by_sums(rows, plan, options, meta)
    else:
        shared = _pool_by_shuffle(rows, plan, options, meta)
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


# ----------------------------------------------------------------------------- plan


@attrs.frozen
class _Plan:
    """Column names and the group label dtype; shipped with every task."""

    yi: str
    vi: str
    groups: str
    estimable: str | None
    label_dtype: Any

    @classmethod
    def make(
        cls, frame: DaskFrame, *, yi: str, vi: str, groups: str, estimable: str | None
    ) -> _Plan:
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
        return cls(yi, vi, groups, estimable, frame._meta[groups].dtype)

    @property
    def columns(self) -> tuple[str, ...]:
        extra = () if self.estimable is None else (self.estimable,)
        return (self.groups, self.yi, self.vi, *extra)

    def empty(self) -> _Studies:
        none = np.empty(0)
        keep = None if self.estimable is None else np.empty(0, dtype=bool)
        return none, none, np.asarray(pd.Series([], dtype=self.label_dtype)), keep

    def studies(self, part: Frame, rows: BoolArray | None = None) -> _Studies:
        """``yi``, ``vi``, labels and the estimable flags of a partition's ``rows``."""
        if rows is not None and not rows.all():
            part = part[rows]
        y = part[self.yi].to_numpy(dtype=np.float64, na_value=np.nan)
        v = part[self.vi].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = None if self.estimable is None else part[self.estimable].to_numpy(dtype=bool)
        return y, v, part[self.groups].to_numpy(), keep

    def index(self, labels: Any) -> Frame:
        return pd.Index(labels, dtype=self.label_dtype, name=self.groups)


@attrs.frozen
class _Options:
    """The resolved analysis options."""

    random: bool
    tau2: str
    ci_level: float
    hksj: bool | str
    prediction: bool
    tau2_ci: bool
    i2: str

    @property
    def by_sums(self) -> bool:
        """Whether shared groups can be pooled from merged partial sums."""
        # the likelihood and Q-profile estimators need each group's rows at once
        return not self.tau2_ci and (not self.random or self.tau2 in ("DL", "HS", "HE", "SJ"))

    def pool(self, y: FloatArray, v: FloatArray, labels: Any, keep: BoolArray | None) -> PoolResult:
        """:func:`metapool.pool` on whole groups."""
        data: Any = y
        variances: FloatArray | None = v
        if keep is not None:  # metapool.pool leaves non-estimable EffectSizes out of k
            reason = np.where(keep, NotEstimable.ESTIMABLE, NotEstimable.MISSING)
            data, variances = EffectSizes("pool", y, v, reason.astype(np.int8)), None
        return pool_in_memory(
            data,
            variances,
            labels,
            model="random" if self.random else "fixed",
            tau2=self.tau2 if self.random else None,
            ci_level=self.ci_level,
            hksj=self.hksj,
            prediction=self.prediction,
            tau2_ci=self.tau2_ci,
            i2=self.i2,
        )


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


def _result_frame(result: PoolResult, plan: _Plan, options: _Options) -> Frame:
    names = [f.name for f in attrs.fields(PoolResult) if f.name not in ("weights", "groups")]
    if "p_q" not in names:  # a lazily computed property of PoolResult
        names.insert(names.index("df") + 1, "p_q")
    data = {name: getattr(result, name) for name in names if getattr(result, name) is not None}
    return pd.DataFrame(data, index=plan.index(result.groups))


# ----------------------------------------------------------------------------- layout


@attrs.frozen
class _Layout:
    """Per partition: the highest label in the partitions before it, the lowest after it.

    ``None`` stands for "no such partition" (no bound). A label strictly between
    a partition's two bounds occurs in no other partition.
    """

    before: list[Any]
    after: list[Any]
    all_local: bool

    @property
    def n(self) -> int:
        return len(self.before)

    @classmethod
    def scan(cls, studies: DaskFrame, groups: str) -> _Layout:
        """Read the group column for every partition's lowest and highest label.

        Partition by partition, as :func:`pool` later reads them: Dask may fuse
        the partitions of a whole-frame read of fewer columns (Parquet), which
        would number them differently.
        """
        meta = pd.DataFrame({"n": [], "lo": [], "hi": []}, dtype=object)
        spans = compute(  # type: ignore[no-untyped-call]
            *(
                studies.partitions[j][groups].map_partitions(_span, meta=meta)
                for j in range(studies.npartitions)
            )
        )
        filled = [
            (span["lo"].iloc[0], span["hi"].iloc[0]) if span["n"].iloc[0] else None
            for span in spans
        ]
        before: list[Any] = []
        highest = None
        for span in filled:
            before.append(highest)
            if span is not None and (highest is None or span[1] > highest):
                highest = span[1]
        after: list[Any] = []
        lowest = None
        for span in reversed(filled):
            after.append(lowest)
            if span is not None and (lowest is None or span[0] < lowest):
                lowest = span[0]
        after.reverse()
        all_local = all(
            span is None or ((b is None or b < span[0]) and (a is None or span[1] < a))
            for span, b, a in zip(filled, before, after, strict=True)
        )
        return cls(before, after, all_local)

    def bounds(self, p: int) -> tuple[Any, Any]:
        """Labels strictly between these occur in partition ``p`` only."""
        return self.before[p], self.after[p]

    def piece(self, j: int) -> tuple[bool, Any, Any]:
        """Which shared labels go between the local groups of partitions j - 1 and j.

        A shared label g lies above the local groups of every partition q with
        ``after[q] <= g`` and below those of all others (``after`` never
        decreases): piece j holds ``after[j - 1] <= g < after[j]``. Returns
        whether the piece starts at the lowest label, and the two bounds.
        """
        return j == 0, self.after[j - 1] if j else None, self.after[j] if j < self.n else None


def _span(labels: Frame) -> Frame:
    values = labels.to_numpy()
    if values.size == 0:
        return pd.DataFrame({"n": [0], "lo": [None], "hi": [None]}, dtype=object)
    missing = pd.isna(values)
    if missing.any():
        where = labels.index[int(np.flatnonzero(missing)[0])]
        raise InputError(
            f"column {labels.name!r} (groups=) has no label at index {_plain(where)!r}; "
            "every study needs a group"
        )
    try:
        lo, hi = values.min(), values.max()
    except TypeError as exc:
        raise InputError(
            f"group labels in column {labels.name!r} must be sortable: {exc}"
        ) from None
    return pd.DataFrame({"n": [values.size], "lo": [lo], "hi": [hi]}, dtype=object)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------- partitions


def _check(studies: _Studies, part: Frame, rows: BoolArray, plan: _Plan) -> None:
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


def _local(labels: Any, before: Any, after: Any) -> BoolArray:
    """Which study ``labels`` of a partition belong to groups wholly inside it."""
    inside = np.ones(len(labels), dtype=bool)
    if before is not None:
        inside &= labels > before
    if after is not None:
        inside &= labels < after
    return inside


def _pool_local(part: Frame, before: Any, after: Any, plan: _Plan, options: _Options) -> Frame:
    rows = _local(part[plan.groups].to_numpy(), before, after)
    studies = plan.studies(part, rows)
    _check(studies, part, rows, plan)
    return _result_frame(options.pool(*studies), plan, options)


def _shared_rows(part: Frame, before: Any, after: Any, plan: _Plan) -> Frame:
    rows = ~_local(part[plan.groups].to_numpy(), before, after)
    _check(plan.studies(part, rows), part, rows, plan)
    return part[rows]


def _piece(shared: Frame, from_start: bool, lower: Any, upper: Any) -> Frame:
    """The sorted ``shared`` results with ``lower <= label < upper`` (see _Layout.piece)."""
    labels = shared.index
    start = 0 if from_start else _position(labels, lower)
    return shared.iloc[start : _position(labels, upper)]


def _position(labels: Frame, bound: Any) -> int:
    """Where ``bound`` goes in sorted ``labels``; ``None`` (no partition after) is +∞."""
    return len(labels) if bound is None else int(labels.searchsorted(bound, side="left"))


# ----------------------------------------------------------------------------- shuffle path


def _pool_by_shuffle(rows: DaskFrame, plan: _Plan, options: _Options, meta: Frame) -> DaskFrame:
    """Shared groups brought whole into one partition each, pooled in memory."""
    whole = rows.shuffle(on=plan.groups)
    pooled = whole.map_partitions(_pool_whole, plan, options, meta=meta)
    return pooled.repartition(npartitions=1).map_partitions(_sort_index, meta=meta)


def _pool_whole(part: Frame, plan: _Plan, options: _Options) -> Frame:
    return _result_frame(options.pool(*plan.studies(part)), plan, options)


def _sort_index(frame: Frame) -> Frame:
    return frame.sort_index()


# ----------------------------------------------------------------------------- sums path


def _pool_by_sums(rows: DaskFrame, plan: _Plan, options: _Options, meta: Frame) -> DaskFrame:
    """Shared groups from per-group sums added up by tree reductions: no shuffle.

    Pass 1 sums k, Σw, Σwy, Σw², Σy and Σv (w = 1/v); pass 2 sums Σw(y - θ)²
    (Q) and Σ(y - ȳ)² about the pass-1 means. Summing squares about a centre,
    as the in-memory engine does, keeps Q exact where the one-pass
    Σwy² - (Σwy)²/Σw would cancel every digit. The closed-form τ² (DL, HS, HE,
    and SJ after two passes at its start value) then comes from
    :func:`metapool.pooling.tau2.tau2_from_sums`; one pass at w = 1/(v + τ²)
    gives the random-effects mean, one more its HKSJ variance.
    """
    base = _summed(rows, _weighted, plan, None)
    spread = _summed(rows, _spread, plan, base.map_partitions(_centre, None, meta=_CENTRE))
    if not options.random:
        return base.map_partitions(_finish_sums, spread, None, None, plan, options, meta=meta)
    start = None
    if options.tau2 == "SJ":
        tau0 = spread.map_partitions(_sj_start, base, meta=_TAU2)
        at_tau0 = _summed(rows, _weighted, plan, tau0)
        start = _summed(rows, _spread, plan, at_tau0.map_partitions(_centre, tau0, meta=_CENTRE))
        start = start.map_partitions(_with_tau2, tau0, meta=_SPREAD_AT)
    tau2 = base.map_partitions(_tau2_of_sums, spread, start, options, meta=_TAU2)
    pooled = _summed(rows, _weighted, plan, tau2)
    if options.hksj:
        about = _summed(rows, _spread, plan, pooled.map_partitions(_centre, tau2, meta=_CENTRE))
        pooled = pooled.map_partitions(_with_hksj, about, meta=_POOLED)
    return base.map_partitions(_finish_sums, spread, tau2, pooled, plan, options, meta=meta)


_SUMS = ("k", "sw", "swy", "sw2", "sy", "sv")
_TAU2 = pd.DataFrame({"tau2": pd.Series([], dtype=float)})
_CENTRE = pd.DataFrame({name: pd.Series([], dtype=float) for name in ("theta", "ybar", "tau2")})
_SPREAD_AT = pd.DataFrame({name: pd.Series([], dtype=float) for name in ("q", "ss", "tau2")})
_POOLED = pd.DataFrame({name: pd.Series([], dtype=float) for name in (*_SUMS, "q_hksj")})


def _summed(rows: DaskFrame, sums: Callable[..., Frame], plan: _Plan, given: Any) -> DaskFrame:
    """``sums(partition, plan, given)`` of every partition of ``rows``, added up by Dask's
    tree reduction; ``given`` is None or a one-partition frame, broadcast."""
    meta = sums(rows._meta, plan, None if given is None else given._meta)
    partial = rows.map_partitions(sums, plan, given, meta=meta)
    return partial.reduction(_same, combine=_add, aggregate=_add, meta=meta)


def _same(frame: Frame) -> Frame:
    return frame


def _add(parts: Frame) -> Frame:
    """Per-group totals of sums that came from several partitions."""
    labels, seg = factorize(parts.index.to_numpy())
    totals = {name: seg.sum(parts[name].to_numpy()) for name in parts.columns}
    return pd.DataFrame(totals, index=pd.Index(labels, name=parts.index.name))


def _per_group(values: Frame | None, column: str, labels: Frame) -> FloatArray:
    """``values[column]`` for each label (0 where ``values`` is None)."""
    if values is None:
        return np.zeros(len(labels))
    out: FloatArray = values[column].to_numpy(dtype=np.float64)[values.index.get_indexer(labels)]
    return out


def _rows(
    part: Frame, plan: _Plan, tau2: Frame | None
) -> tuple[Frame, Segments, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Labels, segments, y, v, w = 1/(v + τ²) and the study count of a partition's rows.

    Studies that are not estimable get w = 0 and count 0: they add nothing
    but their group's presence (a row with k = 0, as metapool.pool gives).
    """
    y, v, labels, keep = plan.studies(part)
    labels, seg = factorize(labels)
    index = plan.index(labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / (v + seg.expand(_per_group(tau2, "tau2", index)))
    count = np.ones(y.size)
    if keep is not None:
        w, count = np.where(keep, w, 0.0), keep.astype(np.float64)
        y, v = np.where(keep, y, 0.0), np.where(keep, v, 0.0)
    return index, seg, y, v, w, count


def _weighted(part: Frame, plan: _Plan, tau2: Frame | None) -> Frame:
    """k, Σw, Σwy, Σw², Σy and Σv per group, w = 1/(v + τ²)."""
    index, seg, y, v, w, count = _rows(part, plan, tau2)
    wy = w * y
    sums = dict(
        zip(
            _SUMS,
            (seg.sum(count), seg.sum(w), seg.sum(wy), seg.sum(w * w), seg.sum(y), seg.sum(v)),
            strict=True,
        )
    )
    return pd.DataFrame(sums, index=index)


def _spread(part: Frame, plan: _Plan, centre: Frame) -> Frame:
    """Σw(y - θ)² and Σ(y - ȳ)² per group, about each group's θ and ȳ in ``centre``."""
    index, seg, y, _, w, count = _rows(part, plan, centre)
    r = y - seg.expand(_per_group(centre, "theta", index))
    d = (y - seg.expand(_per_group(centre, "ybar", index))) * count
    return pd.DataFrame({"q": seg.sum(w * r * r), "ss": seg.sum(d * d)}, index=index)


def _centre(sums: Frame, tau2: Frame | None) -> Frame:
    """θ = Σwy/Σw and ȳ = Σy/k of every group, with the τ² the weights used."""
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = sums["swy"].to_numpy() / sums["sw"].to_numpy()
        ybar = sums["sy"].to_numpy() / sums["k"].to_numpy()
    tau = _per_group(tau2, "tau2", sums.index)
    return pd.DataFrame({"theta": theta, "ybar": ybar, "tau2": tau}, index=sums.index)


def _sj_start(spread: Frame, base: Frame) -> Frame:
    """Sidik-Jonkman's start τ₀² = Σ(y - ȳ)²/k."""
    k = base["k"].reindex(spread.index).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({"tau2": spread["ss"].to_numpy() / k}, index=spread.index)


def _with_tau2(spread: Frame, tau2: Frame) -> Frame:
    return spread.assign(tau2=_per_group(tau2, "tau2", spread.index))


def _with_hksj(pooled: Frame, about: Frame) -> Frame:
    return pooled.assign(q_hksj=_per_group(about, "q", pooled.index))


def _tau2_of_sums(base: Frame, spread: Frame, start: Frame | None, options: _Options) -> Frame:
    """τ² of every group from its sums (the closed-form estimators)."""
    k, sw, sw2, sv = (base[name].to_numpy() for name in ("k", "sw", "sw2", "sv"))
    q, ss = _per_group(spread, "q", base.index), _per_group(spread, "ss", base.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = tau2_from_sums(
            options.tau2,
            k,
            q=q,
            sw=sw,
            trace_p=sw - sw2 / sw,
            rss_ols=ss,
            trace_pv=sv - sv / k,
            tau0=_per_group(start, "tau2", base.index) if start is not None else None,
            q_tau0=_per_group(start, "q", base.index) if start is not None else None,
        )
    return pd.DataFrame({"tau2": tau2}, index=base.index)


def _finish_sums(
    base: Frame,
    spread: Frame,
    tau2: Frame | None,
    pooled: Frame | None,
    plan: _Plan,
    options: _Options,
) -> Frame:
    """The engine's ``finish`` on the summed groups."""
    index = base.index
    k, sw, sw2 = (base[name].to_numpy() for name in ("k", "sw", "sw2"))
    q = _per_group(spread, "q", index)
    weights = base if pooled is None else pooled.reindex(index)
    sw_model = weights["sw"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = weights["swy"].to_numpy() / sw_model
        var = 1.0 / sw_model
    var_hksj = None
    if options.hksj:  # Σw(y - θ)² with the model's weights (Q itself at τ² = 0)
        q_model = q if pooled is None else weights["q_hksj"].to_numpy()
        var_hksj = hksj_variance(q_model, k, sw_model)
    result = finish(
        k=k,
        theta=theta,
        var=var,
        q=q,
        typical=typical_variance(k, sw, sw2),
        tau2=_per_group(tau2, "tau2", index),
        converged=np.ones(k.size, dtype=bool),
        random=options.random,
        ci_level=options.ci_level,
        hksj=options.hksj,
        var_hksj=var_hksj,
        prediction=options.prediction,
        i2=options.i2,
        groups=index,
    )
    return _result_frame(result, plan, options)


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
