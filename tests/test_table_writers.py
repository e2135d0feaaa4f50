"""Results out: RevMan's table as text, CSV, Markdown and HTML; notebooks; no pyplot state."""

# ruff: noqa: E402 (the imports after importorskip need the extra)
from __future__ import annotations

import csv
import gc
import io
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")  # the plot extra

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import metapool
from metapool import InputError
from metapool.io.tables import render
from metapool.report import analysis_table


def _aspirin() -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")


def _stem_cells() -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")


def test_text_table_is_str() -> None:
    res = _stem_cells()
    assert res.to_table() == str(res)
    assert res.to_table("text").splitlines()[2] == "Bone marrow"


def test_html_table_has_the_rows_report_prints() -> None:
    res = _stem_cells()
    headers, rows = analysis_table(res)
    assert headers[0] == "Study or Subgroup"
    html = res._repr_html_()
    assert html.count("<tr>") == 1 + sum(not isinstance(r, str) for r in rows)
    assert html.count('<tr class="line">') == sum(isinstance(r, str) for r in rows)
    assert "<th" in html and "Std. Mean Difference IV, Random, 95% CI" in html
    total = res.total
    assert f"{total.estimate:.2f} [{total.ci_lower:.2f}, {total.ci_upper:.2f}]" in html
    assert "Test for subgroup differences: Chi²" in html
    # text is escaped: a study called <b> stays text
    odd = metapool.analyse(
        [metapool.Dichotomous("<b>&", 1, 10, 2, 10), metapool.Dichotomous("B", 2, 10, 3, 10)],
        measure="RR",
    )
    assert "&lt;b&gt;&amp;" in odd._repr_html_() and "<b>&" not in odd._repr_html_()


def test_csv_and_markdown_tables(tmp_path: Path) -> None:
    res = _aspirin()
    rows = list(csv.reader(io.StringIO(res.to_table("csv"))))
    assert rows[0][0] == "Study or Subgroup" and rows[1][:5] == ["MRC-1", "49", "615", "67", "624"]
    assert rows[1][-1] == "0.72 [0.49, 1.06]"
    assert rows[-1][0] == "Test for overall effect: Z = 3.29 (P = 0.001)"
    md = res.to_table("markdown").splitlines()
    assert md[1].startswith("| :--- | ---: |")
    assert md[2] == "| MRC-1 | 49 | 615 | 67 | 624 | 3.2% | 0.72 [0.49, 1.06] |"
    for suffix, marker in ((".csv", "MRC-1,49"), (".md", "| MRC-1 |"), (".html", "<table")):
        path = tmp_path / f"table{suffix}"
        res.write_table(path)
        assert marker in path.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the table format"):
        res.write_table(tmp_path / "table.xlsx")
    with pytest.raises(InputError, match="unknown table format 'tex'"):
        res.to_table("tex")


def test_render_checks_row_lengths() -> None:
    with pytest.raises(InputError, match="table row 0 has 1 cells for 2 columns"):
        render(["a", "b"], [["x"]])
    assert render(["a", "b"], ["a line", ["x", "1"]], "csv") == "a,b\na line,\nx,1\n"


def test_fifty_plots_leave_no_pyplot_figures() -> None:
    plt.close("all")
    small = metapool.analyse(metapool.examples.aspirin()[:2], measure="OR")
    for _ in range(50):
        fig = small.forest()
        assert fig.axes  # drawn
    res = _aspirin()
    res.funnel()
    res.baujat()
    res.labbe()
    gc.collect()
    assert plt.get_fignums() == []


def test_figures_save_without_pyplot(tmp_path: Path) -> None:
    fig = _aspirin().forest()
    fig.savefig(tmp_path / "forest.png", dpi=50)
    fig.savefig(tmp_path / "forest.svg")
    assert (tmp_path / "forest.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "forest.svg").read_text(encoding="utf-8")
