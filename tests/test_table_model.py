"""One table model: every row of the forest plot says what the printed table says."""

from __future__ import annotations

from collections import Counter

import attrs
import pytest

import metapool
from metapool import Continuous, Generic, MetaAnalysis
from metapool.report import analysis_table
from metapool.table import revman_table

pytest.importorskip("matplotlib")


def _subgroups() -> list[metapool.Dichotomous]:
    return [
        attrs.evolve(s, subgroup="A" if i % 2 else "B")
        for i, s in enumerate(metapool.examples.aspirin())
    ]


def _notes() -> list[Continuous]:
    notes = {1: "SD from 95% CI", 3: "SD from 95% CI", 4: "mean from median"}
    return [
        attrs.evolve(s, footnote=notes.get(i))
        for i, s in enumerate(metapool.examples.stem_cell_oa_pain())
    ]


ANALYSES = {
    "subgroups, numbered": lambda: metapool.analyse(_subgroups(), measure="OR", number="1.2"),
    "subtotals only": lambda: metapool.analyse(_subgroups(), measure="RR", totals="subtotals"),
    "no totals": lambda: metapool.analyse(_subgroups(), measure="RR", totals="none"),
    "random, prediction, HKSJ": lambda: metapool.analyse(
        _subgroups(), measure="RR", model="random", prediction=True, hksj=True
    ),
    "footnotes": lambda: metapool.analyse(_notes(), measure="MD"),
    "generic measure": lambda: metapool.analyse(
        [
            Generic(f"S{i}", y, se)
            for i, (y, se) in enumerate([(0.1, 0.2), (-0.3, 0.15), (0.25, 0.3)])
        ],
        measure="HR",
    ),
}


def _plot_rows(res: MetaAnalysis) -> list[tuple[str, ...]]:
    """The texts of every row of the plot's table, left to right (empty cells left out)."""
    table = next(ax for ax in res.forest().axes if ax.get_gid() == "forest-table")
    rows: dict[float, list[tuple[float, str]]] = {}
    for t in table.texts:
        gid = t.get_gid() or ""
        if ":" in gid and t.get_text():
            x, y = t.get_position()
            rows.setdefault(round(y, 6), []).append((x, t.get_text()))
    return [tuple(text for _, text in sorted(cells)) for _, cells in sorted(rows.items())]


def _printed_rows(res: MetaAnalysis) -> list[tuple[str, ...]]:
    _, rows = analysis_table(res)
    out = [(row,) if isinstance(row, str) else tuple(c for c in row if c) for row in rows]
    return [row for row in out if row != ("",)]


@pytest.mark.parametrize("name", list(ANALYSES))
def test_plot_rows_say_what_the_printed_table_says(name: str) -> None:
    res = ANALYSES[name]()
    plot = _plot_rows(res)
    # RevMan's own differences of form: the plot writes "Total events:" and gives the
    # prediction interval its effect column; the printed table puts it on one line
    plot = [(f"{row[0]}: {row[1]}",) if row[0] == "Prediction interval" else row for row in plot]
    plot = [
        (row[0].removesuffix(":"), *row[1:]) if row[0] == "Total events:" else row for row in plot
    ]
    if not res.subgroups:  # RevMan's plot also has the line without subgroups
        plot = [row for row in plot if row != ("Test for subgroup differences: Not applicable",)]
    printed = _printed_rows(res)
    assert Counter(plot) == Counter(printed)
    # in the same order, but for the prediction interval (under the test lines when printed)
    assert [r for r in plot if "Prediction" not in r[0]] == [
        r for r in printed if "Prediction" not in r[0]
    ]
    assert len(plot) >= len(res.studies) + 1


def test_the_model_is_the_printed_table() -> None:
    res = ANALYSES["subgroups, numbered"]()
    table = revman_table(res)
    headers, rows = analysis_table(res)
    assert headers == list(table.printed)
    assert [r for r in rows if not isinstance(r, str)] == [
        list(row.cells)
        for row in table.rows
        if row.kind in ("study", "subtotal", "total", "events")
    ]
    assert [row.cells[0] for row in table.rows if row.kind == "heading"] == ["1.2.1 B", "1.2.2 A"]
    squares = [row.mark for row in table.rows if row.mark and row.mark.shape == "square"]
    assert [m.weight for m in squares] == pytest.approx(
        [s.weight for s in res.studies if s.subgroup == "B"]
        + [s.weight for s in res.studies if s.subgroup == "A"]
    )


def test_a_study_with_a_footnote_keeps_its_risk_of_bias_lights() -> None:
    # the plot's label carries the footnote letter; the judgements are the study's
    studies = [
        attrs.evolve(s, footnote="n" if i == 0 else None)
        for i, s in enumerate(metapool.examples.aspirin())
    ]
    rob = metapool.RiskOfBias.from_records(
        [("MRC-1", "Blinding", "high"), ("CDP", "Blinding", "low")]
    )
    fig = metapool.analyse(studies, measure="OR").forest(risk_of_bias=rob)
    table = next(ax for ax in fig.axes if ax.get_gid() == "forest-table")
    assert [t.get_text() for t in table.texts if t.get_gid() == "study:label"][:2] == [
        "MRC-1ᵃ",
        "CDP",
    ]
    assert sorted(
        line.get_gid() for line in table.lines if (line.get_gid() or "").startswith("bias-")
    ) == [
        "bias-high",
        "bias-low",
    ]


def test_render_aligns_columns_as_told() -> None:
    from metapool.io.tables import render

    rows = [["Total", "estimate", "1"], "a line across"]
    assert render(["Scope", "Quantity", "n"], rows, "markdown", align="llr").splitlines()[1] == (
        "| :--- | :--- | ---: |"
    )
    html = render(["Scope", "Quantity", "n"], rows, "html", align="llr")
    assert '<td style="text-align:left">estimate</td><td style="text-align:right">1</td>' in html
    with pytest.raises(metapool.InputError, match="align must be one 'l' or 'r' per column"):
        render(["Scope", "Quantity", "n"], rows, align="llc")
