"""from_dataframe and result_to_dataframe (pandas is an optional extra)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

import metapool
from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE
from metapool.io import from_dataframe, result_rows

if TYPE_CHECKING:
    import pandas

pd = pytest.importorskip("pandas", reason="pandas is an optional extra (metapool[pandas])")


def aspirin_frame() -> pandas.DataFrame:
    studies = metapool.examples.aspirin()
    frame: pandas.DataFrame = pd.DataFrame(
        {
            "author": [s.study for s in studies],
            "deaths_aspirin": [s.events_exp for s in studies],
            "n_aspirin": [s.total_exp for s in studies],
            "deaths_control": [s.events_ctrl for s in studies],
            "n_control": [s.total_ctrl for s in studies],
        }
    )
    return frame


def test_dichotomous_with_renamed_columns() -> None:
    records = from_dataframe(
        aspirin_frame(),
        study="author",
        events_exp="deaths_aspirin",
        total_exp="n_aspirin",
        events_ctrl="deaths_control",
        total_ctrl="n_control",
    )
    assert records == metapool.examples.aspirin()
    first = records[0]
    assert isinstance(first, Dichotomous) and type(first.events_exp) is int


def test_round_trip_through_result_frame() -> None:
    res = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")
    df = res.to_dataframe()
    assert list(df["row"]) == ["study"] * 10 + ["subgroup"] * 3 + ["total", "subgroup differences"]
    studies = df[df["row"] == "study"]
    again = from_dataframe(studies, "continuous", subgroup="subgroup")
    assert again == metapool.examples.stem_cell_oa_pain()
    total = df[df["row"] == "total"].iloc[0]
    assert total["estimate"] == res.total.estimate and total["k"] == 10
    assert total["tau2"] == res.heterogeneity.tau2 and total["p_q"] == res.heterogeneity.p_value
    sub = df[(df["row"] == "subgroup") & (df["subgroup"] == "Bone marrow")].iloc[0]
    assert sub["estimate"] == res.subgroups["Bone marrow"].total.estimate
    # a subgroup's weight is its share of the overall analysis (RevMan's subtotal row)
    assert sub["weight"] == pytest.approx(
        studies[studies["subgroup"] == "Bone marrow"]["weight"].sum()
    )
    assert math.isnan(df.iloc[0]["q"])  # study rows carry no heterogeneity


def test_result_rows_without_pandas_types() -> None:
    rows = result_rows(metapool.analyse(metapool.examples.aspirin(), measure="OR"))
    assert rows[0]["study"] == "MRC-1" and rows[0]["events_exp"] == 49
    assert rows[-1]["row"] == "total" and rows[-1]["weight"] == pytest.approx(100.0)


def test_missing_cells_and_other_kinds() -> None:
    df = pd.DataFrame(
        {"study": ["A", "B"], "o_minus_e": [-2.0, None], "variance": [4.0, 5.0], "sub": ["x", None]}
    )
    assert from_dataframe(df, "OE") == [OMinusE("A", -2.0, 4.0), OMinusE("B", None, 5.0)]
    generic = pd.DataFrame({"study": ["A"], "estimate": ["-0.25"], "se": [0.1]})
    assert from_dataframe(generic, "generic") == [Generic("A", -0.25, 0.1)]
    cont = pd.DataFrame(
        {
            "study": [1],
            "mean_exp": [1.0],
            "sd_exp": [1.0],
            "total_exp": [10.0],
            "mean_ctrl": [2.0],
            "sd_ctrl": [1.0],
            "total_ctrl": [float("nan")],
        }
    )
    assert from_dataframe(cont, "continuous") == [Continuous("1", 1.0, 1.0, 10, 2.0, 1.0, None)]


def test_errors_name_the_column_and_study() -> None:
    df = aspirin_frame()
    with pytest.raises(InputError, match=r"no column 'events_exp'.*its columns: author"):
        from_dataframe(df, study="author")
    with pytest.raises(InputError, match="unknown kind 'survival'"):
        from_dataframe(df, "survival")
    with pytest.raises(InputError, match="mean_exp: not a field of dichotomous data"):
        from_dataframe(df, mean_exp="x")
    bad = df.rename(
        columns={
            "deaths_aspirin": "events_exp",
            "n_aspirin": "total_exp",
            "deaths_control": "events_ctrl",
            "n_control": "total_ctrl",
        }
    )
    bad["events_exp"] = bad["events_exp"].astype(object)
    bad.loc[2, "events_exp"] = "many"
    with pytest.raises(InputError, match=r"row 2 \(study 'MRC-2'\): column 'events_exp'.*'many'"):
        from_dataframe(bad, study="author")
    impossible = df.copy()
    impossible.loc[1, "deaths_aspirin"] = 10_000
    with pytest.raises(InputError, match=r"row 1 \(study 'CDP'\).*events_exp is column"):
        from_dataframe(
            impossible,
            study="author",
            events_exp="deaths_aspirin",
            total_exp="n_aspirin",
            events_ctrl="deaths_control",
            total_ctrl="n_control",
        )
    unnamed = pd.DataFrame({"study": [None], "estimate": [1.0], "se": [0.1]})
    with pytest.raises(InputError, match="row 0: the study name"):
        from_dataframe(unnamed, "generic")
    indexed = pd.DataFrame({"study": ["A"], "estimate": [True], "se": [0.1]}, index=["trial-7"])
    with pytest.raises(InputError, match=r"row 'trial-7' \(study 'A'\): column 'estimate'"):
        from_dataframe(indexed, "generic")


def test_dichotomous_subgroup_column() -> None:
    df = pd.DataFrame(
        {
            "study": ["A", "B"],
            "events_exp": [1, 2],
            "total_exp": [10, 10],
            "events_ctrl": [3, 4],
            "total_ctrl": [10, 10],
            "grp": ["g1", "g2"],
        }
    )
    assert from_dataframe(df, subgroup="grp")[1] == Dichotomous("B", 2, 10, 4, 10, "g2")


def test_result_frame_carries_tests_intervals_settings_and_text() -> None:
    studies = metapool.examples.stem_cell_oa_pain()
    res = metapool.analyse(studies, measure="SMD", **metapool.REVMAN_WEB)
    df = res.to_dataframe()
    total = df[df["row"] == "total"].iloc[0]
    h = res.heterogeneity
    assert h.tau2_ci is not None and h.i2_ci is not None and res.prediction is not None
    assert (total["tau2_ci_lower"], total["tau2_ci_upper"]) == (h.tau2_ci.lower, h.tau2_ci.upper)
    assert (total["i2_ci_lower"], total["i2_ci_upper"]) == (h.i2_ci.lower, h.i2_ci.upper)
    assert (total["pi_lower"], total["pi_upper"]) == (res.prediction.lower, res.prediction.upper)
    t = res.total
    assert total["text"] == f"{t.estimate:.2f} [{t.ci_lower:.2f}, {t.ci_upper:.2f}]"
    assert set(df["tau2_method"]) == {"REML"} and set(df["hksj"]) == {True}
    assert set(df["measure"]) == {"SMD"} and set(df["model"]) == {"random"}
    test = df[df["row"] == "subgroup differences"].iloc[0]
    diff = res.subgroup_differences
    assert diff is not None
    assert (test["q"], test["df"], test["p_q"], test["i2"]) == (
        diff.q,
        diff.df,
        diff.p_value,
        diff.i2,
    )
    assert math.isnan(test["estimate"])
    # a study's text is RevMan's cell
    assert (
        df.iloc[0]["text"] == f"{res.studies[0].estimate:.2f} [{res.studies[0].ci_lower:.2f}, "
        f"{res.studies[0].ci_upper:.2f}]"
    )
    fixed = metapool.analyse(metapool.examples.aspirin(), measure="OR").to_dataframe()
    assert fixed["tau2_method"].isna().all() and math.isnan(fixed.iloc[-1]["pi_lower"])


def test_pool_result_frame() -> None:
    res = metapool.pool(
        [0.1, 0.3, 0.2, -0.1, 0.4, 0.0],
        [0.01, 0.02, 0.015, 0.02, 0.03, 0.01],
        groups=["a", "a", "a", "b", "b", "b"],
        prediction=True,
        tau2_ci=True,
    )
    df = res.to_dataframe()
    assert list(df["group"]) == ["a", "b"]
    assert list(df["estimate"]) == list(res.estimate)
    assert list(df["p_q"]) == list(res.p_q)
    assert res.pi_lower is not None and list(df["pi_lower"]) == list(res.pi_lower)
    assert "tau2_ci_upper" in df.columns and "weights" not in df.columns
    plain = metapool.pool([0.1, 0.2], [0.01, 0.02]).to_dataframe()
    assert "pi_lower" not in plain.columns and plain.shape == (1, 17)
