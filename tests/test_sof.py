"""Summary-of-findings absolute effects against the GRADE/Handbook formulas, by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import metapool
from metapool import InputError
from metapool.sof import (
    AbsoluteEffects,
    SmdInterpretation,
    intervention_risk,
    nnt_text,
    smd_magnitude,
)


def test_intervention_risk_formulas_by_hand() -> None:
    # RR: ACR x RR
    assert intervention_risk("RR", 0.75, 0.2) == pytest.approx(0.15, rel=1e-12)
    # OR: 0.2*0.5 / (1 - 0.2 + 0.2*0.5) = 0.1 / 0.9
    assert intervention_risk("OR", 0.5, 0.2) == pytest.approx(1 / 9, rel=1e-12)
    assert intervention_risk("PETO_OR", 0.5, 0.2) == pytest.approx(1 / 9, rel=1e-12)
    # OR 3 at ACR 0.5: 1.5 / 2 = 0.75
    assert intervention_risk("OR", 3.0, 0.5) == pytest.approx(0.75, rel=1e-12)
    # RD: ACR + RD
    assert intervention_risk("RD", -0.05, 0.3) == pytest.approx(0.25, rel=1e-12)
    # a risk cannot exceed 1 or fall below 0
    assert intervention_risk("RR", 3.0, 0.5) == 1.0
    assert intervention_risk("RD", -0.4, 0.3) == 0.0
    with pytest.raises(InputError, match="RR, OR, Peto OR or RD"):
        intervention_risk("MD", 1.0, 0.2)


def test_nnt_in_altmans_notation() -> None:
    assert nnt_text(0.1, 0.05, 0.2) == "NNTB 10 (5 to 20)"
    assert nnt_text(0.1, -0.02, 0.2) == "NNTB 10 (NNTH 50 to ∞ to NNTB 5)"
    assert nnt_text(-0.02, -0.05, 0.1) == "NNTH 50 (NNTH 20 to ∞ to NNTB 10)"
    assert nnt_text(-0.04, -0.1, -0.02) == "NNTH 25 (10 to 50)"
    # rounded up to the next whole number: 1/0.03 = 33.3 -> 34, 1/0.07 = 14.3 -> 15
    assert nnt_text(0.03, 0.01, 0.07) == "NNTB 34 (15 to 100)"
    assert nnt_text(math.nan, 0.0, 0.1) == ""


def _rr_result() -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.aspirin(), measure="RR", method="MH")


def test_risk_ratio_rows_by_hand() -> None:
    res = _rr_result()
    rr, lo, hi = res.total.estimate, res.total.ci_lower, res.total.ci_upper
    out = res.absolute_effects({"low": 0.02, "moderate": 0.1})
    assert isinstance(out, AbsoluteEffects)
    assert [r.label for r in out.rows] == ["low", "moderate"]
    moderate = out.rows[1]
    assert moderate.control_risk == 0.1
    assert moderate.risk == pytest.approx(0.1 * rr, rel=1e-12)
    assert moderate.risk_lower == pytest.approx(0.1 * lo, rel=1e-12)
    assert moderate.risk_upper == pytest.approx(0.1 * hi, rel=1e-12)
    assert moderate.difference == pytest.approx(0.1 * rr - 0.1, rel=1e-12)
    # RR 0.9136 [0.8657, 0.9642]: 91 per 1,000 (87 to 96), 9 fewer (from 13 fewer to 4 fewer)
    assert (round(rr, 4), round(lo, 4), round(hi, 4)) == (0.9136, 0.8657, 0.9642)
    assert moderate.per_1000 == (100, 91, 87, 96)
    assert moderate.cells() == [
        "moderate",
        "100 per 1,000",
        "91 per 1,000 (87 to 96)",
        "9 fewer per 1,000 (from 13 fewer to 4 fewer)",
        # 1 / (0.1 * (1 - 0.9136)) = 115.7; CI 1/0.01343 = 74.5, 1/0.00358 = 279.3
        "NNTB 116 (75 to 280)",
    ]
    text = str(out)
    assert "91 per 1,000 (87 to 96)" in text
    assert "Relative effect: RR 0.91 (95% CI 0.87 to 0.96); 7 studies, 28003 participants" in text


def test_odds_ratio_and_a_ci_through_no_effect() -> None:
    studies = [
        metapool.Dichotomous("A", 10, 100, 15, 100),
        metapool.Dichotomous("B", 20, 200, 22, 200),
    ]
    res = metapool.analyse(studies, measure="OR", method="MH")
    t = res.total
    assert t.ci_lower < 1 < t.ci_upper
    row = res.absolute_effects(0.3).rows[0]
    odds = 0.3 * t.estimate
    assert row.risk == pytest.approx(odds / (1 - 0.3 + odds), rel=1e-12)
    odds_hi = 0.3 * t.ci_upper
    assert row.risk_upper == pytest.approx(odds_hi / (1 - 0.3 + odds_hi), rel=1e-12)
    assert row.label == "300 per 1,000"
    benefit, low, high = 0.3 - row.risk, 0.3 - row.risk_upper, 0.3 - row.risk_lower
    expected = (
        f"NNTB {math.ceil(1 / benefit)} (NNTH {math.ceil(-1 / low)} to ∞ to "
        f"NNTB {math.ceil(1 / high)})"
    )
    assert row.nnt == expected
    assert "more" in row.cells()[3]  # the CI's upper end is an increase


def test_risk_difference_and_desirable_events() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="RD", method="MH")
    rd, lo, hi = res.total.estimate, res.total.ci_lower, res.total.ci_upper
    row = res.absolute_effects([0.2]).rows[0]
    assert (row.risk, row.risk_lower, row.risk_upper) == pytest.approx(
        (0.2 + rd, 0.2 + lo, 0.2 + hi), rel=1e-12
    )
    assert row.difference == pytest.approx(rd, rel=1e-9)
    assert row.nnt.startswith("NNTB")
    # the same fewer events are a harm when the events are wanted
    wanted = res.absolute_effects([0.2], desirable=True).rows[0]
    assert wanted.nnt.startswith("NNTH")
    assert wanted.nnt.split(" (")[0].split()[1] == row.nnt.split(" (")[0].split()[1]


def test_peto_odds_ratio_uses_the_odds_formula() -> None:
    res = metapool.analyse(metapool.examples.aspirin(), measure="PETO_OR")
    row = res.absolute_effects(0.1).rows[0]
    odds = 0.1 * res.total.estimate
    assert row.risk == pytest.approx(odds / (0.9 + odds), rel=1e-12)
    assert res.absolute_effects(0.1).relative.startswith("Peto OR ")


def test_smd_rule_of_thumb() -> None:
    res = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random")
    out = res.absolute_effects()
    assert isinstance(out, SmdInterpretation)
    assert out.magnitude == smd_magnitude(res.total.estimate)
    assert [smd_magnitude(x) for x in (0.19, 0.2, -0.49, 0.5, 0.79, -0.8)] == [
        "less than small",
        "small",
        "small",
        "moderate",
        "moderate",
        "large",
    ]
    assert "rule of thumb: 0.2 small, 0.5 moderate, 0.8 large" in str(out)


def test_bad_control_risks_and_measures() -> None:
    res = _rr_result()
    with pytest.raises(InputError, match=r"control_risk 'low' = 1\.5"):
        res.absolute_effects({"low": 1.5})
    with pytest.raises(InputError, match=r"control_risk\[1\] = 'x' is not a number"):
        res.absolute_effects([0.1, "x"])
    with pytest.raises(InputError, match="give the assumed control risk"):
        res.absolute_effects()
    md = metapool.analyse(metapool.examples.stem_cell_oa_pain(), measure="MD")
    with pytest.raises(InputError, match="this result is MD"):
        md.absolute_effects(0.1)


def test_tables_in_every_format() -> None:
    out = _rr_result().absolute_effects({"moderate": 0.1})
    assert '<td style="text-align:right">91 per 1,000 (87 to 96)</td>' in out._repr_html_()
    assert "| moderate | 100 per 1,000 | 91 per 1,000 (87 to 96) |" in out.to_table("markdown")
    assert out.to_table("csv").splitlines()[1].startswith('moderate,"100 per 1,000",')
    pytest.importorskip("pandas")
    frame = out.to_dataframe()
    assert frame.loc[0, "risk"] == pytest.approx(out.rows[0].risk)
    assert list(frame["nnt"]) == ["NNTB 116 (75 to 280)"]


@given(
    st.floats(0.001, 0.999),
    st.floats(0.01, 100.0),
    st.sampled_from(["OR", "PETO_OR", "RR"]),
)
def test_no_effect_leaves_the_control_risk_and_risks_follow_the_effect(
    acr: float, effect: float, measure: str
) -> None:
    assert intervention_risk(measure, 1.0, acr) == pytest.approx(acr, rel=1e-12)
    risk = intervention_risk(measure, effect, acr)
    assert 0.0 <= risk <= 1.0
    assert (risk > acr) == (effect > 1.0) or math.isclose(risk, acr) or risk == 1.0
