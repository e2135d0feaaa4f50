"""The fitted result carries its data and complete settings; the renamed names (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

import metapool
import metapool.plots
from metapool import REVMAN_WEB
from metapool.diagnostics import RankTest, Reanalysis, RegressionTest


def aspirin(**options: object) -> metapool.MetaAnalysis:
    return metapool.analyse(metapool.examples.aspirin(), measure="OR", **options)  # type: ignore[arg-type]


def test_effects_equal_a_recomputation_from_the_records() -> None:
    studies = metapool.examples.aspirin()
    res = metapool.analyse(studies, measure="OR", method="MH")
    again = metapool.effect_sizes(
        "OR",
        events_exp=[s.events_exp for s in studies],
        total_exp=[s.total_exp for s in studies],
        events_ctrl=[s.events_ctrl for s in studies],
        total_ctrl=[s.total_ctrl for s in studies],
    )
    np.testing.assert_array_equal(res.effects.yi, again.yi)
    np.testing.assert_array_equal(res.effects.vi, again.vi)
    np.testing.assert_array_equal(res.effects.reason, again.reason)
    # in the order of the study rows, which show the same effects
    np.testing.assert_allclose(
        np.exp(res.effects.yi), [s.estimate for s in res.studies], rtol=1e-14
    )


def test_settings_carry_tau2_ci() -> None:
    assert aspirin(method="IV", **REVMAN_WEB).settings.tau2_ci is True
    assert aspirin().settings.tau2_ci is False


def test_trimfill_of_a_revman_web_analysis_keeps_the_tau2_ci() -> None:
    res = aspirin(method="IV", **REVMAN_WEB)
    tf = res.trimfill()
    assert tf.k0 > 0
    h = tf.heterogeneity
    assert h.tau2_ci is not None and h.i2_ci is not None
    # the same as pooling the observed and filled studies with RevMan Web's options
    yi = np.concatenate([res.effects.yi, tf.filled_yi])
    vi = np.concatenate([res.effects.vi, tf.filled_vi])
    web = {k: v for k, v in REVMAN_WEB.items()}
    direct = metapool.pool(yi, vi, **web)  # type: ignore[arg-type]
    assert direct.tau2_ci_lower is not None and direct.tau2_ci_upper is not None
    np.testing.assert_allclose(
        [h.tau2_ci.lower, h.tau2_ci.upper],
        [direct.tau2_ci_lower[0], direct.tau2_ci_upper[0]],
        rtol=1e-10,
    )
    np.testing.assert_allclose(h.tau2, direct.tau2[0], rtol=1e-10)
    assert h.tau2_ci.lower <= h.tau2 <= h.tau2_ci.upper
    # without the option there is no CI, as before
    assert aspirin(method="IV", model="random").trimfill().heterogeneity.tau2_ci is None


def test_tests_unpack_as_statistic_and_p_value() -> None:
    res = aspirin(method="MH")
    egger = res.egger(k_min=7)
    assert isinstance(egger, RegressionTest)
    t, p = egger
    assert (t, p) == (egger.statistic, egger.p_value)
    begg = res.begg(k_min=7)
    assert isinstance(begg, RankTest)
    tau, p_begg = begg
    assert (tau, p_begg) == (begg.statistic, begg.p_value) == (begg.tau, begg.p_value)


def test_sequence_is_a_deprecated_alias_of_reanalysis() -> None:
    import metapool.diagnostics as diagnostics
    import metapool.diagnostics.sensitivity as sensitivity

    with pytest.warns(DeprecationWarning, match="renamed Reanalysis"):
        assert diagnostics.Sequence is Reanalysis
    with pytest.warns(DeprecationWarning, match="renamed Reanalysis"):
        assert sensitivity.Sequence is Reanalysis
    assert isinstance(aspirin().leave_one_out(), Reanalysis)
    with pytest.raises(AttributeError):
        diagnostics.Nothing  # noqa: B018


def test_totals_is_a_deprecated_alias_of_arm_totals() -> None:
    res = metapool.analyse([*metapool.examples.aspirin()[:3]], measure="RR")
    assert res.arm_totals is not None
    with pytest.warns(DeprecationWarning, match="renamed arm_totals"):
        assert res.totals == res.arm_totals
    sub = metapool.analyse(
        [
            metapool.Dichotomous("A", 3, 10, 5, 10, subgroup="x"),
            metapool.Dichotomous("B", 4, 12, 6, 11, subgroup="y"),
        ]
    ).subgroups["x"]
    assert sub.arm_totals == metapool.results.ArmTotals(10.0, 10.0, 3.0, 5.0)
    with pytest.warns(DeprecationWarning, match="renamed arm_totals"):
        assert sub.totals == sub.arm_totals


def test_baujat_points_are_a_diagnostic_also_importable_from_the_plots() -> None:
    from metapool.diagnostics import baujat_points

    assert metapool.plots.baujat_points is baujat_points
    assert metapool.plots.labbe.__module__ == "metapool.plots.labbe"
