"""read_datapackage: RevMan Web's data package of Fleiss (1993), and synthetic packages."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from _helpers import close_to_revman
from revman_files import FLEISS_SETTINGS, ZIP, example

from metapool import Dichotomous, Generic, InputError
from metapool.cli import main
from metapool.io import read_datapackage, read_review

# RevMan Web's stored values (6 decimals): study -> Mean, CI start, CI end, Weight
ASPIRIN = {
    "AMIS": (1.132736, 0.934665, 1.372783, 10.153491),
    "CDP": (0.68076, 0.457391, 1.013212, 3.101689),
    "GASP": (0.800739, 0.486261, 1.318597, 1.795485),
    "ISIS-2": (0.894969, 0.829418, 0.965702, 72.87984),
    "MRC-1": (0.719714, 0.488975, 1.059336, 3.17649),
    "MRC-2": (0.80287, 0.606453, 1.062903, 5.67538),
    "PARIS": (0.798143, 0.552563, 1.152868, 3.217624),
}


def test_fleiss_package() -> None:
    rv = read_datapackage(example(ZIP))
    assert rv.format == "datapackage" and len(rv.studies) == 12
    aspirin, smd = rv.outcomes
    assert aspirin.id == "analysis:444821446161559182"
    assert aspirin.settings == FLEISS_SETTINGS
    assert aspirin.studies[0] == Dichotomous("AMIS", 246, 2267, 219, 2257)
    assert smd.settings["measure"] == "SMD"
    # RevMan Web wrote zeros for the SMD analysis it did not compute: nothing stored
    assert smd.revman is None
    stored = aspirin.revman
    assert stored is not None and stored.decimals == 6
    res = aspirin.analyse()
    for row in res.studies:
        expected = ASPIRIN[row.study]
        for a, b in zip(
            (row.estimate, row.ci_lower, row.ci_upper, row.weight), expected, strict=True
        ):
            assert close_to_revman(a, b, 6), (row.study, a, b)
    t, h = res.total, res.heterogeneity
    for a, b in (
        (t.estimate, 0.896866),
        (t.ci_lower, 0.840514),
        (t.ci_upper, 0.956995),
        (h.q, 9.946056),
        (h.i2, 39.67458),
        (abs(t.z), 3.287633),
    ):
        assert close_to_revman(a, b, 6), (a, b)
    assert close_to_revman(h.p_value, 0.126942, 6, p_value=True)
    assert close_to_revman(t.p_value, 0.00101, 6, p_value=True)
    assert h.df == 6
    check = rv.compare()
    assert check.passed and len(check.outcomes[0].differences) == 7 * 4 + 9


# -- synthetic packages --------------------------------------------------------------------

OVERALL = [
    "Analysis group",
    "Analysis number",
    "Analysis name",
    "Analysis group name",
    "Data source",
    "Data source eligibility",
    "Data type",
    "Log-scale data",
    "Outcome",
    "Intervention grouping",
    "Experimental intervention",
    "Control intervention",
    "Subgroup by",
    "Filter criteria",
    "Experimental group label",
    "Control group label",
    "Statistical method",
    "Effect measure",
    "Unit of effect measure",
    "Analysis model",
    "Subgroup estimates",
    "Overall estimates",
    "Test for subgroup differences",
    "Swap event and non-event",
    "Study CI",
    "Estimate CI",
    "Experimental cases",
    "Experimental N",
    "Control cases",
    "Control N",
    "Mean",
    "CI start",
    "CI end",
    "Heterogeneity Tau²",
    "Heterogeneity Chi²",
    "Heterogeneity df",
    "Heterogeneity P",
    "Heterogeneity I²",
    "Effect Z",
    "Effect P",
    "Subgroup Chi²",
    "Subgroup df",
    "Subgroup P",
    "Subgroup I²",
    "ID",
]
ROWS = [
    "Analysis group",
    "Analysis number",
    "Analysis name",
    "Subgroup",
    "Applicability",
    "Study",
    "Study year",
    "GIV Mean",
    "GIV SE",
    "Experimental mean",
    "Experimental SD",
    "Experimental cases",
    "Experimental N",
    "Control mean",
    "Control SD",
    "Control cases",
    "Control N",
    "O-E",
    "Variance",
    "Weight",
    "Mean",
    "CI start",
    "CI end",
    "Footnotes",
]
SUBGROUPS = [
    "Analysis group",
    "Analysis number",
    "Subgroup",
    "Subgroup number",
    "Experimental cases",
    "Experimental N",
    "Control cases",
    "Control N",
    "Weight",
    "Mean",
    "CI start",
    "CI end",
    "Heterogeneity Tau²",
    "Heterogeneity Chi²",
    "Heterogeneity df",
    "Heterogeneity P",
    "Heterogeneity I²",
    "Effect Z",
    "Effect P",
    "ID",
]


def table(header: list[str], rows: list[dict[str, object]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def package(
    tmp_path: Path,
    overall: list[dict[str, object]],
    rows: list[dict[str, object]],
    subgroups: list[dict[str, object]] | None = None,
) -> Path:
    path = tmp_path / "CD000000-datapackage.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "CD0-analysis-data/CD0-overall-estimates-and-settings.csv", table(OVERALL, overall)
        )
        zf.writestr("CD0-analysis-data/CD0-data-rows.csv", table(ROWS, rows))
        if subgroups is not None:
            zf.writestr("CD0-analysis-data/CD0-subgroup-estimates.csv", table(SUBGROUPS, subgroups))
    return path


def analysis(number: int, **cells: object) -> dict[str, object]:
    return {
        "Analysis group": 1,
        "Analysis number": number,
        "Analysis group name": "A vs B",
        "Analysis model": "Random effects",
        "Study CI": "95%",
        "Estimate CI": "95%",
        "Overall estimates": "true",
        "Subgroup estimates": "true",
        "Test for subgroup differences": "true",
        "Swap event and non-event": "false",
        **cells,
    }


def row(
    number: int, study: str, cells: Mapping[str, object], subgroup: str = ""
) -> dict[str, object]:
    return {
        "Analysis group": 1,
        "Analysis number": number,
        "Study": study,
        "Subgroup": subgroup,
        "Applicability": "SUBGROUP_AND_OVERALL",
        "GIV Mean": "0.0",
        "GIV SE": "0.0",
        "Experimental cases": 0,
        "Experimental N": 0,
        "Control cases": 0,
        "Control N": 0,
        "O-E": "0.0",
        "Variance": "0.0",
        **cells,
    }


def counts(e1: int, n1: int, e2: int, n2: int) -> dict[str, object]:
    return {"Experimental cases": e1, "Experimental N": n1, "Control cases": e2, "Control N": n2}


def adults_and_children() -> list[dict[str, object]]:
    """Three trials of analysis 1 in two subgroups."""
    return [
        row(1, "Alpha", counts(12, 100, 20, 100), "Adults"),
        row(1, "Beta", counts(5, 50, 9, 48), "Adults"),
        row(1, "Gamma", counts(30, 120, 31, 118), "Children"),
    ]


def test_subgroups_and_generic_data(tmp_path: Path) -> None:
    overall = [
        analysis(
            1,
            **{
                "Analysis name": "Deaths",
                "Data type": "Dichotomous",
                "Statistical method": "MH",
                "Effect measure": "Risk Ratio",
            },
        ),
        analysis(
            2,
            **{
                "Analysis name": "Survival",
                "Data type": "Generic inverse variance",
                "Log-scale data": "true",
                "Statistical method": "IV",
                "Effect measure": "Hazard Ratio",
                "Analysis model": "Fixed effect",
            },
        ),
    ]
    rows = [
        *adults_and_children(),
        row(2, "Alpha", {"GIV Mean": math.log(0.8), "GIV SE": 0.2}),
    ]
    rv = read_datapackage(package(tmp_path, overall, rows, subgroups=[]))
    deaths, survival = rv.outcomes
    assert deaths.settings["model"] == "random" and deaths.settings["measure"] == "RR"
    assert [s.subgroup for s in deaths.studies] == ["Adults", "Adults", "Children"]
    assert list(deaths.analyse().subgroups) == ["Adults", "Children"]
    assert survival.settings["ratio"] is True and survival.settings["measure"] == "HR"
    # the data package keeps generic ratio data on the log scale
    assert survival.studies == (Generic("Alpha", math.log(0.8), 0.2),)
    assert rv.studies == ()  # no study information file


def test_stored_subgroup_results_are_compared(tmp_path: Path) -> None:
    overall = [
        analysis(
            1,
            **{
                "Analysis name": "Deaths",
                "Data type": "Dichotomous",
                "Statistical method": "IV",
                "Effect measure": "Odds Ratio",
            },
        )
    ]
    rows = [
        *adults_and_children(),
        row(1, "Delta", counts(7, 60, 12, 61), "Children"),
    ]
    first = read_datapackage(package(tmp_path, overall, rows)).outcome("1.1")
    res = first.analyse()

    def six(x: float) -> str:  # RevMan Web's rounding
        return f"{x:.6f}"

    def results(part: object, **extra: object) -> dict[str, object]:
        t, h = part.total, part.heterogeneity  # type: ignore[attr-defined]
        return {
            "Mean": six(t.estimate),
            "CI start": six(t.ci_lower),
            "CI end": six(t.ci_upper),
            "Heterogeneity Tau²": six(h.tau2),
            "Heterogeneity Chi²": six(h.q),
            "Heterogeneity df": int(h.df),
            "Heterogeneity P": six(h.p_value),
            "Heterogeneity I²": six(h.i2),
            "Effect Z": six(abs(t.z)),
            "Effect P": six(t.p_value),
            **extra,
        }

    d = res.subgroup_differences
    assert d is not None
    overall[0].update(
        results(
            res,
            **{
                "Subgroup Chi²": six(d.q),
                "Subgroup df": 1,
                "Subgroup P": six(d.p_value),
                "Subgroup I²": six(d.i2),
            },
        )
    )
    for r, s in zip(rows, res.studies, strict=True):
        r.update(
            {
                "Weight": six(s.weight),
                "Mean": six(s.estimate),
                "CI start": six(s.ci_lower),
                "CI end": six(s.ci_upper),
            }
        )
    subgroups = [
        {
            "Analysis group": 1,
            "Analysis number": 1,
            "Subgroup": name,
            "Subgroup number": i + 1,
            **results(part),
        }
        for i, (name, part) in enumerate(res.subgroups.items())
    ]
    rv = read_datapackage(package(tmp_path, overall, rows, subgroups))
    check = rv.compare()
    assert check.passed, str(check)
    scopes = {d.scope for d in check.outcomes[0].differences}
    assert scopes == {"study", "subgroup", "total", "subgroup differences"}
    # a value off by more than half a unit in the sixth decimal is reported
    rows[2]["Weight"] = six(res.studies[2].weight + 2e-6)
    failed = read_datapackage(package(tmp_path, overall, rows, subgroups)).compare()
    assert not failed.passed
    (bad,) = failed.outcomes[0].failures
    assert (bad.scope, bad.name, bad.quantity) == ("study", "Gamma [Children]", "weight")


def test_unsupported_applicability(tmp_path: Path) -> None:
    overall = [analysis(1, **{"Data type": "Dichotomous", "Effect measure": "Odds Ratio"})]
    rows = [row(1, "Alpha", {**counts(1, 10, 2, 10), "Applicability": "OVERALL_ONLY"})]
    error = read_datapackage(package(tmp_path, overall, rows)).outcome("1.1").error
    assert error is not None and "'OVERALL_ONLY'" in error and "'Alpha'" in error


def test_broken_packages(tmp_path: Path) -> None:
    overall = [analysis(1, **{"Data type": "Dichotomous", "Effect measure": "Odds Ratio"})]
    with pytest.raises(InputError, match=r"analysis 1\.2 is not listed"):
        read_datapackage(package(tmp_path, overall, [row(2, "Alpha", counts(1, 10, 2, 10))]))
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    with pytest.raises(InputError, match=r"not\.zip: cannot read the zip"):
        read_datapackage(not_zip)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(InputError, match=r"no file '\*-overall-estimates-and-settings\.csv'"):
        read_datapackage(empty)
    text = [row(1, "Alpha", {**counts(1, 10, 2, 10), "Experimental N": "ten"})]
    error = read_datapackage(package(tmp_path, overall, text)).outcome("1.1").error
    assert error is not None and "Experimental N = 'ten' is not a number" in error


# -- RevMan Web's Export zip, damaged packages ---------------------------------------------


def export_zip(tmp_path: Path, inner: bytes, folder: str = "Fleiss1993/") -> Path:
    """The zip RevMan Web's Export button writes (as R meta's read.cdir reads it): the review's
    PDF and forest plots, and the data package nested as ``<id>-files/<id>-data.zip``."""
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}123-article.pdf", b"%PDF-1.4 not a real PDF")
        zf.writestr(f"{folder}123-files/123-CMP-001.01.svg", b"<svg/>")
        zf.writestr(f"{folder}123-files/123-data.zip", inner, zipfile.ZIP_STORED)
    return path


@pytest.mark.parametrize("folder", ["Fleiss1993/", ""])
def test_export_zip_of_the_fleiss_package(tmp_path: Path, folder: str) -> None:
    inner = example(ZIP).read_bytes()
    path = export_zip(tmp_path, inner, folder)
    rv = read_review(path)
    direct = read_datapackage(example(ZIP))
    assert rv.format == "datapackage" and rv.source == str(path)
    assert [o.studies for o in rv.outcomes] == [o.studies for o in direct.outcomes]
    assert [o.settings for o in rv.outcomes] == [o.settings for o in direct.outcomes]
    check = rv.compare()
    assert check.passed and len(check.outcomes[0].differences) == 7 * 4 + 9
    assert main([str(path), "--check"]) == 0


def test_export_zip_errors_name_the_nested_package(tmp_path: Path) -> None:
    path = export_zip(tmp_path, b"not a zip")
    with pytest.raises(InputError, match=r"export\.zip:Fleiss1993/123-files/123-data\.zip: cannot"):
        read_review(path)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a/1-files/1-data.zip", b"")
        zf.writestr("b/2-files/2-data.zip", b"")
    with pytest.raises(InputError, match="holds 2 data packages"):
        read_datapackage(two)


DEATHS = analysis(
    1,
    **{
        "Analysis name": "Deaths",
        "Data type": "Dichotomous",
        "Statistical method": "MH",
        "Effect measure": "Odds Ratio",
        "Experimental N": 30,
        "Control N": 30,
    },
)


def test_missing_data_rows_do_not_pass_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row(1, "Alpha", counts(1, 10, 2, 10)), row(1, "Beta", counts(3, 20, 4, 20))]
    assert read_datapackage(package(tmp_path, [DEATHS], rows)).outcome("1.1").error is None
    for kept in (rows[:1], []):  # a row lost, or every row (the file has only its header)
        path = package(tmp_path, [DEATHS], kept)
        error = read_datapackage(path).outcome("1.1").error
        assert error is not None and "its Experimental N is 30 but its" in error
        assert "study rows are missing" in error
        assert main([str(path), "--check"]) == 2
        assert "study rows are missing" in capsys.readouterr().err


def test_duplicate_analyses_and_studies(tmp_path: Path) -> None:
    second = {**DEATHS, "Analysis number": 2, "Experimental N": "", "Control N": ""}
    rows = [
        row(1, "Alpha", counts(1, 10, 2, 10)),
        row(1, "Beta", counts(3, 20, 4, 20)),
        row(2, "Alpha", counts(1, 10, 2, 10)),
        row(2, "Alpha", counts(1, 10, 2, 10)),
    ]
    rv = read_datapackage(package(tmp_path, [DEATHS, second, dict(second)], rows))
    first, *twice = rv.outcomes
    assert first.error is None and len(twice) == 2
    for outcome in twice:
        assert outcome.error is not None and "2 outcomes are numbered 1.2" in outcome.error


def test_row_that_does_not_fit_the_header(tmp_path: Path) -> None:
    path = package(tmp_path, [DEATHS], [row(1, "Alpha", counts(1, 10, 2, 10))])
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = "CD0-analysis-data/CD0-data-rows.csv"
    members[name] += b"1,1,Deaths,,SUBGROUP_AND_OVERALL,Beta,2001,0.0\r\n"  # cut short
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    error = read_datapackage(path).outcome("1.1").error
    assert (
        error is not None
        and "CD0-data-rows.csv: line 3 has 8 cells where the header has 24" in error
    )
