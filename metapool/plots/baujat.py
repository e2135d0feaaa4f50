"""Baujat plot: which studies drive heterogeneity and the result.

The plot follows metafor's ``baujat.rma``; its coordinates
(:func:`~metapool.diagnostics.baujat_points`: for every estimable study its
contribution to heterogeneity and its influence on the result) are a
diagnostic of :mod:`metapool.diagnostics.sensitivity`, importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from metapool._typing import FloatArray
from metapool.diagnostics.sensitivity import BaujatPoints, baujat_points
from metapool.plots._style import COLOURS, figure, require_matplotlib, text_width
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.results import MetaAnalysis

__all__ = ["BaujatPoints", "baujat", "baujat_points"]


def baujat(res: MetaAnalysis) -> Figure:
    """Draw a Baujat plot (Baujat et al. 2002), as metafor's ``baujat()``.

    Studies at the right add most to heterogeneity, studies at the top move
    the pooled result most; each point is labelled with its study.

    Parameters
    ----------
    res : MetaAnalysis
        An analysis with at least two estimable studies.

    Returns
    -------
    matplotlib.figure.Figure
        Its coordinates are also available from :func:`baujat_points`.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR")
    >>> len(baujat(res).axes[0].collections[0].get_offsets())
    7
    """
    points = baujat_points(res)
    require_matplotlib()

    fig = figure(figsize=(5.5, 4.5))
    # a fixed frame (no layout engine) so that label positions can be worked out now
    ax = fig.add_axes((0.13, 0.12, 0.83, 0.84))
    x, y = points.heterogeneity, points.influence
    ax.scatter(x, y, s=18, color=COLOURS[res.settings.data_type], zorder=3, gid="studies")
    ax.set_xlim(*_padded(x))
    ax.set_ylim(*_padded(y))
    ax.grid(True, color="0.9", zorder=0)
    _label_points(ax, x, y, points.study)
    fixed = res.settings.model is Model.FIXED
    ax.set_xlabel("Contribution to Overall Heterogeneity" if fixed else "Squared Pearson Residual")
    ax.set_ylabel("Influence on Overall Result")
    return fig


def _padded(values: FloatArray) -> tuple[float, float]:
    """Axis limits around ``values`` with room for the labels."""
    lo, hi = float(values.min()), float(values.max())
    pad = 0.1 * (hi - lo) or 0.1 * max(abs(hi), 1.0)
    return lo - pad, hi + pad


# Label spots around a point: offset (points) and alignment, in order of preference.
_SPOTS = (
    (4, 2, "left", "bottom"),
    (4, -2, "left", "top"),
    (-4, 2, "right", "bottom"),
    (-4, -2, "right", "top"),
)


def _label_points(ax: Axes, x: FloatArray, y: FloatArray, names: Sequence[str]) -> None:
    """Label points without overlaps where possible.

    Each label takes the first of four spots around its point (right-above,
    right-below, left-above, left-below) that stays inside the axes and clear of
    the labels already placed; the most influential studies are placed first.
    """
    from matplotlib.transforms import Bbox

    size = 7.0
    scale = ax.figure.dpi / 72  # points to pixels
    frame = ax.get_window_extent()
    taken: list[Bbox] = []
    for i in np.argsort(-y, kind="stable"):
        px, py = ax.transData.transform((x[i], y[i]))
        width, height = text_width(names[i], size) * scale, 1.2 * size * scale
        boxes = [
            Bbox.from_bounds(
                px + dx * scale - (width if ha == "right" else 0.0),
                py + dy * scale - (height if va == "top" else 0.0),
                width,
                height,
            )
            for dx, dy, ha, va in _SPOTS
        ]
        free = [
            j
            for j, b in enumerate(boxes)
            if frame.x0 <= b.x0
            and b.x1 <= frame.x1
            and frame.y0 <= b.y0
            and b.y1 <= frame.y1
            and not any(b.overlaps(t) for t in taken)
        ]
        j = free[0] if free else 0
        taken.append(boxes[j])
        dx, dy, ha, va = _SPOTS[j]
        ax.annotate(
            names[i],
            (x[i], y[i]),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=size,
            gid="label",
        )
