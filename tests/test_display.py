"""RevMan's display options: totals, subtotals only, none; the subgroup test; numbered
headings; read from .rm5 files and set by hand, in text, plot, table and --check."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _helpers import drawing
from revman_files import data, outcome, review, subgroup, write

import metapool
from metapool import Dichotomous, InputError
from metapool.cli import main
from metapool.io import read_rm5
from metapool.report import shown


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    if "matplotlib.pyplot" in sys.modules:  # the tests that draw need the plot extra
        sys.modules["matplotlib.pyplot"].close("all")


COUNTS = {
    "STD-A": (12, 100, 20, 100),
    "STD-B": (5, 60, 9, 58),
    "STD-C": (30, 210, 41, 205),
    "STD-D": (8, 80, 7, 85),
}
NAMES = {"STD-A": "Alpha", "STD-B": "Beta", "STD-C": "Gamma", "STD-D": "Delta"}
GROUPS = {"Bone marrow": ("STD-A", "STD-B"), "Umbilical cord": ("STD-C", "STD-D")}


def studies() -> list[Dichotomous]:
    return [
        Dichotomous(NAMES[i], *COUNTS[i], subgroup=name)
        for name, ids in GROUPS.items()
        for i in ids
    ]


def by_option(**options: Any) -> metapool.MetaAnalysis:
    return metapool.analyse(studies(), measure="RR", **options)


def weights_in(text: str) -> list[float]:
    """The weights of the study rows."""
    rows = [line for line in text.splitlines() if line.split(" ")[0] in NAMES.values()]
    return [float(w) for row in rows for w in re.findall(r"\s(\d+\.\d)%\s", row)]


# -- the option, set by hand --------------------------------------------------------------


def test_computed_statistics_do_not_change() -> None:
    full = by_option()
    for totals in ("subtotals", "none"):
        other = by_option(totals=totals, subgroup_test=False)
        assert other.total == full.total and other.heterogeneity == full.heterogeneity
        assert other.studies == full.studies
        assert dict(other.subgroups) == dict(full.subgroups)
        assert other.subgroup_differences == full.subgroup_differences
    assert by_option(totals="SUBTOTALS").settings.totals == "subtotals"
    with pytest.raises(InputError, match="unknown totals 'sub'; allowed: all, subtotals, none"):
        by_option(totals="sub")
    with pytest.raises(InputError, match="subgroup_test must be True or False"):
        by_option(subgroup_test="no")


def test_shown_weights_per_option() -> None:
    full, sub, none = (shown(by_option(totals=t)) for t in ("all", "subtotals", "none"))
    assert full.weights == tuple(s.weight for s in by_option().studies)
    assert math.isclose(sum(full.weights), 100.0)
    assert math.isclose(sum(sub.weights[:2]), 100.0) and math.isclose(sum(sub.weights[2:]), 100.0)
    assert all(math.isnan(w) for w in none.weights)
    assert (full.total, full.subtotals, full.subgroup_test) == (True, True, True)
    assert (sub.total, sub.subtotals, sub.subgroup_test) == (False, True, True)
    assert (none.total, none.subtotals, none.subgroup_test) == (False, False, False)


def test_printed_table_follows_the_option() -> None:
    full = str(by_option())
    assert "Total (95% CI)" in full and full.count("Subtotal (95% CI)") == 2
    assert "Test for subgroup differences: Chi²" in full
    assert math.isclose(sum(weights_in(full)), 100.0, abs_tol=0.15)

    sub = str(by_option(totals="subtotals"))
    assert "Total (95% CI)" not in sub and sub.count("Subtotal (95% CI)") == 2
    assert sub.count("100.0%") == 2  # each subtotal
    res = by_option(totals="subtotals")
    expected = [s.weight for sub_ in res.subgroups.values() for s in sub_.studies]
    assert weights_in(sub) == [round(w, 1) for w in expected]
    assert math.isclose(sum(expected[:2]), 100.0) and math.isclose(sum(expected[2:]), 100.0)
    assert "Test for subgroup differences: Chi²" in sub

    none = "\n".join(str(by_option(totals="none")).splitlines()[2:])  # below the headers
    assert "Total" not in none and "Subtotal" not in none and "%" not in none
    assert "Heterogeneity" not in none and "subgroup differences" not in none
    assert none.count("[") == 4  # the studies' own rows only

    no_test = str(by_option(subgroup_test=False))
    assert "subgroup differences" not in no_test and "Total (95% CI)" in no_test


def test_numbered_headings() -> None:
    lines = str(by_option()).splitlines()
    assert "Bone marrow" in lines and "Umbilical cord" in lines  # hand-made: names only
    lines = str(by_option(number="2.3")).splitlines()
    assert "2.3.1 Bone marrow" in lines and "2.3.2 Umbilical cord" in lines
    with pytest.raises(InputError, match="number must be"):
        by_option(number="")


def test_dataframe_follows_the_option() -> None:
    pytest.importorskip("pandas")
    full = by_option().to_dataframe()
    test = ["subgroup differences"]
    assert list(full["row"]) == ["study"] * 4 + ["subgroup"] * 2 + ["total", *test]
    sub = by_option(totals="subtotals").to_dataframe()
    assert list(sub["row"]) == ["study"] * 4 + ["subgroup"] * 2 + test
    hidden = by_option(subgroup_test=False).to_dataframe()
    assert list(hidden["row"]) == ["study"] * 4 + ["subgroup"] * 2 + ["total"]
    assert sub[sub["row"] == "study"].groupby("subgroup")["weight"].sum().round(10).tolist() == [
        100.0,
        100.0,
    ]
    assert sub[sub["row"] == "subgroup"]["weight"].round(10).tolist() == [100.0, 100.0]
    none = by_option(totals="none").to_dataframe()
    assert list(none["row"]) == ["study"] * 4 and none["weight"].isna().all()
    assert none["estimate"].notna().all()


# -- the plot ------------------------------------------------------------------------------


def texts(fig: Any, headers: bool = True) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if headers or t.get_gid() != "header"]


def gids(fig: Any, gid: str) -> list[Any]:
    panel = fig.axes[1]
    return [a for a in [*panel.lines, *panel.patches] if a.get_gid() == gid]


def test_forest_follows_the_option() -> None:
    drawing()
    full = by_option(number="1.1").forest()
    assert len(gids(full, "diamond")) == 3 and len(gids(full, "square")) == 4
    words = texts(full)
    assert "Total (95% CI)" in words and words.count("Subtotal (95% CI)") == 2
    assert "1.1.1 Bone marrow" in words and "1.1.2 Umbilical cord" in words
    assert any(w.startswith("Test for subgroup differences: Chi²") for w in words)

    sub = by_option(totals="subtotals").forest()
    assert len(gids(sub, "diamond")) == 2 and len(gids(sub, "square")) == 4
    words = texts(sub)
    assert "Total (95% CI)" not in words and words.count("100.0%") == 2
    assert "Bone marrow" in words  # hand-made: no numbers

    none = by_option(totals="none").forest()
    assert gids(none, "diamond") == [] and len(gids(none, "square")) == 4
    words = texts(none, headers=False)
    assert not [w for w in words if w.endswith("%") or w.startswith(("Total", "Subtotal"))]
    assert not [w for w in words if "Heterogeneity" in w or "subgroup differences" in w]
    sizes = {round(s.get_markersize(), 6) for s in gids(none, "square")}
    assert len(sizes) == 1  # no weights shown: squares of one size

    no_test = by_option(subgroup_test=False).forest()
    assert not [w for w in texts(no_test) if "subgroup differences" in w]


def test_forest_scale_and_ci_style() -> None:
    drawing()
    res = by_option()
    assert res.forest(scale=100).axes[1].get_xlim() == (0.01, 100.0)
    ticks = [t.get_text() for t in res.forest(scale=100).axes[1].get_xticklabels()]
    assert ticks == ["0.01", "0.1", "1", "10", "100"]
    md = metapool.analyse([metapool.Generic("A", 1.0, 0.5), metapool.Generic("B", 2.0, 0.4)], "MD")
    assert md.forest(scale=100).axes[1].get_xlim() == (-100.0, 100.0)
    assert res.forest(scale=100, xlim=(0.5, 2)).axes[1].get_xlim() == (0.5, 2.0)
    web = texts(res.forest(ci_style="web"))
    five = texts(res.forest())
    row = next(s for s in res.studies if s.study == "Alpha")
    text = metapool.report.effect_text(row.estimate, row.ci_lower, row.ci_upper)
    assert text in five and text.replace(", ", " , ") in web
    with pytest.raises(InputError, match="ci_style"):
        res.forest(ci_style="revman4")
    with pytest.raises(InputError, match="scale must be"):
        res.forest(scale=0.5)


def test_forest_sort_keys() -> None:
    drawing()
    res = metapool.analyse([Dichotomous(NAMES[i], *COUNTS[i]) for i in COUNTS])
    fig = res.forest(sort=[3, 1, 4, 2])
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "study:label"]
    assert labels == ["Beta", "Delta", "Alpha", "Gamma"]
    with pytest.raises(InputError, match="sort has 2 keys; the analysis has 4 studies"):
        res.forest(sort=[1, 2])


def test_svg_keeps_text_as_text(tmp_path: Path) -> None:
    matplotlib = drawing()
    fig = by_option().forest()
    fig.savefig(tmp_path / "forest.svg")
    svg = (tmp_path / "forest.svg").read_text()
    assert ">Alpha</text>" in svg and ">Total (95% CI)</text>" in svg
    assert matplotlib.rcParams["svg.fonttype"] == "path"  # the user's setting is left alone
    by_option().funnel().savefig(tmp_path / "funnel.svg")
    assert "SE(log[RR])</text>" in (tmp_path / "funnel.svg").read_text()


def test_font_fallback_warns_with_the_fix() -> None:
    drawing()
    from metapool.plots._style import choose_family

    assert choose_family(["Arial", "DejaVu Sans"]) == "Arial"
    assert choose_family(["Liberation Sans"]) == "Liberation Sans"
    with pytest.warns(metapool.MetapoolWarning, match="fonts-liberation"):
        assert choose_family(["DejaVu Sans"]) == "DejaVu Sans"


# -- read from a file, and --check ----------------------------------------------------------


def dich_rows(ids: tuple[str, ...], stored: dict[str, dict[str, Any]] | None = None) -> list[str]:
    return [
        data(
            "DICH",
            i,
            EVENTS_1=COUNTS[i][0],
            TOTAL_1=COUNTS[i][1],
            EVENTS_2=COUNTS[i][2],
            TOTAL_2=COUNTS[i][3],
            ORDER=4 - n,
            **(stored or {}).get(i, {}),
        )
        for n, i in enumerate(ids)
    ]


def stored_study(row: metapool.results.StudyResult, weight: float) -> dict[str, Any]:
    return {
        "EFFECT_SIZE": repr(row.estimate),
        "CI_START": repr(row.ci_lower),
        "CI_END": repr(row.ci_upper),
        "SE": repr(row.se),
        "WEIGHT": repr(weight),
        "ESTIMABLE": "YES",
    }


def stored_pooled(total: metapool.results.Total, het: metapool.results.Heterogeneity) -> dict:
    return {
        "EFFECT_SIZE": repr(total.estimate),
        "CI_START": repr(total.ci_lower),
        "CI_END": repr(total.ci_upper),
        "Z": repr(abs(total.z)),
        "P_Z": repr(total.p_value),
        "CHI2": repr(het.q),
        "DF": repr(het.df),
        "P_CHI2": repr(het.p_value),
        "I2": repr(het.i2),
        "TAU2": "0.0",
        "ESTIMABLE": "YES",
    }


def rm5_file(
    tmp_path: Path, totals: str, outcome_values: dict[str, Any], file_name: str = "review.rm5"
) -> Path:
    """A calculated review of the two subgroups, RevMan's values as ``totals`` shows them."""
    res = by_option()
    weights = shown(by_option(totals={"YES": "all", "SUB": "subtotals"}.get(totals, "none")))
    stored = {}
    for n, i in enumerate(id_ for ids in GROUPS.values() for id_ in ids):
        w = weights.weights[n]
        stored[i] = stored_study(res.studies[n], 0.0 if math.isnan(w) else w)
    groups = []
    for j, (name, ids) in enumerate(GROUPS.items(), start=1):
        sub = res.subgroups[name]
        values = stored_pooled(sub.total, sub.heterogeneity) if totals != "NO" else {}
        groups.append(subgroup("DICH", j, name, dich_rows(ids, stored), **values))
    text = review(
        outcome(
            "DICH",
            1,
            "Deaths",
            groups,
            EFFECT_MEASURE="RR",
            METHOD="MH",
            SUBGROUPS="YES",
            TOTALS=totals,
            SCALE="100.0",
            SORT_BY="USER",
            **outcome_values,
        ),
        calculated=True,
    )
    return write(tmp_path, text, file_name)


def test_subtotals_only_is_checked_against_the_pooled_subgroups(tmp_path: Path) -> None:
    res = by_option()
    # RevMan's outcome estimate: the fixed-effect IV pooling of the subgroup estimates
    log_est = np.array([math.log(s.total.estimate) for s in res.subgroups.values()])
    w = 1 / np.array([s.total.se for s in res.subgroups.values()]) ** 2
    theta, se = float(np.sum(w * log_est) / w.sum()), float(1 / math.sqrt(w.sum()))
    pooled = metapool.results.Total(
        math.exp(theta),
        math.exp(theta - 1.959963984540054 * se),
        math.exp(theta + 1.959963984540054 * se),
        se,
        theta / se,
        math.erfc(abs(theta / se) / math.sqrt(2)),
    )
    values = stored_pooled(pooled, res.heterogeneity)
    path = rm5_file(tmp_path, "SUB", values)
    check = read_rm5(path).compare()
    assert check.passed, str(check)
    quantities = {(d.scope, d.quantity) for d in check.outcomes[0].differences}
    assert ("total", "estimate") in quantities and ("study", "weight") in quantities
    assert ("subgroup", "estimate") in quantities
    # the ordinary overall total is not what RevMan stores here
    wrong = rm5_file(tmp_path, "SUB", stored_pooled(res.total, res.heterogeneity), "wrong.rm5")
    assert not read_rm5(wrong).compare().passed
    assert main([str(path), "--check"]) == 0


def test_no_totals_compares_the_studies_only(tmp_path: Path) -> None:
    zeros = {k: "0.0" for k in ("EFFECT_SIZE", "CI_START", "CI_END", "Z", "P_Z", "CHI2", "I2")}
    path = rm5_file(tmp_path, "NO", {**zeros, "ESTIMABLE": "NO", "DF": "3"})
    outcome_ = read_rm5(path).outcome("1.1")
    assert outcome_.display == {"totals": "none", "subgroup_test": True, "number": "1.1"}
    check = read_rm5(path).compare()
    assert check.passed, str(check)
    assert {d.scope for d in check.outcomes[0].differences} == {"study"}
    assert {d.quantity for d in check.outcomes[0].differences} == {
        "estimate",
        "ci_lower",
        "ci_upper",
        "se",
    }


def test_options_read_from_the_file(tmp_path: Path) -> None:
    drawing()
    res = by_option()
    path = rm5_file(tmp_path, "YES", {**stored_pooled(res.total, res.heterogeneity)})
    outcome_ = read_rm5(path).outcome("1.1")
    assert outcome_.scale == 100.0 and outcome_.sort_by == "USER"
    assert outcome_.study_order == (4.0, 3.0, 4.0, 3.0)
    assert outcome_.study_years == ("2001", "2002", "2003", "2004")
    assert outcome_.group_labels == ("Treated", "Untreated")
    assert read_rm5(path).compare().passed
    text = str(outcome_.analyse())
    assert "1.1.1 Bone marrow" in text.splitlines() and "Total (95% CI)" in text
    fig = outcome_.forest()
    words = texts(fig)
    assert fig.axes[1].get_xlim() == (0.01, 100.0)
    assert {"Treated", "Untreated", "Favours treatment", "Favours none"} <= set(words)
    assert "1.1.2 Umbilical cord" in words
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "study:label"]
    assert labels == ["Beta", "Alpha", "Delta", "Gamma"]  # RevMan's user-defined order
    assert outcome_.forest(sort=None, scale=None).axes[1].get_xlim() != (0.01, 100.0)


def test_sort_by_and_subgroup_test_attributes(tmp_path: Path) -> None:
    drawing()
    rows = dich_rows(tuple(COUNTS))
    text = review(
        outcome("DICH", 1, "By year", rows, EFFECT_MEASURE="OR", SORT_BY="YEAR"),
        outcome("DICH", 2, "By effect", rows, EFFECT_MEASURE="OR", SORT_BY="EFFECT_SIZE"),
        outcome(
            "DICH",
            3,
            "Subgroups, no test",
            [subgroup("DICH", 1, "One", rows[:2]), subgroup("DICH", 2, "Two", rows[2:])],
            EFFECT_MEASURE="OR",
            SUBGROUPS="YES",
            SUBGROUP_TEST="NO",
        ),
        outcome(
            "DICH",
            4,
            "Subtotals",
            [subgroup("DICH", 1, "One", rows[:2]), subgroup("DICH", 2, "Two", rows[2:])],
            EFFECT_MEASURE="OR",
            SUBGROUPS="YES",
            TOTALS="SUB",
        ),
    )
    by_year, by_effect, no_test, subtotals = read_rm5(write(tmp_path, text)).outcomes

    def order(o: metapool.io.Outcome) -> list[str]:
        return [t.get_text() for t in o.forest().axes[0].texts if t.get_gid() == "study:label"]

    assert order(by_year) == ["Alpha", "Beta", "Gamma", "Delta"]
    res = by_effect.analyse()
    assert order(by_effect) == [s.study for s in sorted(res.studies, key=lambda s: s.estimate)]
    assert no_test.display["subgroup_test"] is False
    assert "subgroup differences" not in str(no_test.analyse())
    assert not [w for w in texts(no_test.forest()) if "subgroup differences" in w]
    assert subtotals.analyse().settings.totals == "subtotals"
    assert len(gids(subtotals.forest(), "diamond")) == 2
    assert "Total (95% CI)" not in str(subtotals.analyse())


def test_footnotes_on_study_data(tmp_path: Path) -> None:
    row = data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    noted = row.replace("/>", "><FOOTNOTE>Data from the  authors</FOOTNOTE></DICH_DATA>")
    other = data("DICH", "STD-B", EVENTS_1=3, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)
    path = write(tmp_path, review(outcome("DICH", 1, "D", [noted, other], EFFECT_MEASURE="OR")))
    assert read_rm5(path).outcome("1.1").footnotes == ("Data from the authors", "")


# -- an outcome with no study rows -----------------------------------------------------------


def test_empty_outcome_is_not_estimable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drawing()
    text = review(
        outcome("DICH", 1, "Nothing yet", [], EFFECT_MEASURE="RR", METHOD="MH"),
        outcome("CONT", 2, "Nor here", [], EFFECT_MEASURE="SMD", RANDOM="YES"),
        outcome("IV", 3, "Generic", [], measure="Hazard Ratio", LOG_DATA="YES"),
    )
    path = write(tmp_path, text)
    for o in read_rm5(path).outcomes:
        res = o.analyse()
        assert not res.estimable and res.k == 0 and math.isnan(res.total.estimate)
        table = str(res)
        assert "Total (95% CI)" in table and "Not estimable" in table
        assert "Heterogeneity: Not applicable" in table
        fig = o.forest()
        assert gids(fig, "diamond") == [] and "Not estimable" in texts(fig)
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("Not estimable") == 3
    assert read_rm5(path).compare().passed
    # the file stores no RevMan results: nothing to compare
    assert main([str(path), "--check"]) == 3
    assert "compared nothing" in capsys.readouterr().err
    pytest.importorskip("pandas")
    frame = read_rm5(path).outcome("1.1").analyse(totals="none").to_dataframe()
    assert frame.shape[0] == 0 and "estimate" in frame.columns


# -- generic inverse variance: the measure's own name, LOG_DATA decides the scale -------------


def test_generic_measure_name_and_log_data(tmp_path: Path) -> None:
    drawing()
    rows = [
        data("IV", "STD-A", EFFECT_SIZE="0.8", SE="0.2"),
        data("IV", "STD-B", EFFECT_SIZE="1.25", SE="0.3"),
    ]
    text = review(
        outcome("IV", 1, "Ratio", rows, measure="Ratio of means", LOG_DATA="YES"),
        outcome("IV", 2, "Difference", rows, measure="Hazard Ratio", LOG_DATA="NO"),
    )
    ratio, difference = read_rm5(write(tmp_path, text)).outcomes
    res = ratio.analyse()
    assert res.settings.measure == "Ratio of means" and res.settings.ratio
    assert res.settings.label == "Ratio of means IV, Fixed, 95% CI"
    table = str(res)
    assert "log[Ratio of means]" in table and "Ratio of means IV, Fixed, 95% CI" in table
    assert "RATIO OF MEANS" not in table
    assert math.isclose(res.studies[0].estimate, 0.8, rel_tol=1e-14)  # stored exponentiated
    fig = ratio.forest()
    words = texts(fig)
    assert "Ratio of means" in words and "log[Ratio of means]" in words
    assert fig.axes[1].get_xscale() == "log"

    other = difference.analyse()
    assert not other.settings.ratio and other.settings.measure_name == "Hazard Ratio"
    assert math.isclose(other.studies[1].estimate, 1.25, rel_tol=1e-14)  # as entered
    assert difference.forest().axes[1].get_xscale() == "linear"
    assert "Hazard Ratio IV, Fixed, 95% CI" in str(other)


def test_o_minus_e_measure_keeps_its_name() -> None:
    drawing()
    rows = [metapool.OMinusE("A", -2.0, 5.0), metapool.OMinusE("B", -1.0, 4.0)]
    res = metapool.analyse(rows, measure="Rate ratio", method="IV")
    assert res.settings.label == "Rate ratio IV, Fixed, 95% CI" and res.settings.ratio
    assert "Rate ratio" in texts(res.forest())
    assert res.funnel().axes[0].get_xlabel() == "Rate ratio"


def test_subtotals_without_subgroups_show_nothing_pooled(tmp_path: Path) -> None:
    ids = tuple(COUNTS)
    res = metapool.analyse([Dichotomous(NAMES[i], *COUNTS[i]) for i in ids], measure="RR")
    stored = {i: stored_study(res.studies[n], 0.0) for n, i in enumerate(ids)}
    zeros = {k: "0.0" for k in ("EFFECT_SIZE", "CI_START", "CI_END", "Z", "P_Z", "CHI2", "I2")}
    text = review(
        outcome("DICH", 1, "D", dich_rows(ids, stored), EFFECT_MEASURE="RR", TOTALS="SUB", **zeros),
        calculated=True,
    )
    only = read_rm5(write(tmp_path, text)).outcome("1.1")
    assert only.display["totals"] == "subtotals"
    table = "\n".join(str(only.analyse()).splitlines()[2:])
    assert "Total" not in table and "%" not in table
    check = read_rm5(write(tmp_path, text)).compare()
    assert check.passed and {d.scope for d in check.outcomes[0].differences} == {"study"}


def test_csv_user_order_years_and_totals(tmp_path: Path) -> None:
    header = (
        "Comparison Number,Outcome Number,Subgroup Number,Name,Data Type,Statistical Method,"
        "Effect Measure,Analysis Model,Events 1,Total 1,Events 2,Total 2,Totals,"
        "Year of study,User defined order\r\n"
    )
    lines = [
        "1,0,0,A vs B,,,,,,,,,,,",
        "1,1,0,Deaths,DIC,MH,RR,Fixed,,,,,No totals,,",
        *(
            f"1,1,0,{NAMES[i]},,,,,{e1},{n1},{e2},{n2},,{2004 - n},{n + 1}"
            for n, (i, (e1, n1, e2, n2)) in enumerate(COUNTS.items())
        ),
    ]
    path = tmp_path / "export.csv"
    path.write_text(header + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    deaths = metapool.read_revman_csv(path).outcome("1.1")
    assert deaths.study_order == (1.0, 2.0, 3.0, 4.0)
    assert deaths.study_years == ("2004", "2003", "2002", "2001")
    assert deaths.display["totals"] == "none"
    assert "Total (95% CI)" not in str(deaths.analyse())


def test_datapackage_footnotes_and_display(tmp_path: Path) -> None:
    import csv
    import io
    import zipfile

    def table(rows: list[dict[str, object]]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode("utf-8-sig")

    overall = {
        "Analysis group": 1,
        "Analysis number": 1,
        "Analysis name": "Deaths",
        "Data type": "Dichotomous",
        "Statistical method": "MH",
        "Effect measure": "Risk Ratio",
        "Analysis model": "Fixed effect",
        "Overall estimates": "false",
        "Subgroup estimates": "true",
        "Test for subgroup differences": "false",
        "Study CI": "95%",
        "Estimate CI": "95%",
    }
    rows = [
        {
            "Analysis group": 1,
            "Analysis number": 1,
            "Subgroup": name,
            "Applicability": "SUBGROUP_AND_OVERALL",
            "Study": NAMES[i],
            "Study year": "2001",
            "Experimental cases": COUNTS[i][0],
            "Experimental N": COUNTS[i][1],
            "Control cases": COUNTS[i][2],
            "Control N": COUNTS[i][3],
            "Footnotes": "Adjusted counts" if i == "STD-C" else "",
        }
        for name, ids in GROUPS.items()
        for i in ids
    ]
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X-analysis-data/X-overall-estimates-and-settings.csv", table([overall]))
        zf.writestr("X-analysis-data/X-data-rows.csv", table(rows))
    deaths = metapool.read_datapackage(path).outcome("1.1")
    assert deaths.footnotes == ("", "", "Adjusted counts", "")
    assert deaths.study_years == ("2001",) * 4
    assert deaths.display == {"totals": "subtotals", "subgroup_test": False, "number": "1.1"}
    text = str(deaths.analyse())
    assert "1.1.2 Umbilical cord" in text.splitlines() and "Total (95% CI)" not in text
    assert "subgroup differences" not in text
