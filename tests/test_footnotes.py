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


pd = pytest.importorskip("pandas", reason="pandas is an optional extra (metapool[pandas])")
nan = float("nan")


def messy_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": ["Full", "SE", "Median", "CI", "Nothing"],
            "mean_exp": [10.0, 11.0, nan, 9.0, 8.0],
            "sd_exp": [2.0, 2.5, nan, 2.0, 2.0],
            "total_exp": [30, 25, 40, 18, 20],
            "mean_ctrl": [11.0, 12.0, 12.0, 10.0, nan],
            "sd_ctrl": [2.0, nan, 3.0, nan, nan],
            "total_ctrl": [30, 26, 41, 17, 20],
            "se_ctrl": [nan, 0.5, nan, nan, nan],
            "lo": [nan, nan, nan, 8.9, nan],
            "hi": [nan, nan, nan, 11.1, nan],
            "median_exp": [nan, nan, 11.0, nan, nan],
            "q1_exp": [nan, nan, 8.5, nan, nan],
            "q3_exp": [nan, nan, 14.0, nan, nan],
            "min_exp": [nan, nan, 2.0, nan, nan],
            "max_exp": [nan, nan, 25.0, nan, nan],
            "median_ctrl": [nan, nan, nan, nan, 9.0],  # no quartiles, no range: stays empty
            "notes": [None, "cross-over, first period", None, None, None],
        }
    )


def test_from_dataframe_converts_and_footnotes() -> None:
    from metapool import prepare

    recs = metapool.from_dataframe(
        messy_frame(), "continuous", study="trial", footnote="notes",
        ci_lower_ctrl="lo", ci_upper_ctrl="hi",
    )  # fmt: skip
    full, se, median, ci, nothing = recs
    assert full == Continuous("Full", 10.0, 2.0, 30, 11.0, 2.0, 30)
    assert se.sd_ctrl == float(prepare.sd_from_se(0.5, 26).sd)
    assert se.footnote == "cross-over, first period; control: SD from SE, n = 26"
    five = prepare.mean_sd_from_quantiles(40, 11.0, q1=8.5, q3=14.0, minimum=2.0, maximum=25.0)
    assert (median.mean_exp, median.sd_exp) == (float(five.mean), float(five.sd))
    assert median.footnote == (
        "experimental: mean (Luo 2018) and SD (Shi 2020) from median, quartiles and range, n = 40"
    )
    assert ci.sd_ctrl == float(prepare.sd_from_ci(8.9, 11.1, 17).sd)
    assert ci.footnote == "control: SD from 95% CI, t with 16 df"
    assert (nothing.mean_ctrl, nothing.sd_ctrl, nothing.footnote) == (None, None, None)
    res = metapool.analyse(recs, measure="MD")
    assert [s.estimable for s in res.studies] == [True, True, True, True, False]
    assert "SEᵃ" in str(res) and "(a) cross-over, first period; control: SD from SE" in str(res)


def test_from_dataframe_converts_only_what_is_missing() -> None:
    df = pd.DataFrame(
        {"study": ["A"], "mean_exp": [5.0], "sd_exp": [nan], "total_exp": [40],
         "mean_ctrl": [6.0], "sd_ctrl": [2.0], "total_ctrl": [40],
         "median_exp": [4.0], "q1_exp": [3.0], "q3_exp": [7.0]}
    )  # fmt: skip
    (rec,) = metapool.from_dataframe(df, "continuous", mean_method="Wan")
    assert rec.mean_exp == 5.0
    assert rec.sd_exp == 4.0 / 1.303
    assert rec.footnote == "experimental: SD (Wan 2014) from median and quartiles, n = 40"


def test_from_dataframe_conversion_error_names_the_row() -> None:
    df = messy_frame()
    df.loc[2, "q1_exp"] = 12.0  # above the median
    with pytest.raises(InputError, match=r"row 2 \(study 'Median'\): mean_sd_from_quantiles: "):
        metapool.from_dataframe(df, "continuous", study="trial")
    with pytest.raises(InputError, match="median_exp: not a field of dichotomous data"):
        metapool.from_dataframe(df, "dichotomous", study="trial", median_exp="x")
