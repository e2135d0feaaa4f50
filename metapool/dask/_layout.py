"""Where a Dask DataFrame's groups lie: per-partition label ranges, local versus
shared groups, and the order in which the result pieces follow each other."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pandas as pd
from dask.base import compute

from metapool._typing import BoolArray
from metapool.errors import InputError

# Dask's collections are untyped, and pandas-stubs does not cover the Python
# version mypy checks for (3.10): frames are typed loosely, under these names.
DaskFrame = Any
Frame = Any


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


def _local(labels: Any, before: Any, after: Any) -> BoolArray:
    """Which study ``labels`` of a partition belong to groups wholly inside it."""
    inside = np.ones(len(labels), dtype=bool)
    if before is not None:
        inside &= labels > before
    if after is not None:
        inside &= labels < after
    return inside


def _piece(shared: Frame, from_start: bool, lower: Any, upper: Any) -> Frame:
    """The sorted ``shared`` results with ``lower <= label < upper`` (see _Layout.piece)."""
    labels = shared.index
    start = 0 if from_start else _position(labels, lower)
    return shared.iloc[start : _position(labels, upper)]


def _position(labels: Frame, bound: Any) -> int:
    """Where ``bound`` goes in sorted ``labels``; ``None`` (no partition after) is +∞."""
    return len(labels) if bound is None else int(labels.searchsorted(bound, side="left"))
