"""Plain-text RevMan tables: what a reviewer reads under a forest plot.

The table itself (rows, columns, shares and line texts) is
:func:`metapool.table.revman_table`'s, the one the forest plot draws; this
module writes it out through :func:`metapool.io.tables.render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metapool.io.tables import Row, render
from metapool.table import (
    CI_STYLES,
    Footnotes,
    Shown,
    Table,
    count_text,
    data_cells,
    effect_text,
    format_p,
    heterogeneity_line,
    overall_effect_line,
    revman_table,
    shown,
    subgroup_differences_line,
    subgroup_heading,
)

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis

__all__ = [
    "CI_STYLES",
    "Footnotes",
    "Shown",
    "analysis_table",
    "count_text",
    "data_cells",
    "effect_text",
    "format_analysis",
    "format_p",
    "heterogeneity_line",
    "overall_effect_line",
    "printed_rows",
    "shown",
    "subgroup_differences_line",
    "subgroup_heading",
]


def format_analysis(res: MetaAnalysis) -> str:
    """The whole RevMan table of an analysis, subgroups included, as its display
    options show it (:func:`shown`)."""
    return render(*analysis_table(res))


def analysis_table(res: MetaAnalysis) -> tuple[list[str], list[Row]]:
    """The headers and rows of :func:`format_analysis` (a str: a line across the table),
    footnotes last."""
    table = revman_table(res)
    return list(table.printed), printed_rows(table)


def printed_rows(table: Table) -> list[Row]:
    """``table``'s rows as :func:`metapool.io.tables.render` takes them: headings,
    test lines and the prediction interval as lines across the table, then the footnotes.

    Examples
    --------
    >>> import metapool
    >>> from metapool.table import revman_table
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR")
    >>> printed_rows(revman_table(res))[-2]
    'Heterogeneity: Chi² = 9.95, df = 6 (P = 0.13); I² = 40%'
    """
    rows: list[Row] = []
    prediction: list[str] = []  # the printed table has it under the block's two test lines
    footers = 0
    for row in table.rows:
        if not row.printed:
            continue
        if row.kind == "prediction":
            prediction, footers = [f"{row.cells[0]}: {row.cells[-1]}"], 0
            continue
        rows.append(row.cells[0] if row.span or row.kind == "blank" else list(row.cells))
        footers += row.kind == "footer"
        if prediction and footers == 2:
            rows += prediction
            prediction = []
    if table.footnotes:
        rows += ["", *table.footnotes]
    return rows
