"""Shared groups pooled from per-partition :mod:`metapool.pooling.sums`, added up by
tree reductions: no row moves. Every formula is the in-memory engine's, in each
group's own units where the engine would use them.

The passes are plain tasks on the partitions (:func:`dask.delayed`): each
pass reads the small per-group results of the ones before, and a chain of
dataframe expressions that share so much would make Dask's optimizer take
time exponential in the number of passes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import Delayed, delayed

from metapool._typing import FloatArray
from metapool.dask._plan import DaskFrame, Frame, Options, Plan, result_frame
from metapool.pooling.engine import needs_units, summarise, units
from metapool.pooling.segments import Segments, factorize
from metapool.pooling.sums import (
    GroupSums,
    Spread,
    closed_form_tau2,
    hksj_variance,
    sj_start,
)

__all__ = ["pool_by_sums"]


def pool_by_sums(rows: DaskFrame, plan: Plan, options: Options, meta: Frame) -> DaskFrame:
    """Shared groups from per-group sums added up by tree reductions: no shuffle.

    Pass 0 finds each group's extremes, which set its units as in memory
    (:func:`~metapool.pooling.engine.units`: data near overflow or underflow
    are summed in units where the weights stay representable). Pass 1 adds
    :class:`~metapool.pooling.sums.GroupSums` at w = 1/v; pass 2 the
    :class:`~metapool.pooling.sums.Spread` about the pass-1 means (squares about
    a centre, as the in-memory engine sums them, keep Q exact). The closed-form
    τ² (DL, HS, HE, and SJ after two passes at its start value) then comes from
    :func:`~metapool.pooling.sums.closed_form_tau2`; one pass at w = 1/(v + τ²)
    gives the random-effects mean, one more its HKSJ variance.
    """
    parts = rows.to_delayed()
    unit = _tree([_task(_range)(part, plan) for part in parts], _merge_range, _units)
    base = _summed(parts, _weighted, plan, None, GroupSums, unit)
    spread = _summed(parts, _spread, plan, _task(_centre)(base, None), Spread, unit)
    tau2: Delayed | None = None
    pooled: Delayed | None = None
    if options.random:
        start = None
        if options.tau2 == "SJ":
            tau0 = _task(_sj_start)(spread, base)
            at_tau0 = _summed(parts, _weighted, plan, tau0, GroupSums, unit)
            centre = _task(_centre)(at_tau0, tau0)
            start = _task(_with_tau2)(_summed(parts, _spread, plan, centre, Spread, unit), tau0)
        tau2 = _task(_tau2_of_sums)(base, spread, start, options)
        pooled = _summed(parts, _weighted, plan, tau2, GroupSums, unit)
        if options.hksj:
            about = _summed(parts, _spread, plan, _task(_centre)(pooled, tau2), Spread, unit)
            pooled = _task(_with_hksj)(pooled, about)
    result = _task(_summarise)(base, spread, tau2, pooled, unit, plan, options)
    frame: DaskFrame = dd.from_delayed([result], meta=meta, verify_meta=False)
    return frame


def _task(fn: Callable[..., Frame]) -> Callable[..., Delayed]:
    """``fn`` as a task of the graph (not to be run when the graph is built)."""
    wrapped: Callable[..., Delayed] = delayed(fn, pure=True)
    return wrapped


#: how many partial results one task of a tree reduction merges (Dask's default)
_SPLIT = 8


def _tree(
    pieces: list[Delayed],
    merge: Callable[[Frame], Frame],
    finish: Callable[[Frame], Frame] | None = None,
) -> Delayed:
    """The merge of all ``pieces`` (one row per group), merged ``_SPLIT`` at a time,
    then ``finish`` of it."""
    while len(pieces) > 1:
        pieces = [
            _task(_merge_of)(merge, *pieces[i : i + _SPLIT]) for i in range(0, len(pieces), _SPLIT)
        ]
    return pieces[0] if finish is None else _task(finish)(pieces[0])


def _merge_of(merge: Callable[[Frame], Frame], *parts: Frame) -> Frame:
    return merge(pd.concat(parts))


_EXTREMES = ("v_min", "v_max", "y_min", "y_max")


def _range(part: Frame, plan: Plan) -> Frame:
    """The extremes of each group's estimable studies in a partition (±inf: none)."""
    y, v, labels, keep = plan.studies(part)
    labels, seg = factorize(labels)
    hi = np.inf
    if keep is not None:
        y_lo, y_hi = np.where(keep, y, hi), np.where(keep, y, -hi)
        v_lo, v_hi = np.where(keep, v, hi), np.where(keep, v, -hi)
    else:
        y_lo = y_hi = y
        v_lo = v_hi = v
    extremes = {"v_min": seg.min(v_lo), "v_max": seg.max(v_hi)}
    extremes |= {"y_min": seg.min(y_lo), "y_max": seg.max(y_hi)}
    return pd.DataFrame(extremes, index=plan.index(labels))


def _merge_range(parts: Frame) -> Frame:
    labels, seg = factorize(parts.index.to_numpy())
    merged = {
        name: (seg.min if name.endswith("_min") else seg.max)(parts[name].to_numpy())
        for name in _EXTREMES
    }
    return pd.DataFrame(merged, index=pd.Index(labels, name=parts.index.name))


def _units(extremes: Frame) -> Frame:
    """Each group's centre and scale, as the in-memory engine chooses them, and
    whether its estimates are all identical (no HKSJ spread, whatever the rounding)."""
    v_min, v_max, y_min, y_max = (extremes[name].to_numpy() for name in _EXTREMES)
    present = v_min <= v_max
    centre, scale = np.zeros(present.size), np.ones(present.size)
    if present.any() and needs_units(
        v_min[present].min(), v_max[present].max(), y_min[present].min(), y_max[present].max()
    ):
        centre, scale = units(v_min, y_min, y_max, present)
    columns = {"centre": centre, "scale": scale, "identical": present & (y_min == y_max)}
    return pd.DataFrame(columns, index=extremes.index)


def _summed(
    parts: list[Delayed],
    sums: Callable[..., Frame],
    plan: Plan,
    given: Delayed | None,
    record: type[GroupSums] | type[Spread],
    unit: Delayed,
) -> Delayed:
    """``sums(partition, plan, given, unit)`` of every partition (a table of
    ``record``'s columns), merged by a tree reduction; ``given`` (None or a
    per-group frame) and ``unit`` (the groups' units) go to every partition."""
    partial = [_task(sums)(part, plan, given, unit) for part in parts]
    return _tree(partial, functools.partial(_merge, record=record))


def _merge(parts: Frame, record: type[GroupSums] | type[Spread]) -> Frame:
    """Per-group totals of sums that came from several partitions."""
    labels, seg = factorize(parts.index.to_numpy())
    merged = record.of_columns(parts).merge(seg)
    return pd.DataFrame(merged.columns(), index=pd.Index(labels, name=parts.index.name))


def _per_group(values: Frame | None, column: str, labels: Frame) -> FloatArray:
    """``values[column]`` for each label (0 where ``values`` is None)."""
    if values is None:
        return np.zeros(len(labels))
    out: FloatArray = values[column].to_numpy(dtype=np.float64)[values.index.get_indexer(labels)]
    return out


def _rows(
    part: Frame, plan: Plan, tau2: Frame | None, unit: Frame
) -> tuple[Frame, Segments, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Labels, segments, y, v (in the groups' units), w = 1/(v + τ²) and the study
    count of a partition's rows.

    Studies that are not estimable get w = 0 and count 0: they add nothing
    but their group's presence (a row with k = 0, as metapool.pool gives).
    """
    y, v, labels, keep = plan.studies(part)
    labels, seg = factorize(labels)
    index = plan.index(labels)
    centre, scale = (seg.expand(_per_group(unit, name, index)) for name in ("centre", "scale"))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y, v = (y - centre) / scale, v / (scale * scale)
        w = 1.0 / (v + seg.expand(_per_group(tau2, "tau2", index)))
    count = np.ones(y.size)
    if keep is not None:
        w, count = np.where(keep, w, 0.0), keep.astype(np.float64)
        y, v = np.where(keep, y, 0.0), np.where(keep, v, 0.0)
    return index, seg, y, v, w, count


def _weighted(part: Frame, plan: Plan, tau2: Frame | None, unit: Frame) -> Frame:
    index, seg, y, v, w, count = _rows(part, plan, tau2, unit)
    return pd.DataFrame(GroupSums.of(seg, y, v, w, count).columns(), index=index)


def _spread(part: Frame, plan: Plan, centre: Frame, unit: Frame) -> Frame:
    index, seg, y, _, w, count = _rows(part, plan, centre, unit)
    theta, ybar = (_per_group(centre, name, index) for name in ("theta", "ybar"))
    return pd.DataFrame(Spread.of(seg, y, w, count, theta, ybar).columns(), index=index)


def _centre(sums: Frame, tau2: Frame | None) -> Frame:
    """θ and ȳ of every group, with the τ² the weights used."""
    group = GroupSums.of_columns(sums)
    theta = group.mean()[0]
    tau = _per_group(tau2, "tau2", sums.index)
    return pd.DataFrame({"theta": theta, "ybar": group.ybar(), "tau2": tau}, index=sums.index)


def _sj_start(spread: Frame, base: Frame) -> Frame:
    tau0 = sj_start(GroupSums.of_columns(base.reindex(spread.index)), Spread.of_columns(spread))
    return pd.DataFrame({"tau2": tau0}, index=spread.index)


def _with_tau2(spread: Frame, tau2: Frame) -> Frame:
    return spread.assign(tau2=_per_group(tau2, "tau2", spread.index))


def _with_hksj(pooled: Frame, about: Frame) -> Frame:
    return pooled.assign(q_hksj=_per_group(about, "q", pooled.index))


def _spread_of(spread: Frame | None, index: Frame) -> Spread:
    return Spread(*(_per_group(spread, name, index) for name in Spread.names()))


def _tau2_of_sums(base: Frame, spread: Frame, start: Frame | None, options: Options) -> Frame:
    """τ² of every group from its sums (the closed-form estimators)."""
    index = base.index
    at_tau0 = (
        None if start is None else (_per_group(start, "tau2", index), _spread_of(start, index))
    )
    tau2 = closed_form_tau2(
        options.tau2, GroupSums.of_columns(base), _spread_of(spread, index), at_tau0
    )
    return pd.DataFrame({"tau2": tau2}, index=index)


def _summarise(
    base: Frame,
    spread: Frame,
    tau2: Frame | None,
    pooled: Frame | None,
    unit: Frame,
    plan: Plan,
    options: Options,
) -> Frame:
    """The engine's :func:`~metapool.pooling.engine.summarise` on the summed groups."""
    index = base.index
    sums = GroupSums.of_columns(base)
    q = _per_group(spread, "q", index)
    weights = base if pooled is None else pooled.reindex(index)
    model = GroupSums.of_columns(weights)
    theta, var = model.mean()
    var_hksj = None
    if options.hksj:  # Σw(y - θ)² with the model's weights (Q itself at τ² = 0)
        q_model = q if pooled is None else weights["q_hksj"].to_numpy()
        q_model = np.where(_per_group(unit, "identical", index) == 1, 0.0, q_model)
        var_hksj = hksj_variance(q_model, sums.k, model.sw)
    result = summarise(
        k=sums.k,
        theta=theta,
        var=var,
        q=q,
        typical=sums.typical(),
        tau2=_per_group(tau2, "tau2", index),
        converged=np.ones(sums.k.size, dtype=bool),
        random=options.random,
        ci_level=options.ci_level,
        hksj=options.hksj,
        var_hksj=var_hksj,
        prediction=options.prediction,
        i2=options.i2,
        groups=index,
        unit=(_per_group(unit, "centre", index), _per_group(unit, "scale", index)),
    )
    return result_frame(result, plan, options)
