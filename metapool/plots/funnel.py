"""Funnel plot: study effects against their standard errors, with the pseudo-95% funnel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metapool.plots._scale import effect_axis
from metapool.plots._style import COLOURS, figure, require_matplotlib
from metapool.pooling.engine import pool_segments, z_critical
from metapool.pooling.segments import Segments

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.diagnostics.trimfill import TrimFill
    from metapool.results import MetaAnalysis

__all__ = ["funnel"]


def funnel(
    res: MetaAnalysis, *, trimfill: TrimFill | None = None, ax: Axes | None = None
) -> Figure:
    """Draw a funnel plot as RevMan does.

    Every estimable study's effect (x; a log axis for ratio measures) against
    its standard error (y, 0 at the top), the vertical line at the
    fixed-effect inverse-variance estimate and the dashed pseudo-95%
    confidence limits around it.

    Parameters
    ----------
    res : MetaAnalysis
    trimfill : TrimFill, optional
        The result of ``res.trimfill()``: its filled studies are added as open
        circles, and the funnel is centred on the fixed-effect estimate of the
        observed and filled studies together.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The studies are the scatter ``gid="studies"``, the filled ones ``"filled"``.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR")
    >>> ax = res.funnel().axes[0]
    >>> ax.get_xscale(), bool(ax.yaxis_inverted()), len(ax.collections[0].get_offsets())
    ('log', True, 7)
    """
    require_matplotlib()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    es = res.effects
    ok = es.estimable
    yi, se = es.yi[ok], es.se[ok]
    filled_y = trimfill.filled_yi if trimfill is not None else np.empty(0)
    filled_se = np.sqrt(trimfill.filled_vi) if trimfill is not None else np.empty(0)
    every_y = np.concatenate([yi, filled_y])
    every_v = np.concatenate([se, filled_se]) ** 2
    centre = float(
        pool_segments(every_y, every_v, Segments.single(every_y.size), random=False).estimate[0]
    )

    ratio = res.settings.ratio
    natural = np.exp if ratio else np.asarray
    top = 1.05 * float(np.max(np.concatenate([se, filled_se]), initial=0.0)) or 1.0
    half = z_critical(0.95) * top
    edges = natural(np.array([centre - half, centre, centre + half]))
    axis = effect_axis(core=[*natural(every_y), *edges], spread=(), ratio=ratio)
    if ax is None:
        fig = figure(figsize=(5.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
    ax.set_xscale(axis.scale)
    ax.set_xlim(axis.lower, axis.upper)
    ax.set_ylim(top, 0.0)
    ax.xaxis.set_major_locator(FixedLocator(list(axis.ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())

    ax.plot(edges[[0, 1, 2]], [top, 0.0, top], color="black", linestyle="--", lw=0.8, gid="funnel")
    ax.plot([edges[1]] * 2, [0.0, top], color="black", linestyle="--", lw=0.8, gid="centre")
    colour = COLOURS[res.settings.data_type]
    ax.scatter(natural(yi), se, s=22, color=colour, zorder=3, gid="studies", label="Studies")
    if trimfill is not None:
        ax.scatter(
            natural(filled_y),
            filled_se,
            s=22,
            facecolors="white",
            edgecolors=colour,
            zorder=3,
            gid="filled",
            label=f"Filled by trim-and-fill ({trimfill.k0})",
        )
        ax.legend(loc="upper right", fontsize=8)  # the corners by the funnel tip are empty
    name = res.settings.measure
    ax.set_xlabel(name)
    ax.set_ylabel(f"SE(log[{name}])" if ratio else f"SE({name})")
    return ax.figure.figure  # the root Figure, also when ``ax`` is in a SubFigure
