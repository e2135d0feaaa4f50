"""read_revman_csv: RevMan 5's "Data and analyses" export of Fleiss (1993), and synthetic ones."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from _helpers import close_to_revman
from revman_files import CSV, FLEISS_SETTINGS, example

import metapool
from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE
from metapool.io import read_revman_csv
from metapool.vocabulary import DataType

# RevMan's computed columns (8 decimals): study -> Effect Estimate, SE, CI Start, CI End, Weight
ASPIRIN = {
    "MRC-1": (0.71971415, 0.19721981, 0.48897453, 1.05933628, 3.17649),
    "CDP": (0.6807598, 0.20289717, 0.4573909, 1.01321191, 3.10168911),
    "MRC-2": (0.80287019, 0.14314855, 0.60645288, 1.06290292, 5.67538044),
    "GASP": (0.80073869, 0.2544889, 0.48626104, 1.31859721, 1.79548462),
    "PARIS": (0.79814324, 0.18761568, 0.55256335, 1.15286803, 3.21762436),
    "AMIS": (1.1327364, 0.09806494, 0.93466468, 1.37278298, 10.15349122),
    "ISIS-2": (0.89496936, 0.03880977, 0.82941758, 0.96570193, 72.87984024),
}
MENTAL_HEALTH = {
    "Davis": (-1.5, 1.67630546, -4.78549833, 1.78549833, 2.79315513),
    "Florell": (-1.2, 0.45085474, -2.08365906, -0.31634094, 38.61251498),
    "Gruen": (-2.4, 1.89175731, -6.10777619, 1.30777619, 2.19316111),
    "Hart": (0.2, 0.49580742, -0.77176469, 1.17176469, 31.92826572),
    "Wilson": (-0.88, 0.56631484, -1.98995669, 0.22995669, 24.47290305),
}
# Effect Estimate, CI Start, CI End, Q, P(Q), I²(Q), Tau², Z, P(Z), df
TOTALS = {
    "1.1": (
        0.89686556,
        0.8405144,
        0.95699471,
        9.94605598,
        0.12694225,
        39.67458046,
        0,
        3.28763306,
        0.00101033,
        6,
    ),
    "1.2": (
        -0.70938839,
        -1.25848502,
        -0.16029176,
        5.66012379,
        0.22600895,
        29.33016758,
        0,
        2.53211477,
        0.01133769,
        4,
    ),
}


@pytest.fixture(scope="module")
def fleiss() -> metapool.io.Review:
    return read_revman_csv(example(CSV))


def test_structure(fleiss: metapool.io.Review) -> None:
    assert fleiss.title == "Fleiss1993_CR" and fleiss.format == "revman_csv"
    assert [(c.number, c.name) for c in fleiss.comparisons] == [(1, "Examples from Fleiss (1993)")]
    aspirin, mental = fleiss.outcomes
    assert aspirin.settings == FLEISS_SETTINGS
    assert aspirin.studies[0] == Dichotomous("MRC-1", 49, 615, 67, 624)  # Mean/SD zeros ignored
    assert aspirin.group_labels == ("Aspirin", "Control")
    assert mental.data_type is DataType.CONTINUOUS
    assert mental.settings["measure"] == "MD" and mental.settings["method"] == "IV"
    assert mental.studies[-1] == Continuous("Wilson", 6.5, 0.76, 8, 7.38, 1.41, 8)
    assert metapool.io.StudyInfo("Florell", "Florell", "1971") in fleiss.studies
    assert aspirin.revman is not None and aspirin.revman.decimals == 8


@pytest.mark.parametrize(("key", "studies"), [("1.1", ASPIRIN), ("1.2", MENTAL_HEALTH)])
def test_every_stored_value(
    fleiss: metapool.io.Review, key: str, studies: dict[str, tuple[float, ...]]
) -> None:
    res = fleiss.outcome(key).analyse()
    for row in res.studies:
        expected = studies[row.study]
        ours = (row.estimate, row.se, row.ci_lower, row.ci_upper, row.weight)
        for a, b in zip(ours, expected, strict=True):
            assert close_to_revman(a, b, 8), (row.study, a, b)
    t, h = res.total, res.heterogeneity
    est, lo, hi, q, p_q, i2, tau2, z, p_z, df = TOTALS[key]
    for a, b in (
        (t.estimate, est),
        (t.ci_lower, lo),
        (t.ci_upper, hi),
        (h.q, q),
        (h.i2, i2),
        (h.tau2, tau2),
        (abs(t.z), z),
    ):
        assert close_to_revman(a, b, 8), (a, b)
    assert close_to_revman(h.p_value, p_q, 8, p_value=True)
    assert close_to_revman(t.p_value, p_z, 8, p_value=True)
    assert h.df == df


def test_compare_passes(fleiss: metapool.io.Review) -> None:
    check = fleiss.compare()
    assert check.passed
    assert [len(o.differences) for o in check.outcomes] == [45, 35]


# -- synthetic exports ---------------------------------------------------------------------

HEADER = [
    "Comparison Number",
    "Outcome Number",
    "Subgroup Number",
    "Name",
    "Data Type",
    "Statistical Method",
    "Effect Measure",
    "Analysis Model",
    "Events 1",
    "Mean 1",
    "SD 1",
    "Total 1",
    "Events 2",
    "Mean 2",
    "SD 2",
    "Total 2",
    "Effect Estimate",
    "SE",
    "CI Start",
    "CI End",
    "Weight",
    "Q",
    "P(Q)",
    "I²(Q)",
    "Tau²",
    "Z",
    "P(Z)",
    "Qint",
    "P(Qint)",
    "I²(Qint)",
    "df",
    "Group Label 1",
    "Group Label 2",
    "Left Graph Label",
    "Right Graph Label",
    "Year of study",
    "User defined order",
    "O-E",
    "Var",
    "Totals",
    "Study Confidence Interval",
    "Total Confidence Interval",
    "Test for subgroup differences",
    "Swap event and non-event",
    "Entered data are on log scale (Generic Inverse Variance only)",
]


def export(rows: list[dict[str, object]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def head(c: int, o: int, s: int, name: str, **cells: object) -> dict[str, object]:
    return {
        "Comparison Number": c,
        "Outcome Number": o,
        "Subgroup Number": s,
        "Name": name,
        **cells,
    }


def dich(
    c: int, o: int, s: int, name: str, e1: object, n1: object, e2: object, n2: object
) -> dict[str, object]:
    return head(
        c,
        o,
        s,
        name,
        **{
            "Events 1": e1,
            "Total 1": n1,
            "Events 2": e2,
            "Total 2": n2,
            "Mean 1": 0,
            "SD 1": 0,
            "Mean 2": 0,
            "SD 2": 0,
        },
    )


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    return path


SUBGROUPED = [
    head(1, 0, 0, "Drug vs placebo"),
    head(
        1,
        1,
        0,
        "Deaths",
        **{
            "Data Type": "DIC",
            "Statistical Method": "MH",
            "Effect Measure": "RR",
            "Analysis Model": "Random",
            "Totals": "Yes",
            "Study Confidence Interval": "90%",
            "Total Confidence Interval": "99%",
            "Swap event and non-event": "No",
        },
    ),
    head(1, 1, 1, "Adults", **{"Data Type": "DIC"}),
    dich(1, 1, 1, "Alpha", 12, 100, 20, 100),
    dich(1, 1, 1, "Beta", "", "", 9, 48),
    head(1, 1, 2, "Children", **{"Data Type": "DIC"}),
    dich(1, 1, 2, "Gamma", 30, 120, 31, 118),
    dich(1, 1, 2, "Delta", 7, 60, 12, 61),
    head(2, 0, 0, "Dose comparison"),
    head(
        2,
        1,
        0,
        "Hazard",
        **{
            "Data Type": "IV",
            "Statistical Method": "IV",
            "Effect Measure": "Hazard Ratio",
            "Analysis Model": "Fixed",
            "Entered data are on log scale (Generic Inverse Variance only)": "Yes",
        },
    ),
    head(2, 1, 0, "Alpha", **{"Effect Estimate": 0.8, "SE": 0.2}),
    head(2, 1, 0, "Beta", **{"Effect Estimate": 0.6, "SE": 0.25}),
    head(
        2,
        2,
        0,
        "Relapse",
        **{
            "Data Type": "IPD",
            "Statistical Method": "EXP_O_E_VAR",
            "Effect Measure": "Peto Odds Ratio",
            "Analysis Model": "Fixed",
        },
    ),
    head(2, 2, 0, "Gamma", **{"O-E": -3.5, "Var": 10.2}),
]


def test_subgroups_generic_and_o_minus_e(tmp_path: Path) -> None:
    rv = read_revman_csv(write(tmp_path, export(SUBGROUPED)))
    deaths, hazard, relapse = rv.outcomes
    assert [c.name for c in rv.comparisons] == ["Drug vs placebo", "Dose comparison"]
    assert deaths.settings == {
        "measure": "RR",
        "method": "MH",
        "model": "random",
        "ci_level": 0.99,
        "study_ci_level": 0.9,
        "swap_events": False,
    }
    assert deaths.studies == (
        Dichotomous("Alpha", 12, 100, 20, 100, "Adults"),
        Dichotomous("Beta", None, None, 9, 48, "Adults"),
        Dichotomous("Gamma", 30, 120, 31, 118, "Children"),
        Dichotomous("Delta", 7, 60, 12, 61, "Children"),
    )
    res = deaths.analyse()
    assert list(res.subgroups) == ["Adults", "Children"] and res.k == 3
    assert hazard.key == "2.1" and hazard.settings["ratio"] is True
    assert hazard.studies[0] == Generic("Alpha", math.log(0.8), 0.2)
    assert relapse.settings["method"] == "PETO"
    assert relapse.studies == (OMinusE("Gamma", -3.5, 10.2),)
    assert deaths.revman is None  # no computed columns filled in


def test_semicolon_export_with_decimal_commas(tmp_path: Path) -> None:
    rows = [
        head(1, 0, 0, "C"),
        head(
            1,
            1,
            0,
            "Pain",
            **{
                "Data Type": "CON",
                "Statistical Method": "IV",
                "Effect Measure": "MD",
                "Analysis Model": "Fixed",
            },
        ),
        head(
            1,
            1,
            0,
            "Alpha",
            **{
                "Mean 1": "3,1",
                "SD 1": "1,2",
                "Total 1": 30,
                "Mean 2": "4,0",
                "SD 2": "1,3",
                "Total 2": 31,
            },
        ),
    ]
    out = read_revman_csv(write(tmp_path, export(rows, ";"), "cp1252")).outcome("1.1")
    assert out.studies == (Continuous("Alpha", 3.1, 1.2, 30, 4.0, 1.3, 31),)


def test_bad_cells(tmp_path: Path) -> None:
    rows = [
        head(1, 0, 0, "C"),
        head(
            1,
            1,
            0,
            "Good",
            **{"Data Type": "DIC", "Effect Measure": "OR", "Analysis Model": "Fixed"},
        ),
        dich(1, 1, 0, "Alpha", 1, 10, 2, 10),
        head(
            1,
            2,
            0,
            "Bad",
            **{"Data Type": "DIC", "Effect Measure": "OR", "Analysis Model": "Fixed"},
        ),
        dich(1, 2, 0, "Alpha", "twelve", 10, 2, 10),
        head(
            1,
            3,
            0,
            "Model",
            **{"Data Type": "DIC", "Effect Measure": "OR", "Analysis Model": "Mixed"},
        ),
        head(
            1,
            4,
            0,
            "Stored",
            **{"Data Type": "DIC", "Effect Measure": "OR", "Effect Estimate": "high"},
        ),
        head(1, 5, 0, "Kind", **{"Data Type": "DTA", "Effect Measure": "OR"}),
    ]
    rv = read_revman_csv(write(tmp_path, export(rows)))
    good, bad, model, stored, kind = rv.outcomes
    assert good.error is None
    assert bad.error is not None
    assert "outcome 1.2 'Bad'" in bad.error and "'Alpha'" in bad.error
    assert "Events 1 = 'twelve' is not a number" in bad.error
    assert model.error is not None and "'Analysis Model' = 'Mixed'" in model.error
    assert stored.error is not None and "Effect Estimate = 'high'" in stored.error
    assert kind.error is not None and "'DTA'" in kind.error


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a RevMan CSV export"):
        read_revman_csv(write(tmp_path, "a,b,c\n1,2,3\n"))
    with pytest.raises(InputError, match="'Subgroup Number'"):
        read_revman_csv(write(tmp_path, "Comparison Number,Outcome Number,Name\n1,0,x\n"))
    with pytest.raises(InputError, match="line 3"):
        read_revman_csv(write(tmp_path, export([head(1, 0, 0, "C"), {"Name": "x"}])))


# -- hostile and damaged exports --------------------------------------------------------------

PAIN = [
    head(1, 0, 0, "C"),
    head(
        1,
        1,
        0,
        "Pain",
        **{
            "Data Type": "CON",
            "Statistical Method": "IV",
            "Effect Measure": "MD",
            "Analysis Model": "Fixed",
            "Total 1": 50,
            "Total 2": 52,
        },
    ),
    head(
        1,
        1,
        0,
        "Alpha",
        **{"Mean 1": 3.1, "SD 1": 4.7, "Total 1": 30, "Mean 2": 4.0, "SD 2": 1.3, "Total 2": 31},
    ),
    head(
        1,
        1,
        0,
        "Beta",
        **{"Mean 1": 2.5, "SD 1": 1.25, "Total 1": 20, "Mean 2": 3, "SD 2": 1.5, "Total 2": 21},
    ),
]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_decimal_points_with_other_delimiters(tmp_path: Path, delimiter: str) -> None:
    """SD 4.7 stays 4.7 (it was read as 47: every delimiter but a comma meant decimal commas)."""
    out = read_revman_csv(write(tmp_path, export(PAIN, delimiter))).outcome("1.1")
    assert out.error is None
    assert out.studies == (
        Continuous("Alpha", 3.1, 4.7, 30, 4.0, 1.3, 31),
        Continuous("Beta", 2.5, 1.25, 20, 3, 1.5, 21),
    )


def test_decimal_commas_with_grouped_thousands(tmp_path: Path) -> None:
    rows = [dict(r) for r in PAIN[:3]]
    rows[1].update({"Total 1": "1.010", "Total 2": "1.011"})
    rows[2].update(
        {"Mean 1": "3,1", "SD 1": "4,7", "Total 1": "1.010", "Mean 2": "4", "SD 2": "1,3"}
    )
    rows[2]["Total 2"] = "1.011"
    out = read_revman_csv(write(tmp_path, export(rows, ";"))).outcome("1.1")
    assert out.error is None
    assert out.studies == (Continuous("Alpha", 3.1, 4.7, 1010, 4.0, 1.3, 1011),)


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        ({"SD 1": "4.7", "Mean 1": "3,1"}, "neither way"),  # both marks as decimals
        ({"SD 1": "4,700", "Mean 1": "3,100", "Mean 2": "4", "SD 2": "1"}, "either way"),
    ],
)
def test_undecidable_decimal_mark_is_refused(
    tmp_path: Path, cells: dict[str, str], why: str
) -> None:
    rows = [dict(r) for r in PAIN[:3]]
    rows[1].update({"Total 1": "", "Total 2": ""})
    rows[2].update(cells)
    with pytest.raises(InputError, match=f"cannot tell the decimal mark.*read {why}"):
        read_revman_csv(write(tmp_path, export(rows, ";")))


def test_unknown_delimiter(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="separated by ':'"):
        read_revman_csv(write(tmp_path, export(PAIN, ":")))


def test_header_only_and_short_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"export\.csv: the file has a header but no rows"):
        read_revman_csv(write(tmp_path, export([])))
    # a row of two cells (it raised KeyError)
    text = export(PAIN) + "1,1\r\n"
    with pytest.raises(InputError, match="line 6 has 2 cells where the header has 45"):
        read_revman_csv(write(tmp_path, text))


def test_unbalanced_quote(tmp_path: Path) -> None:
    lines = export(PAIN).split("\r\n")
    lines[3] = lines[3].replace("Alpha", '"Alpha')
    # the quote closes nowhere: it would have swallowed the rest of the file
    with pytest.raises(InputError, match="line 5: unexpected end of data"):
        read_revman_csv(write(tmp_path, "\r\n".join(lines)))
    # it closes on a later line: the swallowed rows make one row that does not fit
    extra = export([*PAIN, head(1, 2, 0, "Gamma", **{"Data Type": "CON"})]).split("\r\n")
    extra[3] = extra[3].replace("Alpha", '"Alpha')
    extra[5] = extra[5].replace("Gamma", 'Gamma 5"')
    rv = read_revman_csv(write(tmp_path, "\r\n".join(extra)))
    error = rv.outcome("1.1").error
    assert error is not None
    assert "lines 4-6: a quoted cell runs over line ends (an unbalanced quote?)" in error


def test_truncated_exports_never_load_silently(tmp_path: Path) -> None:
    """A cut anywhere inside a row, or between study rows, breaks the outcome it hits."""
    text = export(PAIN)
    first_data = text.index("\r\n1,1,0,Pain")
    path = tmp_path / "export.csv"
    for cut in range(first_data + 2, len(text) - 2):
        if text[cut - 1] in "\r\n":  # whole lines lost: the stated totals tell
            continue
        path.write_bytes(text[:cut].encode())
        try:
            rv = read_revman_csv(path)
        except InputError:
            continue
        assert rv.outcome("1.1").error is not None, repr(text[:cut][-30:])
    # a whole study row lost: the outcome's stated participants no longer add up
    lines = text.split("\r\n")
    path.write_bytes("\r\n".join(lines[:4] + lines[5:]).encode())
    error = read_revman_csv(path).outcome("1.1").error
    assert error is not None
    assert "its Total 1 is 50 but its 1 study rows add up to 30: study rows are missing" in error


def test_duplicates_are_errors_of_their_outcome(tmp_path: Path) -> None:
    twice = head(1, 2, 0, "Twice", **{"Data Type": "DIC", "Effect Measure": "OR"})
    rows = [
        *PAIN,
        twice,
        dich(1, 2, 0, "Alpha", 1, 10, 2, 10),
        dich(1, 2, 0, "Alpha", 3, 10, 4, 10),
        head(1, 3, 0, "Numbered", **{"Data Type": "DIC", "Effect Measure": "OR"}),
        dich(1, 3, 0, "Beta", 1, 10, 2, 10),
        head(1, 3, 0, "Numbered again", **{"Data Type": "DIC", "Effect Measure": "RR"}),
        dich(1, 3, 0, "Gamma", 1, 10, 2, 10),
        head(1, 4, 0, "Subgroups", **{"Data Type": "DIC", "Effect Measure": "OR"}),
        head(1, 4, 1, "Low dose", **{"Data Type": "DIC"}),
        dich(1, 4, 1, "Alpha", 1, 10, 2, 10),
        head(1, 4, 2, "High dose", **{"Data Type": "DIC"}),
        dich(1, 4, 2, "Alpha", 3, 10, 2, 10),
    ]
    rv = read_revman_csv(write(tmp_path, export(rows)))
    pain, listed_twice, numbered, subgroups = rv.outcomes
    assert pain.error is None
    assert listed_twice.error is not None and "study 'Alpha' is listed twice" in listed_twice.error
    assert numbered.error is not None and "a second outcome numbered 1.3" in numbered.error
    # one study in two subgroups is allowed (RevMan allows it: e.g. two doses)
    assert subgroups.error is None and len(subgroups.studies) == 2


def test_byte_order_mark_means_utf8(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + export(PAIN).replace("Alpha", "M\xfcller").encode("cp1252"))
    with pytest.raises(InputError, match="is not valid UTF-8, which its byte order mark"):
        read_revman_csv(path)
    path.write_bytes(b"\xef\xbb\xbf" + export(PAIN).replace("Alpha", "Müller").encode())
    assert read_revman_csv(path).outcome("1.1").studies[0].study == "Müller"
