"""Groups of studies as segments of flat arrays.

Every per-analysis sum in metapool is a segment sum over one integer code per
study; this is the only place that knows how it is computed.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from metapool._typing import FloatArray, IntArray
from metapool.errors import InputError

__all__ = ["Segments", "factorize"]

_T = TypeVar("_T", bound=np.generic)


@attrs.frozen(slots=False)
class Segments:
    """Study ``i`` belongs to group ``codes[i]`` of ``n`` groups.

    When the codes are sorted and no group is empty, sums run over contiguous
    runs (``np.add.reduceat``), which is faster than scattering (``np.bincount``),
    and the codes themselves are only built if something asks for them.
    """

    _codes: IntArray | None
    n: int
    counts: IntArray = attrs.field(default=None)
    starts: IntArray | None = None

    def __attrs_post_init__(self) -> None:
        if self.counts is None:
            object.__setattr__(self, "counts", np.bincount(self.codes, minlength=self.n))

    @functools.cached_property
    def codes(self) -> IntArray:
        """The group of each study."""
        if self._codes is not None:
            return self._codes
        return np.repeat(np.arange(self.n, dtype=np.intp), self.counts)

    @classmethod
    def contiguous(cls, starts: IntArray, size: int) -> Segments:
        """Groups of consecutive studies beginning at ``starts`` (none empty), ``size`` in all."""
        counts = np.empty_like(starts)
        np.subtract(starts[1:], starts[:-1], out=counts[:-1])
        counts[-1] = size - starts[-1]
        return cls(None, starts.size, counts, starts)

    @classmethod
    def single(cls, size: int) -> Segments:
        """All studies in one group."""
        if size:
            return cls(None, 1, np.array([size], dtype=np.intp), np.zeros(1, dtype=np.intp))
        return cls(np.zeros(0, dtype=np.intp), 1)

    def max(self, x: FloatArray) -> FloatArray:
        """Largest ``x`` in each group (-inf for an empty group)."""
        if self.starts is not None:
            return np.maximum.reduceat(x, self.starts)
        out = np.full(self.n, -np.inf)
        np.maximum.at(out, self.codes, x)
        return out

    def min(self, x: FloatArray) -> FloatArray:
        """Smallest ``x`` in each group."""
        return -self.max(-x)

    def sum(self, x: FloatArray) -> FloatArray:
        """Sum of ``x`` within each group (length ``n``)."""
        if self.starts is not None:
            return np.add.reduceat(x, self.starts)
        return np.bincount(self.codes, weights=x, minlength=self.n).astype(np.float64, copy=False)

    def expand(self, x: npt.NDArray[_T]) -> npt.NDArray[_T]:
        """Broadcast a per-group value back to the studies."""
        if self.starts is not None:
            return np.repeat(x, self.counts)
        return x.take(self.codes)

    def take(self, index: Any) -> Segments:
        """The studies selected by ``index``, keeping every group (possibly empty)."""
        return Segments(self.codes[index], self.n)

    def subset(self, groups: IntArray, *arrays: FloatArray) -> tuple[Any, ...]:
        """Keep only ``groups`` (sorted indices): their studies' ``arrays`` and Segments."""
        keep = np.zeros(self.n, dtype=bool)
        keep[groups] = True
        rows = self.expand(keep) if self.starts is not None else keep.take(self.codes)
        picked = tuple(a[rows] for a in arrays)
        if self.starts is not None:
            return (*picked, Segments.of_sizes(self.counts[groups]))
        renumber = np.cumsum(keep, dtype=np.intp) - 1
        return (*picked, Segments(renumber.take(self.codes[rows]), groups.size))

    def replicate(self, owner: IntArray) -> tuple[IntArray, Segments]:
        """Rows and Segments of virtual groups holding the studies of groups ``owner``.

        ``owner`` is sorted and may repeat a group (to pool its studies twice).
        """
        counts = self.counts[owner]
        if self.starts is not None:
            first, order = self.starts[owner], None
        else:
            order = np.argsort(self.codes, kind="stable")
            first = (np.cumsum(self.counts) - self.counts)[owner]
        ends = np.cumsum(counts)
        position = np.arange(int(ends[-1]) if ends.size else 0, dtype=np.intp)
        position += np.repeat(first - (ends - counts), counts)
        rows = position if order is None else order[position]
        return rows, Segments.of_sizes(counts)

    @classmethod
    def of_sizes(cls, sizes: IntArray) -> Segments:
        """Consecutive groups of the given sizes (a padded 2-D layout, leave-one-out, ...)."""
        if sizes.size and sizes.all():
            return cls.contiguous(np.concatenate(([0], np.cumsum(sizes[:-1]))), int(sizes.sum()))
        return cls(np.repeat(np.arange(sizes.size, dtype=np.intp), sizes), sizes.size, sizes)


def factorize(groups: Any) -> tuple[Any, Segments]:
    """Sorted unique group labels and the :class:`Segments` of the studies.

    Integer labels that are already sorted are coded in one pass, without a sort.

    Examples
    --------
    >>> labels, seg = factorize(["b", "a", "b"])
    >>> labels.tolist(), seg.codes.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise InputError(f"groups must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iub" and arr.size:
        change = np.empty(arr.size, dtype=bool)
        change[0] = True
        np.not_equal(arr[1:], arr[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        labels = arr[starts]
        if labels.size == 1 or (labels[1:] > labels[:-1]).all():
            return labels, Segments.contiguous(starts, arr.size)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InputError("groups contains NaN; every study needs a group label")
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise InputError(f"group labels must be sortable: {exc}") from None
    return labels, Segments(codes.astype(np.intp, copy=False).reshape(-1), labels.size)
