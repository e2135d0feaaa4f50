"""Where the forest plot's text goes: columns and rows measured in points.

Sizes are in units of the font size, from RevMan Web's SVG: 14 px Arial on
20 px rows, columns about two characters apart, a 210 px graph panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from metapool.plots._scale import EffectAxis
from metapool.plots._style import font_family, text_width

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from metapool.table import Table

__all__ = [
    "BASELINE",
    "FONT",
    "GAP",
    "LABEL_GAP",
    "MARGIN",
    "TITLE",
    "Layout",
    "layout_table",
    "row_text",
]

FONT = 9.0  # points
ROW = 1.45
GAP = 1.6
PANEL = 16.0
MARGIN = 1.4
TITLE = 1.15  # title font, relative
LABEL_GAP = 1.2  # between the line of no effect and the "Favours" labels
BASELINE = 0.25  # text baseline below the row centre, in rows


@attrs.frozen
class Layout:
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


def layout_table(
    table: Table,
    axis: EffectAxis,
    labels: tuple[str, str],
    title: str | None,
    font: float,
) -> Layout:
    gap, margin = GAP * font, MARGIN * font
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
    panel_width = PANEL * font
    null = axis.null_fraction
    ticks = [text_width(f"{t:g}", font) / 2 for t in axis.ticks]
    out_left = max(
        0.0, text_width(labels[0], font) + LABEL_GAP * font - null * panel_width, ticks[0]
    )
    out_right = max(
        0.0, text_width(labels[1], font) + LABEL_GAP * font - (1 - null) * panel_width, ticks[-1]
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
    title_width = text_width(title, TITLE * font, bold=True) if title else 0.0
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
    return Layout(
        font=font,
        row=ROW * font,
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


def row_text(ax: Axes, x: float, y: float, s: str, layout: Layout, **kw: Any) -> None:
    """Text on the table axes at row ``y``, on the row's common baseline."""
    ax.text(
        x,
        y + BASELINE,
        s,
        fontsize=kw.pop("fontsize", layout.font),
        family=font_family(),
        va="baseline",
        color="black",
        parse_math=False,
        **kw,
    )
