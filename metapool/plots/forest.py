"""RevMan-style forest plot.

The plot is a table: one row per line of RevMan's plot (studies, subgroup
headings, (sub)totals, the test lines under them), a column per field, and the
graph panel as the last column. :func:`_table` decides what every row says,
:func:`_layout` measures the text and places columns and rows in points, and
:func:`forest` draws. The three steps are the same for every data type; only
the data columns differ (:func:`_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from metapool.errors import InputError
from metapool.plots._scale import EffectAxis, effect_axis
from metapool.plots._style import (
    COLOURS,
    figure,
    font_family,
    label_lines,
    require_matplotlib,
    text_width,
)
from metapool.report import (
    CI_STYLES,
    Footnotes,
    data_cells,
    effect_text,
    heterogeneity_line,
    overall_effect_line,
    shown,
    subgroup_differences_line,
    subgroup_heading,
)
from metapool.vocabulary import DataType, Model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import MetaAnalysis, StudyResult, Subgroup

__all__ = ["forest"]

# Sizes in units of the font size, from RevMan Web's SVG: 14 px Arial on 20 px
# rows, columns about two characters apart, a 210 px graph panel.
_FONT = 9.0  # points
_ROW = 1.45
_GAP = 1.6
_PANEL = 16.0
_MARGIN = 1.4
_TITLE = 1.15  # title font, relative
_LABEL_GAP = 1.2  # between the line of no effect and the "Favours" labels
_BASELINE = 0.25  # text baseline below the row centre, in rows
_DIAMOND = 0.4  # half height of a diamond, in rows
# Square areas are proportional to weight, the heaviest study's side _SQUARE rows
# when it carries at least _FULL percent; with many light studies the scale stays
# that of a _FULL percent study, so that their squares are not blown up.
_SQUARE = 0.8
_FULL = 50.0
_MIN_SQUARE = 0.18  # smallest side, in rows, so that every square stays visible
_UNWEIGHTED = 0.35  # side of every square when no weights are shown (totals "none")

_SORTS: dict[str, Callable[[StudyResult], tuple[int, Any]]] = {
    "study": lambda s: (0, s.study.casefold()),
    "effect": lambda s: (0, s.estimate) if s.estimable else (1, 0.0),
    "weight": lambda s: (0, -s.weight) if s.estimable else (1, 0.0),
}


@attrs.frozen
class _Mark:
    """What the graph panel shows on a row, on the natural scale."""

    shape: str  # "square", "diamond" or "interval"
    estimate: float
    lower: float
    upper: float
    weight: float = math.nan


@attrs.frozen
class _Row:
    """One line of the plot: a label and one string per column.

    Headings and test lines (``span``) have a label only, which runs on over
    the empty columns to its right.
    """

    kind: str  # study, heading, subtotal, total, prediction, events, footer, footnote, blank
    cells: tuple[str, ...]
    bold: bool = False
    mark: _Mark | None = None

    @property
    def span(self) -> bool:
        return self.kind in ("heading", "footer", "footnote")


@attrs.frozen
class _Table:
    """The rows and the two header lines of a forest plot.

    ``groups`` are top-line headers over runs of columns ``(text, first, last)``;
    ``headers`` the bottom line, one per column (label, data, weight, effect).
    """

    rows: tuple[_Row, ...]
    groups: tuple[tuple[str, int, int], ...]
    headers: tuple[str, ...]
    effect: tuple[str, str]  # the effect column's (and the panel's) two header lines


@attrs.frozen
class _Layout:
    """Where everything goes: x in points from the left, y in rows from the top."""

    font: float
    row: float  # points per row
    left: tuple[float, ...]  # left edge of each column
    right: tuple[float, ...]  # right edge of each column
    panel: tuple[float, float]  # the graph's left and right edge
    width: float  # points
    height: float  # rows
    title: float  # y of the title
    header: float  # y of the first header line
    rule: float  # y of the line under the headers
    first: float  # y of the first row
    axis: float  # y of the effect axis


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

    Notes
    -----
    Text is set in Arial, or Liberation Sans (the same metrics) where Arial is
    not installed, as RevMan's plots are; without either a
    :class:`~metapool.MetapoolWarning` says so once. SVG files keep text as
    text, as RevMan Web's do.
    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR")
    >>> fig = res.forest(group_labels=("Aspirin", "Control"))
    >>> panel = fig.axes[1]
    >>> panel.get_xscale(), len([a for a in panel.lines if a.get_gid() == "square"])
    ('log', 7)
    >>> fig.savefig("forest.png", dpi=150)  # doctest: +SKIP
    """
    if isinstance(sort, str) and sort not in _SORTS:
        raise InputError(f"unknown sort {sort!r}; allowed: None, {', '.join(map(repr, _SORTS))}")
    if sort is not None and not isinstance(sort, str) and len(sort) != len(res.studies):
        raise InputError(f"sort has {len(sort)} keys; the analysis has {len(res.studies)} studies")
    if ci_style not in CI_STYLES:
        raise InputError(f"unknown ci_style {ci_style!r}; allowed: {', '.join(CI_STYLES)}")
    if scale is not None and not (isinstance(scale, (int, float)) and 1 < scale < math.inf):
        raise InputError(f"scale must be a number greater than 1, got {scale!r}")
    require_matplotlib()

    table = _table(res, sort, group_labels, ci_style)
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
    layout = _with_bias(_layout(table, axis, (left_label, right_label), title, _FONT), domains)
    if figsize is not None:
        natural = (layout.width / 72, layout.height * layout.row / 72)
        shrink = min(figsize[0] / natural[0], figsize[1] / natural[1])
        layout = _layout(table, axis, (left_label, right_label), title, _FONT * shrink)
        layout = _with_bias(layout, domains)
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
        _draw_bias(tab, table, layout, risk_of_bias)
    return fig


# -- what the rows say --------------------------------------------------------------------


def _columns(res: MetaAnalysis) -> tuple[tuple[str, ...], int]:
    """Data column headers, and how many of them belong to each arm (0: not per arm)."""
    data_type = res.settings.data_type
    if data_type is DataType.DICHOTOMOUS:
        return ("Events", "Total") * 2, 2
    if data_type is DataType.CONTINUOUS:
        return ("Mean", "SD", "Total") * 2, 3
    if data_type is DataType.O_MINUS_E:
        return ("O-E", "Variance"), 0
    name, _ = label_lines(res.settings.label)
    return (f"log[{name}]" if res.settings.ratio else name, "SE"), 0


def _table(
    res: MetaAnalysis,
    sort: str | Sequence[Any] | None,
    group_labels: tuple[str, str],
    ci_style: str,
) -> _Table:
    headers, per_arm = _columns(res)
    show = shown(res)
    weight_of = dict(zip(map(id, res.studies), show.weights, strict=True))
    n_data = len(headers)
    effect = label_lines(res.settings.label)
    random = res.settings.model is Model.RANDOM
    ci = f"({res.settings.ci_level * 100:g}% CI)"
    notes = Footnotes()

    def blank_data() -> list[str]:
        return [""] * n_data

    def arm_cells(header: str, values: Sequence[float | None]) -> list[str]:
        """Values under the columns called ``header``, one per arm."""
        cells = blank_data()
        where = [i for i, h in enumerate(headers) if h == header]
        for i, v in zip(where, values, strict=True):
            cells[i] = "" if v is None else f"{v:.0f}"
        return cells

    def effect_cell(estimate: float, lower: float, upper: float) -> str:
        return effect_text(estimate, lower, upper, ci_style)

    def study_row(s: StudyResult) -> _Row:
        w = weight_of[id(s)]
        mark = _Mark("square", s.estimate, s.ci_lower, s.ci_upper, w) if s.estimable else None
        weight = f"{w:.1f}%" if s.estimable and math.isfinite(w) else ""
        cell = effect_cell(s.estimate, s.ci_lower, s.ci_upper)
        return _Row("study", (notes.label(s), *data_cells(s), weight, cell), mark=mark)

    def footer(text: str) -> _Row:
        return _Row("footer", (text,))

    def total_block(part: Subgroup, kind: str, label: str, share: float) -> list[_Row]:
        t = part.total
        arms = part.arm_totals
        data = arm_cells("Total", (arms.total_exp, arms.total_ctrl)) if arms else blank_data()
        mark = _Mark("diamond", t.estimate, t.ci_lower, t.ci_upper) if t.estimable else None
        block = [
            _Row(
                kind,
                (label, *data, f"{share:.1f}%", effect_cell(t.estimate, t.ci_lower, t.ci_upper)),
                bold=True,
                mark=mark,
            )
        ]
        p = part.prediction
        if p is not None and math.isfinite(p.lower):
            block.append(
                _Row(
                    "prediction",
                    ("Prediction interval", *blank_data(), "", f"[{p.lower:.2f}, {p.upper:.2f}]"),
                    mark=_Mark("interval", math.nan, p.lower, p.upper),
                )
            )
        if arms is not None and arms.events_exp is not None:
            events = arm_cells("Events", (arms.events_exp, arms.events_ctrl))
            block.append(_Row("events", ("Total events:", *events, "", "")))
        block += [
            footer(heterogeneity_line(part.heterogeneity, random)),
            footer(overall_effect_line(t, "t" if res.settings.hksj else "Z")),
        ]
        return block

    if sort is None or isinstance(sort, str):
        by = _SORTS[sort] if sort else None
    else:  # one key per study; stable, so equal keys keep the order entered
        keys = dict(zip(map(id, res.studies), sort, strict=True))
        by = lambda s: keys[id(s)]  # noqa: E731

    def ordered(studies: Sequence[StudyResult]) -> list[StudyResult]:
        return sorted(studies, key=by) if by else list(studies)

    rows: list[_Row] = []
    blank = _Row("blank", ("",))
    if res.subgroups:
        for j, (name, sub) in enumerate(res.subgroups.items(), start=1):
            # rows show each study's share of the whole analysis, as RevMan's do
            # (of its subgroup when only subtotals are shown)
            members = [s for s in res.studies if s.subgroup == name]
            rows.append(_Row("heading", (subgroup_heading(res, j, name),), bold=True))
            rows += [study_row(s) for s in ordered(members)]
            if show.subtotals:
                share = math.fsum(weight_of[id(s)] for s in members if s.estimable)
                rows += total_block(sub, "subtotal", f"Subtotal {ci}", share)
            rows.append(blank)
    else:
        rows += [study_row(s) for s in ordered(res.studies)]
        rows.append(blank)
    if show.total:
        rows += total_block(res, "total", f"Total {ci}", 100.0 if res.estimable else 0.0)
    if res.settings.subgroup_test and (show.total or show.subtotals):
        # RevMan's plot has the line also without subgroups ("Not applicable")
        rows.append(footer(subgroup_differences_line(res.subgroup_differences)))
    while rows and rows[-1] is blank:
        rows.pop()
    rows = rows or [blank]
    if notes.lines():
        # listed under the effect axis and its labels, which end 3.9 rows below the last mark
        marks = [i for i, row in enumerate(rows) if row.mark is not None]
        last_mark = max(marks, default=len(rows) - 1)
        rows += [blank] * max(1, last_mark + 5 - len(rows))
        rows += [_Row("footnote", (text,)) for text in notes.lines()]

    groups: list[tuple[str, int, int]] = []
    if per_arm:
        groups += [(group_labels[0], 1, per_arm), (group_labels[1], per_arm + 1, 2 * per_arm)]
    groups.append((effect[0], n_data + 2, n_data + 2))
    return _Table(
        rows=tuple(rows),
        groups=tuple(groups),
        headers=("Study or Subgroup", *headers, "Weight", effect[1]),
        effect=effect,
    )


# -- where it goes ------------------------------------------------------------------------


def _layout(
    table: _Table,
    axis: EffectAxis,
    labels: tuple[str, str],
    title: str | None,
    font: float,
) -> _Layout:
    gap, margin = _GAP * font, _MARGIN * font
    n_cols = len(table.headers)
    widths = [text_width(h, font, bold=True) for h in table.headers]
    for row in table.rows:
        if not row.span:
            for c, cell in enumerate(row.cells):
                widths[c] = max(widths[c], text_width(cell, font, row.bold))
    for text, start, stop in table.groups:
        # a group header wider than its columns widens them evenly
        have = sum(widths[start : stop + 1]) + gap * (stop - start)
        extra = (text_width(text, font, bold=True) - have) / (stop - start + 1)
        for c in range(start, stop + 1):
            widths[c] += max(extra, 0.0)
    left, right = [margin], [margin + widths[0]]
    for c in range(1, n_cols):
        left.append(right[-1] + gap)
        right.append(left[-1] + widths[c])

    # The "Favours" labels and the end tick labels may stick out of the panel;
    # the panel starts far enough right that neither they nor any heading or
    # test line (which run on from the left) overlap.
    panel_width = _PANEL * font
    null = axis.null_fraction
    ticks = [text_width(f"{t:g}", font) / 2 for t in axis.ticks]
    out_left = max(
        0.0, text_width(labels[0], font) + _LABEL_GAP * font - null * panel_width, ticks[0]
    )
    out_right = max(
        0.0, text_width(labels[1], font) + _LABEL_GAP * font - (1 - null) * panel_width, ticks[-1]
    )
    # footnotes sit below the graph: they need width, not room left of the panel
    spans = [
        text_width(row.cells[0], font, row.bold)
        for row in table.rows
        if row.span and row.kind != "footnote"
    ]
    notes = [text_width(row.cells[0], font) for row in table.rows if row.kind == "footnote"]
    x0 = max(right[-1] + gap, margin + max(spans, default=0.0) + gap + out_left)
    x1 = x0 + panel_width
    header_width = max(text_width(t, font, bold=True) for t in table.effect)
    title_width = text_width(title, _TITLE * font, bold=True) if title else 0.0
    width = max(
        x1 + out_right,
        (x0 + x1) / 2 + header_width / 2,
        margin + title_width,
        margin + max(notes, default=0.0),
    )
    width += margin

    top = 1.0
    title_y = top
    header = top + (1.6 if title else 0.0)
    rule = header + 1.75
    first = rule + 1.0
    last_mark = max(
        (i for i, row in enumerate(table.rows) if row.mark is not None or row.kind == "total"),
        default=len(table.rows) - 1,
    )
    axis_y = first + last_mark + 1.7
    height = max(first + len(table.rows) - 0.5, axis_y + 2.2) + 1.0
    return _Layout(
        font=font,
        row=_ROW * font,
        left=tuple(left),
        right=tuple(right),
        panel=(x0, x1),
        width=width,
        height=height,
        title=title_y,
        header=header,
        rule=rule,
        first=first,
        axis=axis_y,
    )


_BIAS_COLUMN = 1.5  # width of a risk-of-bias column, in font sizes


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i - 25}"


def _bias_block(font: float, n: int) -> float:
    """Width of the risk-of-bias columns: a column per domain, at least their header's."""
    return max(_BIAS_COLUMN * font * n, text_width("Risk of Bias", font, bold=True))


def _with_bias(layout: _Layout, domains: Sequence[str]) -> _Layout:
    """Room for the risk-of-bias columns right of the graph and their legend below it."""
    if not domains:
        return layout
    font, margin = layout.font, _MARGIN * layout.font
    columns = _GAP * font + _bias_block(font, len(domains))
    legend = [text_width("Risk of bias legend", font, bold=True)]
    legend += [text_width(f"({_letter(i)}) {d}", font) for i, d in enumerate(domains)]
    width = max(layout.width + columns, 2 * margin + max(legend))
    return attrs.evolve(layout, width=width, height=layout.height + len(domains) + 1.5)


def _draw_bias(ax: Axes, table: _Table, layout: _Layout, rob: RiskOfBias) -> None:
    from metapool.plots.risk_of_bias import ROB_COLOURS, ROB_SYMBOLS

    font = layout.font
    step = _BIAS_COLUMN * font
    domains = rob.domains
    block = _bias_block(font, len(domains))
    left = layout.width - _MARGIN * font - block + (block - step * len(domains)) / 2
    centres = [left + step * (i + 0.5) for i in range(len(domains))]
    _text(
        ax,
        (centres[0] + centres[-1]) / 2,
        layout.header,
        "Risk of Bias",
        layout,
        ha="center",
        fontweight="bold",
        gid="header",
    )
    for i, x in enumerate(centres):
        _text(
            ax,
            x,
            layout.header + 1,
            _letter(i),
            layout,
            ha="center",
            fontweight="bold",
            gid="bias-letter",
        )
    judged = {(j.study, j.domain): j.judgement for j in rob.judgements}
    for r, row in enumerate(table.rows):
        if row.kind != "study":
            continue
        y = layout.first + r
        for x, domain in zip(centres, domains, strict=True):
            judgement = judged.get((row.cells[0], domain))
            if judgement is None:
                continue
            ax.plot(
                [x],
                [y],
                marker="o",
                markersize=1.1 * font,
                color=ROB_COLOURS[judgement],
                markeredgewidth=0,
                linestyle="none",
                gid=f"bias-{judgement}",
            )
            ax.text(
                x,
                y,
                ROB_SYMBOLS[judgement],
                ha="center",
                va="center_baseline",
                fontsize=0.9 * font,
                fontweight="bold",
                family=font_family(),
                color="black" if judgement == "unclear" else "white",
                gid="bias-symbol",
            )
    top = layout.height - len(domains) - 1.0
    _text(
        ax, layout.left[0], top, "Risk of bias legend", layout, fontweight="bold", gid="bias-legend"
    )
    for i, domain in enumerate(domains):
        _text(
            ax, layout.left[0], top + 1 + i, f"({_letter(i)}) {domain}", layout, gid="bias-legend"
        )


# -- drawing ------------------------------------------------------------------------------


def _text(ax: Axes, x: float, y: float, s: str, layout: _Layout, **kw: Any) -> None:
    """Text on the table axes at row ``y``, on the row's common baseline."""
    ax.text(
        x,
        y + _BASELINE,
        s,
        fontsize=kw.pop("fontsize", layout.font),
        family=font_family(),
        va="baseline",
        color="black",
        parse_math=False,
        **kw,
    )


def _draw_table(
    ax: Axes,
    table: _Table,
    layout: _Layout,
    title: str | None,
    labels: tuple[str, str],
    axis: EffectAxis,
) -> None:
    left, right = layout.left, layout.right
    last = len(table.headers) - 1
    if title:
        _text(
            ax,
            left[0],
            layout.title,
            title,
            layout,
            fontweight="bold",
            fontsize=_TITLE * layout.font,
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
        _text(ax, x, y, text, layout, ha="center", fontweight="bold", gid="header")
    _text(ax, left[0], bottom, table.headers[0], layout, fontweight="bold", gid="header")
    ax.plot([left[0], layout.width - left[0]], [layout.rule] * 2, color="black", lw=0.8)

    for i, row in enumerate(table.rows):
        y = layout.first + i
        weight = "bold" if row.bold else "normal"
        _text(ax, left[0], y, row.cells[0], layout, fontweight=weight, gid=f"{row.kind}:label")
        for c, cell in enumerate(row.cells[1:], start=1):
            if cell:
                column = "effect" if c == last else "weight" if c == last - 1 else "data"
                _text(
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
    gap = _LABEL_GAP * layout.font
    y = layout.axis + 1.6
    _text(ax, null - gap, y, labels[0], layout, ha="right", gid="left-label")
    _text(ax, null + gap, y, labels[1], layout, ha="left", gid="right-label")


def _draw_panel(ax: Axes, table: _Table, layout: _Layout, axis: EffectAxis, colour: str) -> None:
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


def _interval(
    ax: Axes, mark: _Mark, y: float, axis: EffectAxis, layout: _Layout, caps: bool
) -> None:
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
