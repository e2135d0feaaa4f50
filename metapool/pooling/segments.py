"""Groups of studies as segments of flat arrays.

Every per-analysis sum in metapool is a segment sum over one integer code per
study; this is the only place that knows how it is computed.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from metapool._typing import FloatArray, IntArray
from metapool.errors import InputError

__all__ = ["Segments", "factorize"]


@attrs.frozen
class Segments:
    """Study ``i`` belongs to group ``codes[i]`` of ``n`` groups."""

    codes: IntArray
    n: int
    counts: IntArray = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "counts", np.bincount(self.codes, minlength=self.n))

    @classmethod
    def single(cls, size: int) -> Segments:
        """All studies in one group."""
        return cls(np.zeros(size, dtype=np.intp), 1)

    def sum(self, x: FloatArray) -> FloatArray:
        """Sum of ``x`` within each group (length ``n``)."""
        return np.bincount(self.codes, weights=x, minlength=self.n)

    def expand(self, x: FloatArray) -> FloatArray:
        """Broadcast a per-group value back to the studies."""
        return x.take(self.codes)

    def take(self, index: Any) -> Segments:
        """The studies selected by ``index``, keeping every group (possibly empty)."""
        return Segments(self.codes[index], self.n)


def factorize(groups: Any) -> tuple[Any, IntArray]:
    """Sorted unique group labels and each study's code into them.

    Integer labels that are already sorted are coded in one pass, without a sort.

    Examples
    --------
    >>> labels, codes = factorize(["b", "a", "b"])
    >>> labels.tolist(), codes.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise InputError(f"groups must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iub" and arr.size:
        step = np.diff(arr)
        if (step >= 0).all():
            new = np.empty(arr.size, dtype=np.intp)
            new[0] = 0
            np.cumsum(step != 0, out=new[1:])
            starts = np.flatnonzero(np.concatenate(([True], step != 0)))
            return arr[starts], new
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InputError("groups contains NaN; every study needs a group label")
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise InputError(f"group labels must be sortable: {exc}") from None
    return labels, codes.astype(np.intp, copy=False).reshape(-1)
