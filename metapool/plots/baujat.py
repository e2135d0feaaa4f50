"""Baujat and L'Abbé plots: which studies drive heterogeneity, and the raw risks.

The Baujat plot follows metafor's ``baujat.rma``: for every estimable study,
x is its contribution to heterogeneity, the squared residual from the pooled
estimate over its variance (plus τ² under random effects; for a fixed-effect
analysis the x values add up to Q), and y its influence on the result, the
squared change of the pooled estimate when the study is left out, over the
variance of the estimate without it. The k leave-one-out analyses are one
batch through the pooling engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from metapool._typing import FloatArray
from metapool.analysis import study_effects
from metapool.diagnostics.sensitivity import estimable_studies, leave_one_out_layout, pool_groups
from metapool.errors import InputError
from metapool.plots._style import (
    COLOURS,
    label_lines,
    new_figure,
    require_matplotlib,
    text_width,
)
from metapool.pooling.segments import Segments
from metapool.vocabulary import DataType, Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.results import MetaAnalysis

__all__ = ["BaujatPoints", "baujat", "baujat_points", "labbe"]


@attrs.frozen
class BaujatPoints:
    """Baujat coordinates of the estimable studies, in the analysis' order."""

    study: tuple[str, ...]
    heterogeneity: FloatArray
    influence: FloatArray


def baujat_points(res: MetaAnalysis) -> BaujatPoints:
    """Each estimable study's contribution to heterogeneity and influence on the result.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV")
    >>> points = baujat_points(res)
    >>> round(float(points.heterogeneity.sum()), 4) == round(res.heterogeneity.q, 4)
    True
    """
    data = estimable_studies(res)
    k = data.k
    if k < 2:
        raise InputError(f"a Baujat plot needs at least 2 estimable studies, this analysis has {k}")
    full = pool_groups(data, np.arange(k), Segments.single(k))
    without = pool_groups(data, *leave_one_out_layout(k))
    theta, tau2 = full.estimate[0], full.tau2[0]
    return BaujatPoints(
        study=data.names,
        heterogeneity=(data.yi - theta) ** 2 / (data.vi + tau2),
        influence=(without.estimate - theta) ** 2 / without.se**2,
    )


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
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR")
    >>> len(baujat(res).axes[0].collections[0].get_offsets())
    7
    """
    points = baujat_points(res)
    require_matplotlib()

    fig = new_figure(figsize=(5.5, 4.5))
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


def labbe(res: MetaAnalysis) -> Figure:
    """Draw a L'Abbé plot: experimental against control event risk (dichotomous data).

    One circle per estimable study, its area proportional to the study's
    weight; the solid line of equal risks and the dashed line of the pooled
    effect (odds ratio, risk ratio or risk difference) across control risks.

    Parameters
    ----------
    res : MetaAnalysis
        A dichotomous analysis (events swapped if the analysis swapped them).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="RR")
    >>> len(labbe(res).axes[0].collections[0].get_offsets())
    7
    """
    if res.settings.data_type is not DataType.DICHOTOMOUS:
        raise InputError(
            f"a L'Abbé plot needs dichotomous data; this analysis holds "
            f"{res.settings.data_type.value} data"
        )
    require_matplotlib()

    es = study_effects(res)
    assert es.cells is not None
    ok = es.estimable
    cells = es.cells.take(ok)
    risk_exp, risk_ctrl = cells.a / cells.n1, cells.c / cells.n2
    weight = np.array([s.weight for s in res.studies])[ok]

    fig = new_figure(figsize=(5.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    top = min(1.0, 1.1 * float(np.max(np.concatenate([risk_exp, risk_ctrl]), initial=0.0))) or 1.0
    colour = COLOURS[DataType.DICHOTOMOUS]
    ax.scatter(
        risk_ctrl,
        risk_exp,
        s=np.maximum(8.0 * weight, 6.0),
        facecolors=colour + "40",
        edgecolors=colour,
        linewidths=0.8,
        zorder=3,
        gid="studies",
    )
    ax.plot([0.0, top], [0.0, top], color="black", lw=0.8, gid="equality")
    if res.total.estimable:
        control = np.linspace(0.0, top, 201)
        theta = res.total.estimate
        if res.settings.measure == "RR":
            pooled = theta * control
        elif res.settings.measure == "RD":
            pooled = control + theta
        else:  # odds ratios, Peto's included
            pooled = theta * control / (1 - control + theta * control)
        inside = (pooled >= 0) & (pooled <= 1)
        ax.plot(
            control[inside],
            pooled[inside],
            color="black",
            linestyle="--",
            lw=0.8,
            gid="pooled",
            label=f"Pooled {label_lines(res.settings.label)[0]}: {theta:.2f}",
        )
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.set_xlim(0.0, top)
    ax.set_ylim(0.0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("Control group event risk")
    ax.set_ylabel("Experimental group event risk")
    return fig
