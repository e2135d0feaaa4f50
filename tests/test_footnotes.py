"""Footnotes: records carry them, the printed table and the forest plot show them as RevMan does."""

from __future__ import annotations

import itertools

import attrs
import pytest

import metapool
from metapool import Continuous, Dichotomous, InputError
from metapool.plots import forest

CI_NOTE = "SD from 95% CI, t with 19 df"
MEDIAN_NOTE = "mean (Luo 2018) and SD (Wan 2014) from median and quartiles, n = 31"


def studies() -> list[Continuous]:
    return [
        Continuous("Hart 2019", 12.5, 1.47, 20, 12.3, 1.66, 20, footnote=CI_NOTE),
        Continuous("Li 2020", 10.1, 2.0, 31, 11.2, 2.2, 30, footnote=MEDIAN_NOTE),
        Continuous("Zhou 2021", 9.5, 1.9, 40, 10.6, 2.1, 41),
        Continuous("Wang 2022", 9.9, 1.8, 25, 11.0, 2.0, 26, footnote=CI_NOTE),
    ]


def test_footnote_is_validated() -> None:
    assert Dichotomous("A", 1, 10, 2, 10).footnote is None
    with pytest.raises(InputError, match="study 'A': footnote must be a non-empty string"):
        Dichotomous("A", 1, 10, 2, 10, footnote="  ")


def test_printed_table_marks_studies_and_lists_notes() -> None:
    text = str(metapool.analyse(studies(), measure="MD"))
    lines = text.splitlines()
    assert lines[2].startswith("Hart 2019ᵃ ")
    assert lines[3].startswith("Li 2020ᵇ ")
    assert lines[4].startswith("Zhou 2021 ")
    assert lines[5].startswith("Wang 2022ᵃ ")  # the same note, the same letter
    assert lines[-3:] == ["Footnotes", f"(a) {CI_NOTE}", f"(b) {MEDIAN_NOTE}"]


def test_letters_follow_display_order_with_subgroups() -> None:
    recs = [attrs.evolve(s, subgroup=g) for s, g in zip(studies(), "YXYX", strict=True)]
    text = str(metapool.analyse(recs, measure="MD"))
    # subgroup Y is shown first: Hart (CI note) gets a, then in X Li gets b
    assert "Hart 2019ᵃ" in text and "Li 2020ᵇ" in text and "Wang 2022ᵃ" in text
    assert text.index("Hart 2019ᵃ") < text.index("Li 2020ᵇ")


def test_no_footnotes_no_section() -> None:
    text = str(metapool.analyse(metapool.examples.aspirin(), measure="OR"))
    assert "Footnotes" not in text


def test_forest_shows_letters_and_notes_below_the_graph() -> None:
    fig = forest(metapool.analyse(studies(), measure="MD"))
    (table,) = [ax for ax in fig.axes if ax.get_gid() == "forest-table"]
    (panel,) = [ax for ax in fig.axes if ax.get_gid() == "forest-panel"]
    labels = [t.get_text() for t in table.texts if t.get_gid() == "study:label"]
    assert labels == ["Hart 2019ᵃ", "Li 2020ᵇ", "Zhou 2021", "Wang 2022ᵃ"]
    notes = [t for t in table.texts if t.get_gid() == "footnote:label"]
    assert [t.get_text() for t in notes] == ["Footnotes", f"(a) {CI_NOTE}", f"(b) {MEDIAN_NOTE}"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in table.texts if t.get_text()]
    boxes += [t.get_window_extent(renderer) for t in panel.get_xticklabels() if t.get_text()]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    frame = panel.get_window_extent(renderer)
    top_of_notes = max(t.get_window_extent(renderer).y1 for t in notes)
    assert top_of_notes < frame.y0  # listed under the graph and its axis
    assert all(box.x1 <= fig.bbox.x1 + 0.5 for box in boxes)
