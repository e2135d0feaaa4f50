"""Study footnotes read from a file are the records' footnotes, shown by the analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
from revman_files import data, outcome, review, write

from metapool.io import read_revman_csv, read_rm5


def test_rm5_footnote_is_the_record_footnote(tmp_path: Path) -> None:
    row = data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    noted = row.replace("/>", "><FOOTNOTE>Data from the  authors</FOOTNOTE></DICH_DATA>")
    other = data("DICH", "STD-B", EVENTS_1=3, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    path = write(tmp_path, review(outcome("DICH", 1, "D", [noted, other], EFFECT_MEASURE="OR")))
    deaths = read_rm5(path).outcome("1.1")
    assert deaths.footnotes == ("Data from the authors", "")
    assert [s.footnote for s in deaths.studies] == ["Data from the authors", None]
    lines = str(deaths.analyse()).splitlines()
    assert lines[-2:] == ["Footnotes", "(a) Data from the authors"]
    assert [line.split()[0] for line in lines[2:4]] == ["Alphaᵃ", "Beta"]


def test_rm5_footnote_on_a_record_built_one_by_one(tmp_path: Path) -> None:
    # a cell the fast column path does not read (a grouped number) builds records singly
    row = data("DICH", "STD-A", EVENTS_1=1, TOTAL_1="1,000", EVENTS_2=2, TOTAL_2=10)
    noted = row.replace("/>", "><FOOTNOTE>Cluster trial</FOOTNOTE></DICH_DATA>")
    path = write(tmp_path, review(outcome("DICH", 1, "D", [noted], EFFECT_MEASURE="OR")))
    (study,) = read_rm5(path).outcome("1.1").studies
    assert (study.total_exp, study.footnote) == (1000, "Cluster trial")


CSV = """\
Comparison Number,Outcome Number,Subgroup Number,Name,Data Type,Statistical Method,\
Effect Measure,Analysis Model,Events 1,Total 1,Events 2,Total 2,Footnotes
1,0,0,Drug vs placebo,,,,,,,,,
1,1,0,Deaths,DIC,MH,RR,Fixed,,,,,
1,1,0,Alpha 2001,,,,,4,50,9,50,Counts from the authors
1,1,0,Beta 2002,,,,,6,60,8,60,
"""


def test_csv_footnote_is_the_record_footnote(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV, encoding="utf-8")
    deaths = read_revman_csv(path).outcome("1.1")
    assert deaths.footnotes == ("Counts from the authors", "")
    assert [s.footnote for s in deaths.studies] == ["Counts from the authors", None]
    lines = str(deaths.analyse()).splitlines()
    assert lines[-2:] == ["Footnotes", "(a) Counts from the authors"]
    assert lines[2].startswith("Alpha 2001ᵃ ")


def test_csv_footnote_is_drawn_under_the_forest_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots are an optional extra (metapool[plot])")
    path = tmp_path / "export.csv"
    path.write_text(CSV, encoding="utf-8")
    deaths = read_revman_csv(path).outcome("1.1")
    labels = [
        t.get_text() for t in deaths.forest().axes[0].texts if t.get_gid() == "footnote:label"
    ]
    assert labels == ["Footnotes", "(a) Counts from the authors"]
