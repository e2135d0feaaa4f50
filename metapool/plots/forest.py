"""RevMan-style forest plot.

The plot is a table: one row per line of RevMan's plot (studies, subgroup
headings, (sub)totals, the test lines under them), a column per field, and the
graph panel as the last column. :func:`metapool.table.revman_table` decides
what every row says (the printed table says the same),
:func:`metapool.plots._layout.layout_table` places columns and rows in points,
and :func:`forest` draws. The three steps are the same for every data type;
only the data columns differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import attrs

from metapool.errors import InputError
from metapool.plots._layout import (
    FONT,
    LABEL_GAP,
    TITLE,
    Layout,
    layout_table,
    row_text,
)
from metapool.plots._scale import EffectAxis, effect_axis
from metapool.plots._style import COLOURS, figure, font_family, require_matplotlib
from metapool.plots.risk_of_bias import draw_bias_columns, with_bias_columns
from metapool.table import Mark, Row, Table, revman_table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import MetaAnalysis

__all__ = ["ForestOptions", "forest"]

_DIAMOND = 0.4  # half height of a diamond, in rows
# Square areas are proportional to weight, the heaviest study's side _SQUARE rows
# when it carries at least _FULL percent; with many light studies the scale stays
# that of a _FULL percent study, so that their squares are not blown up.
_SQUARE = 0.8
_FULL = 50.0
_MIN_SQUARE = 0.18  # smallest side, in rows, so that every square stays visible
_UNWEIGHTED = 0.35  # side of every square when no weights are shown (totals "none")


class ForestOptions(TypedDict, total=False):
    """The keyword options of :func:`forest`, for :meth:`MetaAnalysis.forest` to pass on."""

    left_label: str
    right_label: str
    xlim: tuple[float, float] | None
    title: str | None
    sort: str | Sequence[Any] | None
    figsize: tuple[float, float] | None
    group_labels: tuple[str, str]
    scale: float | None
    ci_style: str
    risk_of_bias: RiskOfBias | None


def forest(
    res: MetaAnalysis,
    *,
    left_label: str = "Favours experimental",
    right_label: str = "Favours control",
    xlim: tuple[float, float] | None = None,
    title: str | None = None,
    sort: str | Sequence[Any] | None = None,
    figsize: tuple[float, float] | None = None,
    group_labels: tuple[str, str] = ("Experimental", "Control"),
    scale: float | None = None,
    ci_style: str = "revman5",
    risk_of_bias: RiskOfBias | None = None,
) -> Figure:
    """Draw a forest plot laid out as RevMan's.

    Study column, the data of the data type (events and totals, or means, SDs
    and totals per arm; O-E and variance; estimate and SE), weight, effect
    and confidence interval, and the graph: squares with area proportional to
    the weight, confidence intervals (arrows where they leave the axis),
    diamonds for the total and subtotals, prediction intervals when computed,
    and under every (sub)total RevMan's heterogeneity and overall-effect lines.
    The analysis' display options decide which pooled rows appear
    (``analyse(..., totals=..., subgroup_test=...)``) and how subgroup headings
    are numbered (``number=``). :meth:`metapool.io.Outcome.forest` draws an
    outcome read from a RevMan file with the review's own choices.

    Parameters
    ----------
    res : MetaAnalysis
        The result of :func:`metapool.analyse`.
    left_label, right_label : str
        Texts under the axis, left and right of the line of no effect.
    xlim : (float, float), optional
        Axis limits on the natural scale (e.g. ``(0.1, 10)`` for a ratio).
        By default symmetric about the line of no effect and wide enough for
        every estimate.
    title : str, optional
        A title above the table.
    sort : {None, "study", "effect", "weight"} or sequence
        Study order within each subgroup: as entered (default), by name, by
        effect, or by decreasing weight, non-estimable studies last; or one
        sort key per study of ``res.studies`` (e.g. RevMan's user-defined order).
    figsize : (float, float), optional
        Figure size in inches; the text is scaled to fit. By default the size
        follows the content, so that the height grows with the number of rows.
    group_labels : (str, str)
        Headers of the experimental and control arms' columns.
    scale : float, optional
        RevMan's scale: the axis runs from ``1/scale`` to ``scale`` for ratios,
        ``-scale`` to ``scale`` for differences (``xlim`` overrides it).
    ci_style : {"revman5", "web"}
        Confidence intervals written as RevMan 5 does (``0.72 [0.49, 1.06]``) or
        as RevMan Web does (``0.72 [0.49 , 1.06]``).
    risk_of_bias : RiskOfBias, optional
        Judgements to show right of the graph as RevMan 5.4 does: a column
        per domain lettered A, B, ..., a traffic light per study, and the
        letters' legend under the plot.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Text is set in Arial, or Liberation Sans (the same metrics) where Arial is
    not installed, as RevMan's plots are; without either a
    :class:`~metapool.MetapoolWarning` says so once. SVG files keep text as
    text, as RevMan Web's do. The figure has its own canvas: it draws and
    saves under any matplotlib backend.

    Examples
    --------
    >>> from metapool import analyse, examples
    >>> fig = analyse(examples.aspirin(), measure="OR").forest(group_labels=("Aspirin", "Control"))
    >>> table, panel = fig.axes
    >>> panel.get_xscale(), len([a for a in panel.lines if a.get_gid() == "square"])
    ('log', 7)
    >>> fig.savefig("forest.png", dpi=150)  # doctest: +SKIP
    """
    table = _plot_rows(revman_table(res, sort=sort, ci_style=ci_style, group_labels=group_labels))
    if scale is not None and not (isinstance(scale, (int, float)) and 1 < scale < math.inf):
        raise InputError(f"scale must be a number greater than 1, got {scale!r}")
    require_matplotlib()
    marks = [row.mark for row in table.rows if row.mark is not None]
    axis = effect_axis(
        core=[
            x for m in marks for x in ((m.estimate,) if m.shape == "square" else (m.lower, m.upper))
        ],
        spread=[x for m in marks for x in (m.lower, m.upper)],
        ratio=res.settings.ratio,
        limits=xlim,
        scale=scale,
    )
    domains = risk_of_bias.domains if risk_of_bias is not None else ()
    layout = with_bias_columns(
        layout_table(table, axis, (left_label, right_label), title, FONT), domains
    )
    if figsize is not None:
        natural = (layout.width / 72, layout.height * layout.row / 72)
        shrink = min(figsize[0] / natural[0], figsize[1] / natural[1])
        layout = layout_table(table, axis, (left_label, right_label), title, FONT * shrink)
        layout = with_bias_columns(layout, domains)
    size = figsize or (layout.width / 72, layout.height * layout.row / 72)
    fig = figure(figsize=size, facecolor="white", layout="none")
    width_pt, height_rows = size[0] * 72, size[1] * 72 / layout.row
    tab = fig.add_axes((0.0, 0.0, 1.0, 1.0), gid="forest-table")
    tab.set_xlim(0, width_pt)
    tab.set_ylim(height_rows, 0)
    tab.set_axis_off()
    panel = fig.add_axes(
        (
            layout.panel[0] / width_pt,
            1 - layout.axis / height_rows,
            (layout.panel[1] - layout.panel[0]) / width_pt,
            (layout.axis - layout.rule) / height_rows,
        ),
        gid="forest-panel",
    )
    _draw_table(tab, table, layout, title, (left_label, right_label), axis)
    _draw_panel(panel, table, layout, axis, COLOURS[res.settings.data_type])
    if risk_of_bias is not None:
        draw_bias_columns(tab, table, layout, risk_of_bias)
    return fig


def _plot_rows(table: Table) -> Table:
    """``table`` with RevMan's plot's own touches: "Total events:", and the footnotes
    listed under the effect axis and its labels, which end 3.9 rows below the last mark."""
    rows = [
        attrs.evolve(row, cells=(f"{row.cells[0]}:", *row.cells[1:]))
        if row.kind == "events"
        else row
        for row in table.rows
    ] or [Row("blank", ("",))]
    if table.footnotes:
        marks = [i for i, row in enumerate(rows) if row.mark is not None]
        last_mark = max(marks, default=len(rows) - 1)
        rows += [Row("blank", ("",))] * max(1, last_mark + 5 - len(rows))
        rows += [Row("footnote", (text,)) for text in table.footnotes]
    return attrs.evolve(table, rows=tuple(rows))


# -- drawing ------------------------------------------------------------------------------


def _draw_table(
    ax: Axes,
    table: Table,
    layout: Layout,
    title: str | None,
    labels: tuple[str, str],
    axis: EffectAxis,
) -> None:
    left, right = layout.left, layout.right
    last = len(table.headers) - 1
    if title:
        row_text(
            ax,
            left[0],
            layout.title,
            title,
            layout,
            fontweight="bold",
            fontsize=TITLE * layout.font,
            gid="title",
        )
    # bold header lines: arm groups and the effect name on top, column names under
    # them, the effect's two lines again over the graph
    panel_mid = sum(layout.panel) / 2
    top, bottom = layout.header, layout.header + 1
    headers = [((left[a] + right[b]) / 2, top, text) for text, a, b in table.groups]
    headers += [((left[c] + right[c]) / 2, bottom, h) for c, h in enumerate(table.headers) if c]
    headers += [(panel_mid, top, table.effect[0]), (panel_mid, bottom, table.effect[1])]
    for x, y, text in headers:
        row_text(ax, x, y, text, layout, ha="center", fontweight="bold", gid="header")
    row_text(ax, left[0], bottom, table.headers[0], layout, fontweight="bold", gid="header")
    ax.plot([left[0], layout.width - left[0]], [layout.rule] * 2, color="black", lw=0.8)

    for i, row in enumerate(table.rows):
        y = layout.first + i
        weight = "bold" if row.bold else "normal"
        row_text(ax, left[0], y, row.cells[0], layout, fontweight=weight, gid=f"{row.kind}:label")
        for c, cell in enumerate(row.cells[1:], start=1):
            if cell:
                column = "effect" if c == last else "weight" if c == last - 1 else "data"
                row_text(
                    ax,
                    right[c],
                    y,
                    cell,
                    layout,
                    ha="right",
                    fontweight=weight,
                    gid=f"{row.kind}:{column}",
                )

    # the "Favours" labels sit under the tick labels, either side of the line of no effect
    x0, x1 = layout.panel
    null = x0 + (x1 - x0) * axis.null_fraction
    gap = LABEL_GAP * layout.font
    y = layout.axis + 1.6
    row_text(ax, null - gap, y, labels[0], layout, ha="right", gid="left-label")
    row_text(ax, null + gap, y, labels[1], layout, ha="left", gid="right-label")


def _draw_panel(ax: Axes, table: Table, layout: Layout, axis: EffectAxis, colour: str) -> None:
    from matplotlib.patches import Polygon
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale(axis.scale)
    ax.set_xlim(axis.lower, axis.upper)
    ax.set_ylim(layout.axis, layout.rule)
    ax.patch.set_visible(False)
    for edge in ("top", "left", "right"):
        ax.spines[edge].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.xaxis.set_major_locator(FixedLocator(list(axis.ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(
        axis="x",
        direction="out",
        length=0.45 * layout.font,
        width=0.8,
        labelsize=layout.font,
        pad=0.2 * layout.font,
    )
    for label in ax.get_xticklabels():
        label.set_fontfamily(font_family())
    ax.set_yticks([])
    if axis.lower < axis.null < axis.upper:
        ax.axvline(axis.null, color="black", lw=0.8, gid="no-effect", zorder=1)

    full = max(
        [_FULL]
        + [
            row.mark.weight
            for row in table.rows
            if row.kind == "study" and row.mark and math.isfinite(row.mark.weight)
        ]
    )
    for i, row in enumerate(table.rows):
        mark = row.mark
        if mark is None:
            continue
        y = layout.first + i
        if mark.shape == "diamond":
            ax.add_patch(
                Polygon(
                    [
                        (mark.lower, y),
                        (mark.estimate, y - _DIAMOND),
                        (mark.upper, y),
                        (mark.estimate, y + _DIAMOND),
                    ],
                    closed=True,
                    facecolor="black",
                    edgecolor="black",
                    lw=0.5,
                    gid="diamond",
                )
            )
            continue
        caps = mark.shape == "interval"
        _interval(ax, mark, y, axis, layout, caps)
        if mark.shape == "square":
            side = (
                max(_SQUARE * math.sqrt(mark.weight / full), _MIN_SQUARE)
                if math.isfinite(mark.weight)
                else _UNWEIGHTED
            ) * layout.row
            ax.plot(
                [mark.estimate],
                [y],
                marker="s",
                markersize=side,
                color=colour,
                markeredgewidth=0,
                linestyle="none",
                gid="square",
                zorder=3,
            )


# Arrow heads with their tip at the marker's origin, so that they end at the axis limit.
_ARROWS = {
    "<": [(0.0, 0.0), (1.0, 0.45), (1.0, -0.45), (0.0, 0.0)],
    ">": [(0.0, 0.0), (-1.0, 0.45), (-1.0, -0.45), (0.0, 0.0)],
}


def _interval(ax: Axes, mark: Mark, y: float, axis: EffectAxis, layout: Layout, caps: bool) -> None:
    """A confidence or prediction interval (with end caps), arrow heads where the axis cuts it."""
    ax.plot(
        [axis.clip(mark.lower), axis.clip(mark.upper)],
        [y, y],
        color="black",
        lw=0.8,
        gid="prediction" if caps else "ci",
        zorder=2,
    )
    for value, limit, direction in ((mark.lower, axis.lower, "<"), (mark.upper, axis.upper, ">")):
        if (value < limit) if direction == "<" else (value > limit):
            ax.plot(
                [limit],
                [y],
                marker=_ARROWS[direction],
                markersize=0.8 * layout.row,
                color="black",
                markeredgewidth=0,
                linestyle="none",
                clip_on=False,
                gid="arrow",
                zorder=2,
            )
        elif caps:
            ax.plot(
                [value],
                [y],
                marker="|",
                markersize=0.5 * layout.row,
                color="black",
                markeredgewidth=0.8,
                linestyle="none",
                gid="cap",
                zorder=2,
            )
