"""The GOSH plot (Olkin et al. 2012), as metafor's ``plot.gosh.rma``.

I² of every subset against its pooled estimate, with the distribution of
each in the margins: a histogram and a Gaussian kernel density (Scott's
bandwidth, as R's ``density`` with ``bw.nrd0`` in spirit). The density is
computed on a fine histogram convolved with the kernel, so a million subsets
cost no more than a few thousand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metapool._typing import FloatArray
from metapool.errors import InputError
from metapool.plots._style import COLOURS, figure, require_matplotlib

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metapool.diagnostics.gosh import Gosh

__all__ = ["binned_density", "gosh_plot"]


def binned_density(
    x: FloatArray, lo: float, hi: float, points: int = 512
) -> tuple[FloatArray, FloatArray]:
    """A Gaussian kernel density estimate of ``x`` on ``points`` points from ``lo`` to ``hi``.

    The bandwidth is Silverman's rule (R's ``bw.nrd0``); ``x`` is binned on the
    grid first, so the cost does not grow with its size beyond one pass.

    Examples
    --------
    >>> grid, dens = binned_density(np.random.default_rng(0).normal(size=10_000), -5, 5)
    >>> round(float(dens.sum() * (grid[1] - grid[0])), 3)
    1.0
    """
    x = x[np.isfinite(x)]
    grid = np.linspace(lo, hi, points)
    if x.size < 2 or hi <= lo:
        return grid, np.zeros(points)
    step = grid[1] - grid[0]
    spread = min(float(np.std(x, ddof=1)), float(np.subtract(*np.percentile(x, [75, 25]))) / 1.34)
    bw = 0.9 * (spread or float(np.std(x, ddof=1)) or 1.0) * x.size ** (-0.2)
    counts, _ = np.histogram(x, bins=points, range=(lo - step / 2, hi + step / 2))
    half = int(np.ceil(4 * bw / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / bw) ** 2)
    kernel /= kernel.sum() * step
    dens = np.convolve(counts, kernel, mode="same" if half < points else "full")
    if dens.size != points:  # a kernel wider than the grid: keep the middle
        start = (dens.size - points) // 2
        dens = dens[start : start + points]
    return grid, dens / x.size


def gosh_plot(g: Gosh, *, alpha: float | None = None, bins: int = 40, size: float = 4.0) -> Figure:
    """Draw the GOSH plot: I² against the pooled estimate of every subset.

    Parameters
    ----------
    g : Gosh
        From :meth:`MetaAnalysis.gosh <metapool.MetaAnalysis.gosh>`.
    alpha : float, optional
        Opacity of the points; by default lower the more subsets there are.
    bins : int
        Histogram bins of the margins.
    size : float, optional
        Marker area of the points (points²); by default smaller the more subsets there are.

    Returns
    -------
    matplotlib.figure.Figure
        Axes 0 is the scatter (points with ``gid="subsets"``), axes 1 the
        estimate's margin above it, axes 2 the I² margin to its right.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV")
    >>> fig = res.gosh().plot()
    >>> len(fig.axes[0].collections[0].get_offsets())
    120
    """
    require_matplotlib()
    multi = g.k >= 2  # I² exists only for two studies or more
    if not multi.any():
        raise InputError("a GOSH plot needs subsets of at least 2 studies (I² of one is undefined)")
    ratio = g.settings.ratio
    x = np.exp(g.estimate[multi]) if ratio else g.estimate[multi]
    y = g.i2[multi]
    colour = COLOURS[g.settings.data_type]
    if alpha is None:
        alpha = float(np.clip(30 / np.sqrt(x.size), 0.05, 0.9))
    if size is None:
        size = 12.0 if x.size < 1000 else 4.0

    fig = figure(figsize=(6.0, 5.5))
    main = fig.add_axes((0.12, 0.1, 0.62, 0.62))
    top = fig.add_axes((0.12, 0.74, 0.62, 0.2), sharex=main)
    right = fig.add_axes((0.76, 0.1, 0.2, 0.62), sharey=main)
    main.scatter(x, y, s=size, color=colour, alpha=alpha, linewidths=0, gid="subsets")
    if ratio:  # plain numbers on the log axis, as a forest plot's
        from matplotlib.ticker import FuncFormatter

        main.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:.3g}")
        main.xaxis.set_major_formatter(plain)
        main.xaxis.set_minor_formatter(plain)
    # margins on the plotted scale: the log scale's density is the estimate's own
    shown = np.log(x) if ratio else x
    lo_x, hi_x = _limits(shown)
    lo_y, hi_y = _limits(y)
    edges = np.linspace(lo_x, hi_x, bins + 1)
    top.hist(
        x,
        bins=(np.exp(edges) if ratio else edges).tolist(),
        color=colour,
        alpha=0.35,
        weights=_per_unit(shown, edges),
    )
    grid, dens = binned_density(shown, lo_x, hi_x)
    top.plot(np.exp(grid) if ratio else grid, dens, color="black", lw=1, gid="estimate density")
    edges_y = np.linspace(lo_y, hi_y, bins + 1)
    right.hist(
        y,
        bins=edges_y.tolist(),
        orientation="horizontal",
        color=colour,
        alpha=0.35,
        weights=_per_unit(y, edges_y),
    )
    grid_y, dens_y = binned_density(y, lo_y, hi_y)
    right.plot(dens_y, grid_y, color="black", lw=1, gid="I2 density")
    main.set_xlim(np.exp(lo_x) if ratio else lo_x, np.exp(hi_x) if ratio else hi_x)
    main.set_ylim(lo_y, hi_y)
    from matplotlib.ticker import MaxNLocator

    # density axes: few ticks, none at 0 where the margins meet the scatter's axes
    top.yaxis.set_major_locator(MaxNLocator(3, prune="lower"))
    right.xaxis.set_major_locator(MaxNLocator(3, prune="lower"))
    for ax in (top, right):
        ax.tick_params(which="both", labelbottom=ax is right, labelleft=ax is top, labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    top.set_ylabel("Density", fontsize=8)
    right.set_xlabel("Density", fontsize=8)
    name = g.settings.measure_name
    main.set_xlabel(f"{name} (log scale)" if ratio else name)
    main.set_ylabel("I² (%)")
    sample = "" if g.exact else ", a random sample"
    top.set_title(
        f"GOSH plot: {x.size:,} subsets of 2 to {len(g.studies)} studies{sample}", fontsize=9
    )
    return fig


def _per_unit(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Histogram weights that make bar heights densities on the plotted scale."""
    return np.full(values.size, 1.0 / (values.size * (edges[1] - edges[0])))


def _limits(values: FloatArray) -> tuple[float, float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.04 * (hi - lo) or 0.05 * max(abs(hi), 1.0)
    return lo - pad, hi + pad
