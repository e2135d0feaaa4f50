"""read_rm5: the real Fleiss (1993) review, and synthetic files for every outcome type."""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree

import pytest
from _helpers import close_to_revman
from revman_files import (
    FLEISS_SETTINGS,
    RM5,
    data,
    example,
    large_review,
    outcome,
    review,
    subgroup,
    write,
)

import metapool
from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE
from metapool.io import read_rm5
from metapool.vocabulary import DataType

# Every value RevMan 5.0.23 stored for outcome 1.1 (MH odds ratio, fixed effect):
# study -> EFFECT_SIZE, SE, CI_START, CI_END, WEIGHT
FLEISS_STUDIES = {
    "MRC-1": (
        0.7197141500975687,
        0.1972198088133556,
        0.4889745274989256,
        1.0593362817898602,
        3.176490004091248,
    ),
    "CDP": (
        0.6807598039215687,
        0.20289716633892102,
        0.45739090373983604,
        1.0132119087766858,
        3.1016891143394365,
    ),
    "MRC-2": (
        0.8028701891715591,
        0.14314855217027966,
        0.6064528819242718,
        1.062902922672345,
        5.675380442715663,
    ),
    "GASP": (
        0.8007386888273315,
        0.2544888962290453,
        0.4862610363759706,
        1.318597213882381,
        1.795484618258711,
    ),
    "PARIS": (
        0.7981432360742705,
        0.18761568222036212,
        0.5525633542165779,
        1.1528680293941878,
        3.2176243566716805,
    ),
    "AMIS": (
        1.1327364047365673,
        0.098064939620213,
        0.9346646778747347,
        1.3727829808793592,
        10.153491219997628,
    ),
    "ISIS-2": (
        0.8949693601254097,
        0.03880976559851533,
        0.8294175772940908,
        0.965701930475584,
        72.87984024392564,
    ),
}
FLEISS_TOTAL = {
    "estimate": 0.8968655609130709,
    "ci_lower": 0.8405144008917793,
    "ci_upper": 0.9569947088336491,
    "z": 3.287633061337987,
    "p_z": 0.0010103343130005407,
    "chi2": 9.946055983220074,
    "df": 6,
    "p_chi2": 0.1269422521561745,
    "i2": 39.67458045558399,
    "tau2": 0.0,
}


@pytest.fixture(scope="module")
def fleiss() -> metapool.io.Review:
    return read_rm5(example(RM5))


def test_fleiss_structure(fleiss: metapool.io.Review) -> None:
    assert fleiss.title == "Examples from Fleiss 1993"
    assert fleiss.format == "rm5"
    assert len(fleiss.studies) == 12
    assert fleiss.studies[7] == metapool.io.StudyInfo("STD-ISIS_x002d_2", "ISIS-2", "1988")
    assert [(c.number, c.name) for c in fleiss.comparisons] == [(1, "Examples from Fleiss (1993)")]
    first, second = fleiss.outcomes
    assert (first.key, first.id, first.name) == (
        "1.1",
        "CMP-001.01",
        "Aspirin for Preventing Death after Myocardial Infarction",
    )
    assert first.data_type is DataType.DICHOTOMOUS
    assert first.settings == FLEISS_SETTINGS
    assert first.group_labels == ("Aspirin", "Control")
    assert first.graph_labels == ("Favours experimental", "Favours control")
    assert (first.totals, first.subtotals, first.subgroups, first.subgroup_test) == (
        True,
        True,
        False,
        True,
    )
    assert first.study_ids[:2] == ("STD-MRC_x002d_1", "STD-CDP")
    assert first.studies[-1] == Dichotomous("ISIS-2", 1570, 8587, 1720, 8600)
    assert second.data_type is DataType.CONTINUOUS
    assert second.settings["measure"] == "SMD"
    assert second.studies[0] == Continuous("Davis", 5.0, 4.7, 13, 6.5, 3.8, 13)
    assert second.revman is None  # stored with empty results
    assert first.error is None and second.error is None


def test_fleiss_every_stored_value(fleiss: metapool.io.Review) -> None:
    res = fleiss.outcome("1.1").analyse()
    assert [s.study for s in res.studies] == list(FLEISS_STUDIES)
    for row in res.studies:
        estimate, se, lower, upper, weight = FLEISS_STUDIES[row.study]
        for ours, revman in zip(
            (row.estimate, row.se, row.ci_lower, row.ci_upper, row.weight),
            (estimate, se, lower, upper, weight),
            strict=True,
        ):
            assert close_to_revman(ours, revman, None), (row.study, ours, revman)
    t, h = res.total, res.heterogeneity
    expected = FLEISS_TOTAL
    assert close_to_revman(t.estimate, expected["estimate"], None)
    assert close_to_revman(t.ci_lower, expected["ci_lower"], None)
    assert close_to_revman(t.ci_upper, expected["ci_upper"], None)
    assert t.z < 0 and close_to_revman(abs(t.z), expected["z"], None)  # RevMan stores |Z|
    assert close_to_revman(t.p_value, expected["p_z"], None, p_value=True)
    assert close_to_revman(h.q, expected["chi2"], None)
    assert h.df == expected["df"]
    assert close_to_revman(h.p_value, expected["p_chi2"], None, p_value=True)
    assert close_to_revman(h.i2, expected["i2"], None)
    assert h.tau2 == expected["tau2"]


def test_fleiss_log_attributes_are_base_10_logarithms(fleiss: metapool.io.Review) -> None:
    # The reader ignores RevMan's LOG_* attributes: they are the base-10 logarithms of the
    # values it does read, so they carry nothing more (checked here against the file itself).
    (element,) = ElementTree.parse(example(RM5)).iterfind(".//DICH_OUTCOME[@ID='CMP-001.01']")
    t = fleiss.outcome("1.1").analyse().total
    for ours, name in (
        (t.estimate, "EFFECT_SIZE"),
        (t.ci_lower, "CI_START"),
        (t.ci_upper, "CI_END"),
    ):
        assert math.log10(ours) == pytest.approx(
            float(element.get(f"LOG_{name}", "nan")), rel=1e-12
        )
        assert ours == pytest.approx(float(element.get(name, "nan")), rel=1e-12)


def test_fleiss_stored_results_are_kept(fleiss: metapool.io.Review) -> None:
    stored = fleiss.outcome("1.1").revman
    assert stored is not None and stored.decimals is None
    assert stored.total is not None
    assert stored.total.estimate == FLEISS_TOTAL["estimate"]
    assert stored.total.z == FLEISS_TOTAL["z"]
    assert stored.total.df == 6
    assert stored.studies[0].weight == FLEISS_STUDIES["MRC-1"][4]
    assert stored.studies[0].se == FLEISS_STUDIES["MRC-1"][1]
    assert stored.studies[0].estimable is True
    assert stored.subgroup_differences is not None  # placeholders RevMan writes: Q = 0
    assert stored.subgroup_differences.q == 0.0


def test_fleiss_compare_passes(fleiss: metapool.io.Review) -> None:
    check = fleiss.compare()
    assert check.passed
    first, second = check.outcomes
    assert len(first.differences) == 7 * 5 + 10
    assert max(d.rel_diff for d in first.differences if d.quantity not in ("p_z", "p_q")) < 1e-12
    assert not second.checked and second.passed


def test_round_trip_equals_hand_built(fleiss: metapool.io.Review) -> None:
    from_file = fleiss.outcome("1.1").analyse()
    by_hand = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    assert from_file.total == by_hand.total
    assert from_file.heterogeneity == by_hand.heterogeneity
    assert [s.weight for s in from_file.studies] == [s.weight for s in by_hand.studies]
    cont = fleiss.outcome("Mental Health Treatment versus Control")
    hand = [
        Continuous("Davis", 5.0, 4.7, 13, 6.5, 3.8, 13),
        Continuous("Florell", 4.9, 1.71, 30, 6.1, 2.3, 50),
        Continuous("Gruen", 22.5, 3.44, 35, 24.9, 10.65, 35),
        Continuous("Hart", 12.5, 1.47, 20, 12.3, 1.66, 20),
        Continuous("Wilson", 6.5, 0.76, 8, 7.38, 1.41, 8),
    ]
    assert list(cont.studies) == hand
    assert cont.analyse().total == metapool.analyse(hand, measure="SMD").total


def test_overrides(fleiss: metapool.io.Review) -> None:
    random = fleiss.outcome("1.1").analyse(model="random")
    assert random.settings.model.value == "random"
    assert random.heterogeneity.tau2 > 0
    with pytest.raises(InputError, match=r"outcome 1\.1 'Aspirin.*Peto method has no random"):
        fleiss.outcome("1.1").analyse(measure="PETO_OR", method="PETO", model="random")


# -- synthetic files ---------------------------------------------------------------------


def dich_rows(kind: str = "DICH") -> list[str]:
    return [
        data(kind, "STD-A", EVENTS_1=12, TOTAL_1=100, EVENTS_2=20, TOTAL_2=100),
        data(kind, "STD-B", EVENTS_1=5, TOTAL_1=50, EVENTS_2=9, TOTAL_2=48),
        data(kind, "STD-C", EVENTS_1=30, TOTAL_1=120, EVENTS_2=31, TOTAL_2=118),
    ]


def test_every_outcome_type(tmp_path: Path) -> None:
    text = review(
        outcome(
            "DICH",
            1,
            "Deaths",
            dich_rows(),
            EFFECT_MEASURE="RR",
            METHOD="MH",
            RANDOM="NO",
            CI_STUDY=95,
            CI_TOTAL=95,
            SWAP_EVENTS="NO",
        ),
        outcome(
            "CONT",
            2,
            "Pain",
            [
                data(
                    "CONT",
                    "STD-A",
                    MEAN_1=3.1,
                    SD_1=1.2,
                    TOTAL_1=30,
                    MEAN_2=4.0,
                    SD_2=1.3,
                    TOTAL_2=31,
                ),
                data(
                    "CONT",
                    "STD-B",
                    MEAN_1=2.5,
                    SD_1=1.1,
                    TOTAL_1=20,
                    MEAN_2=3.1,
                    SD_2=1.0,
                    TOTAL_2=22,
                ),
            ],
            EFFECT_MEASURE="MD",
            RANDOM="NO",
        ),
        outcome(
            "IV",
            3,
            "Survival",
            [
                data("IV", "STD-A", EFFECT_SIZE=0.8, SE=0.2),
                data("IV", "STD-B", EFFECT_SIZE=0.6, SE=0.25),
            ],
            measure="Hazard Ratio",
            METHOD="IV",
            RANDOM="NO",
            LOG_DATA="YES",
        ),
        outcome(
            "IPD",
            4,
            "Time to relapse",
            [
                data("IPD", "STD-A", O_E=-3.5, VAR=10.2),
                data("IPD", "STD-C", O_E=-1.25, VAR=6.0),
            ],
            measure="Peto Odds Ratio",
        ),
        outcome(
            "IV",
            5,
            "Mean change",
            [
                data("IV", "STD-A", EFFECT_SIZE=-1.5, SE=0.5),
                data("IV", "STD-D", EFFECT_SIZE=-0.5, SE=0.4),
            ],
            measure="Mean Difference",
            LOG_DATA="NO",
        ),
        outcome(
            "IPD",
            6,
            "Survival (log-rank)",
            [data("IPD", "STD-A", O_E=-3.5, VAR=10.2)],
            measure="Hazard Ratio",
            METHOD="EXP_O_E_VAR",
        ),
        outcome(
            "IPD",
            7,
            "Relapse (O-E odds ratio)",
            [data("IPD", "STD-A", O_E=-3.5, VAR=10.2)],
            measure="Odds Ratio",
        ),
    )
    rv = read_rm5(write(tmp_path, text))
    dich, cont, iv, ipd, md, hazard, odds = rv.outcomes
    assert (hazard.settings["measure"], hazard.settings["method"]) == ("HR", "PETO")
    assert hazard.analyse().total.estimate == pytest.approx(math.exp(-3.5 / 10.2))
    assert (odds.settings["measure"], odds.settings["method"]) == ("PETO_OR", "PETO")
    assert all(o.error is None for o in rv.outcomes)
    assert dich.studies[1] == Dichotomous("Beta", 5, 50, 9, 48)
    assert dich.settings["measure"] == "RR" and dich.settings["method"] == "MH"
    assert dich.group_labels == ("Treated", "Untreated")
    assert dich.graph_labels == ("Favours treatment", "Favours none")
    assert cont.studies[0] == Continuous("Alpha", 3.1, 1.2, 30, 4.0, 1.3, 31)
    assert cont.settings["method"] == "IV"  # CONT outcomes carry no METHOD
    # generic: RevMan stores ratios exponentiated; the record holds the log
    assert iv.data_type is DataType.GENERIC
    assert iv.settings["measure"] == "HR" and iv.settings["ratio"] is True
    assert iv.studies[0] == Generic("Alpha", math.log(0.8), 0.2)
    hand = [Generic("Alpha", math.log(0.8), 0.2), Generic("Beta", math.log(0.6), 0.25)]
    assert iv.analyse().total == metapool.analyse(hand, measure="HR", ratio=True).total
    assert iv.analyse().total.estimate == pytest.approx(
        math.exp((math.log(0.8) / 0.04 + math.log(0.6) / 0.0625) / (1 / 0.04 + 1 / 0.0625))
    )
    assert ipd.data_type is DataType.O_MINUS_E
    assert ipd.settings["measure"] == "PETO_OR" and ipd.settings["method"] == "PETO"
    assert ipd.studies == (OMinusE("Alpha", -3.5, 10.2), OMinusE("Gamma", -1.25, 6.0))
    assert ipd.analyse().total.estimate == pytest.approx(math.exp(-4.75 / 16.2))
    assert md.settings["ratio"] is False and md.studies[1] == Generic("Delta", -0.5, 0.4)


def test_subgroups_random_and_levels(tmp_path: Path) -> None:
    rows = dich_rows()
    text = review(
        outcome(
            "DICH",
            1,
            "Deaths",
            [
                subgroup("DICH", 1, "Adults", rows[:2]),
                subgroup("DICH", 2, "", rows[2:]),
            ],
            EFFECT_MEASURE="OR",
            METHOD="IV",
            RANDOM="YES",
            CI_STUDY=90,
            CI_TOTAL=99,
            SUBGROUPS="YES",
            TOTALS="SUB",
            SUBGROUP_TEST="NO",
            SWAP_EVENTS="YES",
        ),
    )
    out = read_rm5(write(tmp_path, text)).outcome("1.1")
    assert out.settings == {
        "measure": "OR",
        "method": "IV",
        "model": "random",
        "ci_level": 0.99,
        "study_ci_level": 0.9,
        "swap_events": True,
    }
    assert (out.subgroups, out.totals, out.subtotals, out.subgroup_test) == (
        True,
        False,
        True,
        False,
    )
    assert [s.subgroup for s in out.studies] == ["Adults", "Adults", "Subgroup 2"]
    res = out.analyse()
    assert list(res.subgroups) == ["Adults", "Subgroup 2"]
    hand = [
        Dichotomous("Alpha", 12, 100, 20, 100, "Adults"),
        Dichotomous("Beta", 5, 50, 9, 48, "Adults"),
        Dichotomous("Gamma", 30, 120, 31, 118, "Subgroup 2"),
    ]
    by_hand = metapool.analyse(
        hand,
        measure="OR",
        method="IV",
        model="random",
        ci_level=0.99,
        study_ci_level=0.9,
        swap_events=True,
    )
    assert res.total == by_hand.total
    assert res.subgroup_differences == by_hand.subgroup_differences


def test_duplicate_subgroup_names_stay_apart(tmp_path: Path) -> None:
    rows = dich_rows()
    text = review(
        outcome(
            "DICH",
            1,
            "Deaths",
            [
                subgroup("DICH", 1, "Same", rows[:2]),
                subgroup("DICH", 2, "Same", rows[2:]),
            ],
            EFFECT_MEASURE="OR",
            SUBGROUPS="YES",
        ),
    )
    out = read_rm5(write(tmp_path, text)).outcome("1.1")
    assert [s.subgroup for s in out.studies] == ["Same", "Same", "Same (2)"]


def test_empty_cells_load_as_not_estimable(tmp_path: Path) -> None:
    rows = [
        *dich_rows()[:2],
        data("DICH", "STD-C", EVENTS_1="", TOTAL_1="", EVENTS_2=3, TOTAL_2=40),
    ]
    out = read_rm5(
        write(tmp_path, review(outcome("DICH", 1, "Deaths", rows, EFFECT_MEASURE="OR")))
    ).outcome("1.1")
    assert out.error is None
    assert out.studies[2] == Dichotomous("Gamma", None, None, 3, 40)
    res = out.analyse()
    assert res.k == 2
    assert not res.studies[2].estimable and math.isnan(res.studies[2].estimate)


def test_unknown_study_id_gets_a_readable_name(tmp_path: Path) -> None:
    rows = [data("DICH", "STD-Smith_x0020_2000", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)]
    out = read_rm5(write(tmp_path, review(outcome("DICH", 1, "D", rows, EFFECT_MEASURE="OR"))))
    assert out.outcome("1.1").studies[0].study == "Smith 2000"


def test_a_broken_outcome_does_not_stop_the_rest(tmp_path: Path) -> None:
    bad = [
        dich_rows()[0],
        data("DICH", "STD-B", EVENTS_1="abc", TOTAL_1=50, EVENTS_2=9, TOTAL_2=48),
    ]
    missing = [data("DICH", "STD-C", EVENTS_1=3, TOTAL_1=50, EVENTS_2=9)]
    too_many = [data("DICH", "STD-D", EVENTS_1=60, TOTAL_1=50, EVENTS_2=9, TOTAL_2=48)]
    path = write(
        tmp_path,
        review(
            outcome("DICH", 1, "Good", dich_rows(), EFFECT_MEASURE="OR"),
            outcome("DICH", 2, "Text in a number", bad, EFFECT_MEASURE="OR"),
            outcome("DICH", 3, "Missing attribute", missing, EFFECT_MEASURE="OR"),
            outcome("DICH", 4, "Impossible counts", too_many, EFFECT_MEASURE="OR"),
            outcome("OTHER", 5, "Notes", []),
            outcome("DICH", 6, "Unknown measure", dich_rows(), EFFECT_MEASURE="XYZ"),
            outcome("CONT", 7, "No measure", []),
        ),
    )
    rv = read_rm5(path)
    good, text, attr, counts, other, measure, no_measure = rv.outcomes
    assert good.error is None and good.analyse().k == 3
    assert text.studies == () and text.error is not None
    for part in (
        str(path),
        "outcome 1.2",
        "'Text in a number'",
        "CMP-001.02",
        "'STD-B'",
        "EVENTS_1 = 'abc'",
        "not a number",
    ):
        assert part in text.error
    assert attr.error is not None and "'STD-C'" in attr.error and "TOTAL_2 is missing" in attr.error
    assert counts.error is not None
    assert "'STD-D'" in counts.error and "greater than" in counts.error
    assert "events_exp is EVENTS_1" in counts.error
    # RevMan's "other data" hold text it never pools: listed, not analysed, no error
    assert other.error is None and other.not_pooled is not None
    assert other.data_type is None
    with pytest.raises(InputError, match="not analysed: it holds other data"):
        other.analyse()
    assert measure.error is not None and "'XYZ'" in measure.error
    assert no_measure.error is not None and "EFFECT_MEASURE" in no_measure.error
    with pytest.raises(InputError, match="Text in a number"):
        text.analyse()


def test_non_positive_ratio_estimate(tmp_path: Path) -> None:
    rows = [data("IV", "STD-A", EFFECT_SIZE=-0.2, SE=0.1)]
    path = write(
        tmp_path, review(outcome("IV", 1, "HR", rows, measure="Hazard Ratio", LOG_DATA="YES"))
    )
    error = read_rm5(path).outcome("1.1").error
    assert error is not None and "EFFECT_SIZE = -0.2 must be positive" in error


def test_text_in_a_stored_result(tmp_path: Path) -> None:
    rows = [data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10, WEIGHT="n/a")]
    path = write(
        tmp_path, review(outcome("DICH", 1, "D", rows, EFFECT_MEASURE="OR"), calculated=True)
    )
    error = read_rm5(path).outcome("1.1").error
    assert error is not None and "WEIGHT = 'n/a' is not a number" in error


def test_bad_settings_attribute(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        review(
            outcome("DICH", 1, "Random?", dich_rows(), EFFECT_MEASURE="OR", RANDOM="maybe"),
            outcome("DICH", 2, "Level?", dich_rows(), EFFECT_MEASURE="OR", CI_TOTAL="wide"),
        ),
    )
    random, level = read_rm5(path).outcomes
    assert random.error is not None and "'Random?'" in random.error
    assert "RANDOM = 'maybe' is not understood" in random.error
    assert level.error is not None and "CI_TOTAL = 'wide' is not understood" in level.error


def test_truncated_xml(tmp_path: Path) -> None:
    text = review(outcome("DICH", 1, "D", dich_rows(), EFFECT_MEASURE="OR"))
    path = write(tmp_path, text[: len(text) // 2])
    with pytest.raises(InputError, match=r"review\.rm5.*line \d+, column \d+"):
        read_rm5(path)


def test_not_a_review(tmp_path: Path) -> None:
    path = write(tmp_path, '<?xml version="1.0"?><html><body/></html>')
    with pytest.raises(InputError, match=r"not a RevMan review.*<html>"):
        read_rm5(path)
    with pytest.raises(InputError, match="cannot read"):
        read_rm5(tmp_path / "absent.rm5")


def test_latin1_names(tmp_path: Path) -> None:
    studies = [("STD-A", "Müller", "1999")]
    rows = [data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)]
    path = write(
        tmp_path, review(outcome("DICH", 1, "Décès", rows, EFFECT_MEASURE="OR"), studies=studies)
    )
    out = read_rm5(path).outcome("1.1")
    assert out.name == "Décès" and out.studies[0].study == "Müller"


def test_large_file_streams(tmp_path: Path) -> None:
    """~5 MB (text and 100 outcomes of 200 studies), read in many chunks; its speed is
    measured in benchmarks/readers_bench.py."""
    path = write(tmp_path, large_review(100, 40_000))
    assert path.stat().st_size > 4_000_000
    rv = read_rm5(path)
    assert sum(1 for _ in rv.outcomes) == 100
    assert rv.outcome("1.100").studies[199] == Dichotomous("Study 199", 13, 299, 6, 309)
