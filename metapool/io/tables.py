"""Tables as text, CSV, Markdown and HTML: one writer for every table metapool prints.

A table is a header row and body rows; a body row is a list of cells (one
per header) or a single string, a line that runs across the whole table
(RevMan's heterogeneity and overall-effect lines). The first column is
left-aligned, the others right-aligned, as in RevMan, unless ``align`` says
otherwise (one ``"l"`` or ``"r"`` per column).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from metapool.errors import InputError

__all__ = ["FORMATS", "Row", "render", "write_table"]

Row = Sequence[str] | str

#: the formats of :func:`render`, and the file suffixes :func:`write_table` knows them by
FORMATS = {"text": ".txt", "csv": ".csv", "markdown": ".md", "html": ".html"}


def render(
    headers: Sequence[str], rows: Sequence[Row], fmt: str = "text", align: str | None = None
) -> str:
    """A table in one of :data:`FORMATS`; ``align`` (text, Markdown, HTML) has one
    ``"l"`` (left) or ``"r"`` (right) per column, by default ``"lrr..."``.

    Examples
    --------
    >>> print(render(["Study", "Weight"], [["MRC-1", "3.2%"], "Heterogeneity: Not applicable"]))
    Study  Weight
    -------------
    MRC-1    3.2%
    Heterogeneity: Not applicable
    >>> print(render(["Study", "Weight"], [["MRC-1", "3.2%"]], "markdown"))
    | Study | Weight |
    | :--- | ---: |
    | MRC-1 | 3.2% |
    >>> print(render(["Scope", "Quantity", "n"], [["Total", "estimate", "1"]], align="llr"))
    Scope  Quantity  n
    ------------------
    Total  estimate  1
    """
    for i, row in enumerate(rows):
        if not isinstance(row, str) and len(row) != len(headers):
            raise InputError(f"table row {i} has {len(row)} cells for {len(headers)} columns")
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers) or set(align) - {"l", "r"}:
        raise InputError(f"align must be one 'l' or 'r' per column ({len(headers)}), got {align!r}")
    if fmt == "text":
        return _text(headers, rows, align)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        for row in rows:
            writer.writerow([row, *[""] * (len(headers) - 1)] if isinstance(row, str) else row)
        return out.getvalue()
    if fmt == "markdown":
        rule = {"l": ":---", "r": "---:"}
        lines = [_md(headers), "| " + " | ".join(rule[a] for a in align) + " |"]
        for row in rows:
            lines.append(_md([row, *[""] * (len(headers) - 1)] if isinstance(row, str) else row))
        return "\n".join(lines)
    if fmt == "html":
        return _html(headers, rows, align)
    raise InputError(f"unknown table format {fmt!r}; allowed: {', '.join(FORMATS)}")


def write_table(
    path: str | os.PathLike[str],
    headers: Sequence[str],
    rows: Sequence[Row],
    fmt: str | None = None,
) -> None:
    """Write :func:`render`'s table to ``path``; the format from the suffix unless given."""
    if fmt is None:
        suffix = Path(path).suffix.lower()
        by_suffix = {s: f for f, s in FORMATS.items()} | {".htm": "html", ".markdown": "markdown"}
        if suffix not in by_suffix:
            raise InputError(
                f"{os.fspath(path)}: cannot tell the table format from the suffix {suffix!r}; "
                f"use one of {', '.join(FORMATS.values())} or pass fmt"
            )
        fmt = by_suffix[suffix]
    text = render(headers, rows, fmt)
    Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def _text(headers: Sequence[str], rows: Sequence[Row], align: str) -> str:
    cells = [r for r in rows if not isinstance(r, str)]
    widths = [max(len(c) for c in col) for col in zip(headers, *cells, strict=True)]

    def line(row: Sequence[str]) -> str:
        padded = zip(row, widths, align, strict=True)
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in padded).rstrip()

    out = [line(headers), "-" * len(line(headers))]
    out += [r if isinstance(r, str) else line(r) for r in rows]
    return "\n".join(out)


def _md(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _html(headers: Sequence[str], rows: Sequence[Row], align: str) -> str:
    def cell(tag: str, text: str, i: int) -> str:
        # inline alignment: notebooks show the table without the report's style sheet
        side = "left" if align[i] == "l" else "right"
        return f'<{tag} style="text-align:{side}">{escape(text)}</{tag}>'

    head = "".join(cell("th", h, i) for i, h in enumerate(headers))
    body = []
    for row in rows:
        if isinstance(row, str):
            span = f'colspan="{len(headers)}" style="text-align:left"'
            body.append(f'<tr class="line"><td {span}>{escape(row)}</td></tr>')
        else:
            body.append("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>")
    return (
        '<table class="metapool">\n<thead><tr>'
        + head
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )
