"""``workers=``: contiguous chunks of groups pooled on threads, results concatenated.

numpy releases the GIL in its ufuncs and reductions, so chunks of groups run
in parallel on threads without copying data to other processes. Contiguous
layouts are also cut into blocks of about :data:`BLOCK` studies even on one
thread: a block's temporaries stay in the processor's caches, which makes the
memory-bound arithmetic of a large batch about twice as fast (``pool`` and
``pool_tables`` at 10^7 studies, in the benchmarks). Every group's
computation depends on its own studies only (the iterative τ² estimators
iterate each group until its own convergence), so a chunk's groups get the
same numbers, bit for bit, as in one batch: a chunk keeps the layout of the
whole (contiguous runs stay contiguous runs, scattered codes stay codes), so
every sum adds the same numbers in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import numpy as np

from metapool._typing import IntArray
from metapool.errors import InputError
from metapool.pooling._warn import Tally, counted, warn_totals
from metapool.pooling.segments import Segments

__all__ = ["Chunk", "chunks", "concatenate", "map_groups", "resolve_workers"]

_R = TypeVar("_R")

#: studies per block of a contiguous layout (1 MiB per float64 array)
BLOCK = 2**17


def resolve_workers(workers: Any) -> int:
    """scipy's convention: a positive number of threads, or -1 for every core
    (-2 for all but one, ...)."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise InputError(f"workers must be an integer (-1: all cores), got {workers!r}")
    n = int(workers)
    if n < 0:
        n = (os.cpu_count() or 1) + 1 + n
    if n < 1:
        raise InputError(f"workers must be a positive integer or -1 (all cores), got {workers!r}")
    return n


@attrs.frozen
class Chunk:
    """Studies ``index`` (a slice or indices into the flat arrays) of the groups
    ``groups`` (a slice of group numbers), with their own :class:`Segments`."""

    index: slice | IntArray
    groups: slice
    seg: Segments


def chunks(seg: Segments, parts: int) -> list[Chunk]:
    """Split the groups of ``seg`` into at most ``parts`` runs of consecutive groups
    holding about as many studies each; no group is ever split."""
    n = seg.n
    counts = seg.counts
    if parts <= 1 or n <= 1:
        return [Chunk(slice(None), slice(0, n), seg)]
    ends = np.cumsum(counts)
    total = int(ends[-1])
    # the first group at which each share of the studies is complete
    cuts = np.searchsorted(ends, total * np.arange(1, parts) / parts, side="left") + 1
    bounds = np.unique(np.concatenate(([0], np.minimum(cuts, n), [n])))
    out = []
    codes = None if seg.starts is not None else seg.codes
    for g0, g1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if codes is None:  # consecutive runs: a view of the studies
            assert seg.starts is not None
            first = int(seg.starts[g0])
            last = int(seg.starts[g1]) if g1 < n else total
            part = Segments.contiguous(seg.starts[g0:g1] - first, last - first)
            out.append(Chunk(slice(first, last), slice(g0, g1), part))
        else:  # scattered codes: the chunk's studies in their order, still scattered
            rows = np.flatnonzero((codes >= g0) & (codes < g1))
            part = Segments(codes[rows] - g0, g1 - g0)
            out.append(Chunk(rows, slice(g0, g1), part))
    return out


def concatenate(pieces: Sequence[_R], chunked: Sequence[Chunk], per_study: tuple[str, ...]) -> _R:
    """One record from the records of the chunks, in group order.

    Fields that are arrays hold one value per group and are joined; those named in
    ``per_study`` hold one value per study and go back to the studies' positions;
    fields that are None (or not arrays) are taken from the first piece, so
    group labels are attached to the joined record, not to the pieces.
    """
    first = pieces[0]
    if len(pieces) == 1:
        return first
    size = sum(int(c.seg.counts.sum()) for c in chunked)
    values: dict[str, Any] = {}
    kind: Any = type(first)
    for field in attrs.fields(kind):
        name = field.name
        parts = [getattr(p, name) for p in pieces]
        if not isinstance(parts[0], np.ndarray):
            values[name] = parts[0]
        elif name in per_study:
            joined = np.empty(size, dtype=parts[0].dtype)
            for c, part in zip(chunked, parts, strict=True):
                joined[c.index] = part
            values[name] = joined
        else:
            values[name] = np.concatenate(parts)
    joined_record: _R = kind(**values)
    return joined_record


def map_groups(
    seg: Segments,
    workers: int,
    fit: Callable[[slice | IntArray, Segments], _R],
    per_study: tuple[str, ...] = ("weights",),
) -> _R:
    """``fit(index, seg)`` on contiguous chunks of the groups on ``workers`` threads,
    concatenated.

    A contiguous layout is cut into blocks of about :data:`BLOCK` studies; a
    scattered one (each chunk costs a pass over all studies to find its own)
    into ``workers`` chunks. No more threads start than there are blocks. The
    chunks' warnings are given once, with the counts over all groups.
    """
    blocks = -(-int(seg.counts.sum()) // BLOCK)
    # a thread costs more than it saves on less than a block of studies
    workers = max(1, min(workers, blocks))
    parts = max(workers, blocks) if seg.starts is not None else workers
    chunked = chunks(seg, parts)
    if len(chunked) == 1:
        return fit(chunked[0].index, chunked[0].seg)

    def run(c: Chunk) -> tuple[_R, Tally]:
        with counted() as tally:
            return fit(c.index, c.seg), tally

    if workers == 1:
        done = [run(c) for c in chunked]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(chunked))) as pool:
            done = list(pool.map(run, chunked))
    warn_totals((tally for _, tally in done), seg.n)
    return concatenate([piece for piece, _ in done], chunked, per_study)
