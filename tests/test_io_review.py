"""Review records, read_review and Review.compare's tolerance rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from revman_files import CSV, RM5, ZIP, data, example, outcome, review, subgroup, write

import metapool
from metapool import Dichotomous, InputError
from metapool.io import read_review, read_rm5
from metapool.results import Subgroup

STUDIES = [
    Dichotomous("Alpha", 12, 100, 20, 100, "Adults"),
    Dichotomous("Beta", 5, 50, 9, 48, "Adults"),
    Dichotomous("Delta", 0, 60, 0, 61, "Children"),  # not estimable for OR
    Dichotomous("Gamma", 30, 120, 31, 118, "Children"),
]
IDS = {"Alpha": "STD-A", "Beta": "STD-B", "Gamma": "STD-C", "Delta": "STD-D"}


def pooled(part: Subgroup, **override: object) -> dict[str, object]:
    """The attributes RevMan writes for a pooled result (full doubles, |Z|)."""
    t, h = part.total, part.heterogeneity
    return {
        "EFFECT_SIZE": repr(t.estimate),
        "CI_START": repr(t.ci_lower),
        "CI_END": repr(t.ci_upper),
        "Z": repr(abs(t.z)),
        "P_Z": repr(t.p_value),
        "CHI2": repr(h.q),
        "DF": int(h.df),
        "P_CHI2": repr(h.p_value),
        "I2": repr(h.i2),
        "TAU2": repr(h.tau2),
        "ESTIMABLE": "YES",
        **override,
    }


def calculated(
    totals: str = "YES", weights: str = "overall", **override: dict[str, object]
) -> tuple[str, metapool.MetaAnalysis]:
    """An .rm5 outcome with subgroups whose stored results are metapool's own."""
    res = metapool.analyse(STUDIES, measure="OR", method="MH", model="random")
    groups = []
    for number, (name, part) in enumerate(res.subgroups.items(), start=1):
        rows = []
        for s in part.studies:
            overall = next(r for r in res.studies if r.study == s.study)
            weight = s.weight if weights == "subgroup" else overall.weight
            counts = s.data
            assert isinstance(counts, Dichotomous)
            attrs: dict[str, object] = {
                "EVENTS_1": counts.events_exp,
                "TOTAL_1": counts.total_exp,
                "EVENTS_2": counts.events_ctrl,
                "TOTAL_2": counts.total_ctrl,
                "EFFECT_SIZE": repr(s.estimate),
                "SE": repr(s.se),
                "CI_START": repr(s.ci_lower),
                "CI_END": repr(s.ci_upper),
                "WEIGHT": repr(weight),
                "ESTIMABLE": "YES" if s.estimable else "NO",
            }
            if not s.estimable:
                attrs.update(
                    EFFECT_SIZE="0.0", SE="0.0", CI_START="0.0", CI_END="0.0", WEIGHT="0.0"
                )
            attrs.update(override.get(s.study, {}))
            rows.append(data("DICH", IDS[s.study], **attrs))
        groups.append(
            subgroup("DICH", number, name, rows, **pooled(part, **override.get(name, {})))
        )
    d = res.subgroup_differences
    assert d is not None
    attrs = {
        **pooled(res, Q=repr(d.q), P_Q=repr(d.p_value), I2_Q=repr(d.i2)),
        **override.get("total", {}),
    }
    text = review(
        outcome(
            "DICH",
            1,
            "Deaths",
            groups,
            EFFECT_MEASURE="OR",
            METHOD="MH",
            RANDOM="YES",
            SUBGROUPS="YES",
            TOTALS=totals,
            attributes=attrs,
        ),
        calculated=True,
    )
    return text, res


def check(tmp_path: Path, text: str) -> metapool.io.OutcomeCheck:
    return read_rm5(write(tmp_path, text)).compare().outcomes[0]


def test_own_results_pass(tmp_path: Path) -> None:
    text, _ = calculated()
    result = check(tmp_path, text)
    assert result.passed, str(result)
    scopes = {(d.scope, d.quantity) for d in result.differences}
    assert ("subgroup differences", "q") in scopes and ("subgroup", "tau2") in scopes
    # Delta is not estimable: nothing of it compared
    assert not [d for d in result.differences if d.name == "Delta [Children]"]
    largest = {(r.scope, r.quantity): r for r in result.largest()}
    assert largest[("study", "weight")].compared == 3
    assert "OK" in str(result) and "full-precision" in str(result)


def test_relative_tolerance(tmp_path: Path) -> None:
    _, res = calculated()
    estimate = res.total.estimate
    text, _ = calculated(total={"EFFECT_SIZE": repr(estimate * (1 + 5e-9))})
    assert check(tmp_path, text).passed
    text, _ = calculated(total={"EFFECT_SIZE": repr(estimate * (1 + 5e-8))})
    failed = check(tmp_path, text)
    assert not failed.passed
    (bad,) = failed.failures
    assert (bad.scope, bad.quantity) == ("total", "estimate")
    assert bad.rel_diff == pytest.approx(5e-8, rel=1e-3)
    assert "FAIL" in str(failed) and "DIFFERS (1 values beyond tolerance)" in str(failed)


def test_p_values_are_compared_absolutely(tmp_path: Path) -> None:
    _, res = calculated()
    p = res.total.p_value
    assert check(tmp_path, calculated(total={"P_Z": repr(p + 9e-7)})[0]).passed
    assert not check(tmp_path, calculated(total={"P_Z": repr(p + 2e-6)})[0]).passed


def test_signed_z_and_df(tmp_path: Path) -> None:
    _, res = calculated()
    assert res.total.z < 0  # RevMan's |Z| still matches
    assert not check(tmp_path, calculated(total={"Z": repr(res.total.z)})[0]).passed
    failed = check(tmp_path, calculated(Adults={"DF": 2})[0])
    assert [(d.scope, d.name, d.quantity) for d in failed.failures] == [
        ("subgroup", "Adults", "df")
    ]


def test_weights_of_subtotals_only(tmp_path: Path) -> None:
    # RevMan's "subtotals only": each subgroup's weights add up to 100%
    assert check(tmp_path, calculated(totals="SUB", weights="subgroup")[0]).passed
    assert not check(tmp_path, calculated(totals="SUB", weights="overall")[0]).passed
    assert not check(tmp_path, calculated(totals="YES", weights="subgroup")[0]).passed


def test_estimability_disagreement(tmp_path: Path) -> None:
    text, _ = calculated(Alpha={"ESTIMABLE": "NO"})
    failed = check(tmp_path, text)
    assert [(d.name, d.quantity) for d in failed.failures] == [("Alpha [Adults]", "estimable")]


def test_single_study_heterogeneity_placeholders(tmp_path: Path) -> None:
    res = metapool.analyse([STUDIES[0]], measure="OR")
    attrs = {**pooled(res, P_CHI2="0.0", I2="0.0"), "DF": 0}  # RevMan's "Not applicable"
    row = data("DICH", "STD-A", EVENTS_1=12, TOTAL_1=100, EVENTS_2=20, TOTAL_2=100)
    text = review(
        outcome("DICH", 1, "One", [row], EFFECT_MEASURE="OR", attributes=attrs), calculated=True
    )
    result = check(tmp_path, text)
    assert result.passed
    assert {d.quantity for d in result.differences} >= {"estimate", "q", "df"}
    assert not {"p_q", "i2"} & {d.quantity for d in result.differences}


def test_outcomes_without_results_or_broken(tmp_path: Path) -> None:
    rows = [data("DICH", "STD-A", EVENTS_1="x", TOTAL_1=100, EVENTS_2=20, TOTAL_2=100)]
    text = review(
        outcome("DICH", 1, "Broken", rows, EFFECT_MEASURE="OR"),
        outcome("DICH", 2, "Empty", [], EFFECT_MEASURE="OR"),
    )
    rv = read_rm5(write(tmp_path, text))
    broken, empty = rv.compare().outcomes
    assert not broken.passed and broken.error is not None and "ERROR" in str(broken)
    assert empty.passed and not empty.checked and "nothing to compare" in str(empty)
    assert not rv.compare().passed
    assert "0 of 2 outcomes compared" in str(rv.compare())
    assert rv.compare(outcomes=[rv.outcome("1.2")]).passed


def test_outcome_selection() -> None:
    rv = read_rm5(example(RM5))
    assert rv.outcome("1.2") is rv.outcome("CMP-001.02")
    assert rv.outcome(" mental health treatment versus control ").number == 2
    with pytest.raises(InputError, match=r"no outcome '9\.9'; outcomes: 1\.1 'Aspirin"):
        rv.outcome("9.9")


@pytest.mark.parametrize(("name", "fmt"), [(RM5, "rm5"), (CSV, "revman_csv"), (ZIP, "datapackage")])
def test_read_review_dispatches(tmp_path: Path, name: str, fmt: str) -> None:
    assert read_review(example(name)).format == fmt
    # without a known extension the first bytes decide
    anonymous = tmp_path / "review.dat"
    shutil.copy(example(name), anonymous)
    rv = read_review(anonymous)
    assert rv.format == fmt and rv.compare().passed
    with pytest.raises(InputError, match="cannot read"):
        read_review(tmp_path / "missing.dat")


def test_other_data_outcome_is_listed_not_analysed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RevMan's "other data" outcomes hold text it never pools: no error, no comparison."""
    from metapool.cli import main

    text, _ = calculated()
    text = text.replace("</COMPARISON>", outcome("OTHER", 2, "Narrative", []) + "</COMPARISON>")
    path = write(tmp_path, text)
    other = read_rm5(path).outcome("1.2")
    assert other.error is None and other.not_pooled is not None and other.data_type is None
    with pytest.raises(metapool.InputError, match=r"1\.2 is not analysed: it holds other data"):
        other.analyse()
    checks = read_rm5(path).compare()
    assert checks.passed and [o.checked for o in checks.outcomes] == [True, False]
    assert "1.2 Narrative: not analysed (it holds other data" in str(checks)
    capsys.readouterr()
    assert main([str(path), "--check"]) == 0
    assert main([str(path)]) == 0
    captured = capsys.readouterr()
    assert "Not analysed: it holds other data, which RevMan never pools." in captured.out
    assert captured.err == ""
