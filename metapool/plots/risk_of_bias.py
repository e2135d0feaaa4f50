"""RevMan's risk-of-bias figures: the graph (percent per domain), the summary (traffic
lights), and the traffic-light columns right of a forest plot's graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from metapool.errors import InputError
from metapool.plots._layout import GAP, MARGIN, Layout, row_text
from metapool.plots._style import figure, font_family, require_matplotlib, text_width

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.table import Table

__all__ = [
    "ROB_COLOURS",
    "ROB_SYMBOLS",
    "draw_bias_columns",
    "risk_of_bias_graph",
    "risk_of_bias_summary",
    "with_bias_columns",
]

#: RevMan's traffic-light colours: green, yellow and red
ROB_COLOURS = {"low": "#00a651", "unclear": "#ffd200", "high": "#e2001a"}
#: the symbol in each light of the summary
ROB_SYMBOLS = {"low": "+", "unclear": "?", "high": "−"}
_LEGEND = {
    "low": "Low risk of bias",
    "unclear": "Unclear risk of bias",
    "high": "High risk of bias",
}
_FONT = 9.0


def _require(rob: RiskOfBias) -> None:
    require_matplotlib()
    if not rob.judgements:
        raise InputError("the risk-of-bias record holds no judgement to draw")


def risk_of_bias_graph(rob: RiskOfBias, *, bar_width: float = 4.5) -> Figure:
    """RevMan's "risk of bias graph": for each domain, the percent of studies judged
    at low (green), unclear (yellow) and high (red) risk, as stacked bars.

    Parameters
    ----------
    rob : RiskOfBias
    bar_width : float
        Length of the bars in inches; the figure grows with the domain names
        and their number.

    Examples
    --------
    >>> from metapool import RiskOfBias
    >>> judged = [("A", "Blinding", "low"), ("B", "Blinding", "high")]
    >>> bars = [p for p in RiskOfBias.from_records(judged).graph().axes[0].patches
    ...         if p.get_gid() == "high"]
    >>> [(float(b.get_x()), float(b.get_width())) for b in bars]
    [(50.0, 50.0)]
    """
    _require(rob)
    share = rob.percentages()
    domains = list(rob.domains)
    label = (max(text_width(d, _FONT) for d in domains) + 12) / 72  # inches
    row = 0.3  # inches per domain
    width, height = 0.1 + label + bar_width + 0.3, row * len(domains) + 0.9
    fig = figure(figsize=(width, height), facecolor="white")
    bottom = 0.6 / height  # room for the tick labels and the legend under them
    ax = fig.add_axes(
        ((0.1 + label) / width, bottom, bar_width / width, row * len(domains) / height)
    )
    for i, domain in enumerate(domains):
        start = 0.0
        for judgement in ("low", "unclear", "high"):
            value = share[domain][judgement]
            if value > 0:
                ax.barh(
                    i,
                    value,
                    left=start,
                    height=0.7,
                    color=ROB_COLOURS[judgement],
                    edgecolor="black",
                    linewidth=0.5,
                    gid=judgement,
                )
            start += value
    ax.set_xlim(0, 100)
    ax.set_ylim(len(domains) - 0.5, -0.5)
    ax.set_yticks(range(len(domains)), domains, fontsize=_FONT, family=font_family())
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"], fontsize=_FONT)
    ax.tick_params(axis="y", length=0)
    for edge in ("top", "right", "left"):
        ax.spines[edge].set_visible(False)
    _legend(fig, 0.0)
    return fig


def _legend(fig: Figure, y: float) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=ROB_COLOURS[k], edgecolor="black", linewidth=0.5, label=_LEGEND[k])
        for k in ("low", "unclear", "high")
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, y),
        ncols=3,
        frameon=False,
        fontsize=_FONT,
        prop={"family": font_family(), "size": _FONT},
    )


def risk_of_bias_summary(rob: RiskOfBias) -> Figure:
    """RevMan's "risk of bias summary": one traffic light per study (row) and
    domain (column), with ``+`` (low), ``?`` (unclear) and ``−`` (high); blank
    where a study was not judged in a domain.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from metapool.io.risk_of_bias import RiskOfBias
    >>> rob = RiskOfBias.from_records([("A", "Blinding", "low"), ("B", "Blinding", "high")])
    >>> ax = rob.summary().axes[0]
    >>> [t.get_text() for t in ax.texts if t.get_gid() == "judgement"]
    ['+', '−']
    """
    _require(rob)
    from matplotlib.patches import Circle, Rectangle

    studies, domains = list(rob.studies), list(rob.domains)
    cell = 0.3  # inches per light
    label_width = (max(text_width(s, _FONT) for s in studies) + 10) / 72
    header = (max(text_width(d, _FONT) for d in domains) + 10) / 72
    width = label_width + cell * len(domains) + 0.2
    height = header + cell * len(studies) + 0.2
    fig = figure(figsize=(width, height), facecolor="white")
    ax = fig.add_axes(
        (
            label_width / width,
            0.1 / height,
            cell * len(domains) / width,
            cell * len(studies) / height,
        )
    )
    ax.set_xlim(0, len(domains))
    ax.set_ylim(len(studies), 0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    judged = {(j.study, j.domain): j.judgement for j in rob.judgements}
    family = font_family()
    for r, study in enumerate(studies):
        ax.text(-0.15, r + 0.5, study, ha="right", va="center", fontsize=_FONT, family=family)
        for c, domain in enumerate(domains):
            ax.add_patch(
                Rectangle((c, r), 1, 1, facecolor="none", edgecolor="#999999", linewidth=0.4)
            )
            judgement = judged.get((study, domain))
            if judgement is None:
                continue
            ax.add_patch(
                Circle((c + 0.5, r + 0.5), 0.38, color=ROB_COLOURS[judgement], gid=judgement)
            )
            ax.text(
                c + 0.5,
                r + 0.5,
                ROB_SYMBOLS[judgement],
                ha="center",
                va="center_baseline",
                fontsize=_FONT * 1.2,
                fontweight="bold",
                color="black" if judgement == "unclear" else "white",
                family=family,
                gid="judgement",
            )
    for c, domain in enumerate(domains):
        ax.text(
            c + 0.5,
            -0.15,
            domain,
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=_FONT,
            family=family,
            gid="domain",
        )
    return fig


# -- the columns of a forest plot ----------------------------------------------------------


_BIAS_COLUMN = 1.5  # width of a risk-of-bias column, in font sizes


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i - 25}"


def _bias_block(font: float, n: int) -> float:
    """Width of the risk-of-bias columns: a column per domain, at least their header's."""
    return max(_BIAS_COLUMN * font * n, text_width("Risk of Bias", font, bold=True))


def with_bias_columns(layout: Layout, domains: Sequence[str]) -> Layout:
    """Room for the risk-of-bias columns right of the graph and their legend below it."""
    if not domains:
        return layout
    font, margin = layout.font, MARGIN * layout.font
    columns = GAP * font + _bias_block(font, len(domains))
    legend = [text_width("Risk of bias legend", font, bold=True)]
    legend += [text_width(f"({_letter(i)}) {d}", font) for i, d in enumerate(domains)]
    width = max(layout.width + columns, 2 * margin + max(legend))
    return attrs.evolve(layout, width=width, height=layout.height + len(domains) + 1.5)


def draw_bias_columns(ax: Axes, table: Table, layout: Layout, rob: RiskOfBias) -> None:
    """A forest plot's risk-of-bias columns: lettered headers, a light per study, the legend."""
    font = layout.font
    step = _BIAS_COLUMN * font
    domains = rob.domains
    block = _bias_block(font, len(domains))
    left = layout.width - MARGIN * font - block + (block - step * len(domains)) / 2
    centres = [left + step * (i + 0.5) for i in range(len(domains))]
    row_text(
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
        row_text(
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
            judgement = judged.get((row.study, domain))
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
    row_text(
        ax, layout.left[0], top, "Risk of bias legend", layout, fontweight="bold", gid="bias-legend"
    )
    for i, domain in enumerate(domains):
        row_text(
            ax, layout.left[0], top + 1 + i, f"({_letter(i)}) {domain}", layout, gid="bias-legend"
        )
