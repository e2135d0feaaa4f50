"""What the diagnostics refit: a result's estimable studies and the layouts of batched refits.

Every diagnostic refits from the result alone (its :attr:`~metapool.results.MetaAnalysis.effects`
and settings, as metafor's methods refit from the fitted object) and pools every
refit of one diagnostic as one batch through :func:`metapool.pooling.engine.pool_with`:
the k leave-one-out fits are k groups of k - 1 studies, the k cumulative fits are
k groups of 1, 2, ..., k studies, all built by index arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from metapool._typing import FloatArray, IntArray
from metapool.effects import Cells
from metapool.pooling.engine import PoolResult, pool_with
from metapool.pooling.segments import Segments
from metapool.vocabulary import Settings

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = [
    "StudyData",
    "arrays",
    "cumulative_layout",
    "estimable_studies",
    "leave_one_out_layout",
    "rounding",
]


@attrs.frozen
class StudyData:
    """The estimable studies of an analysis, in input order, on the analysis scale."""

    names: tuple[str, ...]
    yi: FloatArray
    vi: FloatArray
    cells: Cells | None  # raw 2x2 cells (dichotomous data): Mantel-Haenszel, Peters, Harbord
    settings: Settings

    @property
    def k(self) -> int:
        return len(self.names)

    def refit(
        self,
        rows: IntArray,
        seg: Segments,
        *,
        inverse_variance: bool = False,
        hksj: bool | None = None,
        weights: bool = False,
    ) -> PoolResult:
        """:func:`~metapool.pooling.engine.pool_with` of these studies' ``rows`` in ``seg``.

        The batched refits are metafor's ``leave1out``, ``cumul``, ``influence``
        and ``gosh``: without the Q-profile CIs of τ², which only a refit that
        stands for the analysis (trim-and-fill) computes.
        """
        return pool_with(
            self.settings,
            self.yi,
            self.vi,
            rows,
            seg,
            cells=self.cells,
            inverse_variance=inverse_variance,
            hksj=hksj,
            weights=weights,
            tau2_ci=False,
        )


def estimable_studies(res: MetaAnalysis) -> StudyData:
    """The analysis' estimable studies with their effects (zero-cell rule applied)."""
    es = res.effects
    index = np.flatnonzero(es.estimable)
    return StudyData(
        names=tuple(res.studies[i].study for i in index),
        yi=es.yi[index],
        vi=es.vi[index],
        cells=None if es.cells is None else es.cells.take(index),
        settings=res.settings,
    )


def leave_one_out_layout(k: int) -> tuple[IntArray, Segments]:
    """Rows and groups of the k leave-one-out fits: group g holds every study but g.

    Examples
    --------
    >>> rows, seg = leave_one_out_layout(3)
    >>> rows.tolist(), seg.codes.tolist()
    ([1, 2, 0, 2, 0, 1], [0, 0, 1, 1, 2, 2])
    """
    group = np.repeat(np.arange(k, dtype=np.intp), k - 1)
    position = np.tile(np.arange(k - 1, dtype=np.intp), k)
    # skip over the left-out study: positions at or after it move up by one
    rows = position + (position >= group)
    return rows, Segments(group, k)


def cumulative_layout(order: IntArray) -> tuple[IntArray, Segments]:
    """Rows and groups of the cumulative fits: group g holds ``order[:g + 1]``.

    Examples
    --------
    >>> rows, seg = cumulative_layout(np.array([2, 0, 1]))
    >>> rows.tolist(), seg.codes.tolist()
    ([2, 2, 0, 2, 0, 1], [0, 1, 1, 2, 2, 2])
    """
    k = order.size
    sizes = np.arange(1, k + 1, dtype=np.intp)
    group = np.repeat(np.arange(k, dtype=np.intp), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    position = np.arange(group.size, dtype=np.intp) - starts
    return order[position], Segments(group, k)


def rounding(y: FloatArray) -> float:
    """Differences below this are rounding noise for effects of the size of ``y``."""
    return float(100 * np.finfo(float).eps * np.abs(y).max())


def arrays(pooled: PoolResult, *names: str) -> dict[str, Any]:
    """The per-group arrays ``names`` of a batch of refits, for the record that keeps them."""
    return {name: getattr(pooled, name) for name in names}
