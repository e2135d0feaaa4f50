"""Spec §8: every kind of bad input gets an InputError naming the study and the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import metapool
from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE


def test_input_error_is_a_value_error() -> None:
    assert issubclass(InputError, ValueError)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Dichotomous("Smith", -1, 10, 2, 10), "study 'Smith': events_exp = -1 is negative"),
        (
            lambda: Dichotomous("Smith", 11, 10, 2, 10),
            "study 'Smith': events_exp = 11 is greater than total_exp = 10",
        ),
        (
            lambda: Dichotomous("Smith", 1, 10, 12, 10),
            "study 'Smith': events_ctrl = 12 is greater than total_ctrl = 10",
        ),
        (lambda: Dichotomous("Smith", 0, 0, 2, 10), "study 'Smith': total_exp = 0 is less than 1"),
        (lambda: Dichotomous("Smith", 1.5, 10, 2, 10), "events_exp = 1.5 is not a whole number"),
        (lambda: Dichotomous("Smith", math.nan, 10, 2, 10), "events_exp = nan is not finite"),
        (lambda: Dichotomous("Smith", "3", 10, 2, 10), "events_exp must be a number"),
        (lambda: Dichotomous("", 1, 10, 2, 10), "study name must be a non-empty string"),
        (
            lambda: Continuous("Lee", 1.0, 0.0, 10, 2.0, 1.0, 10),
            "study 'Lee': sd_exp = 0.0 must be positive (total_exp = 10)",
        ),
        (
            lambda: Continuous("Lee", 1.0, -1.0, 10, 2.0, 1.0, 10),
            "study 'Lee': sd_exp = -1.0 must be positive",
        ),
        (lambda: Continuous("Lee", 1.0, 1.0, 0, 2.0, 1.0, 10), "total_exp = 0 is less than 1"),
        (
            lambda: Continuous("Lee", math.inf, 1.0, 10, 2.0, 1.0, 10),
            "study 'Lee': mean_exp = inf is not finite",
        ),
        (lambda: OMinusE("Ng", 1.2, 0.0), "study 'Ng': variance = 0.0 must be positive"),
        (lambda: OMinusE("Ng", 1.2, -2.0), "study 'Ng': variance = -2.0 must be positive"),
        (lambda: Generic("Ng", 0.3, 0.0), "study 'Ng': se = 0.0 must be positive"),
        (lambda: Generic("Ng", math.nan, 0.1), "study 'Ng': estimate = nan is not finite"),
    ],
)
def test_bad_records(make: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        make()
    assert message in str(info.value)


def test_smd_needs_two_participants_per_arm() -> None:
    studies = [
        Continuous("A", 1.0, 1.0, 10, 2.0, 1.0, 10),
        Continuous("Tiny", 1.0, 0.0, 1, 2.0, 1.0, 5),
    ]
    with pytest.raises(InputError, match="study 'Tiny': total_exp = 1: SMD needs at least 2"):
        metapool.analyse(studies, measure="SMD")
    assert metapool.analyse(studies, measure="MD").k == 2  # MD is defined for n = 1


STUDIES = [Dichotomous("A", 3, 20, 5, 20), Dichotomous("B", 4, 30, 9, 30)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"measure": "XX"},
            "unknown measure for dichotomous data 'XX'; allowed: OR, RR, RD, PETO_OR",
        ),
        ({"measure": "MD"}, "allowed: OR, RR, RD, PETO_OR"),
        ({"method": "foo"}, "unknown method 'foo'; allowed: MH, IV, PETO"),
        ({"measure": "OR", "method": "PETO"}, "method PETO does not fit measure OR"),
        ({"measure": "PETO_OR", "method": "MH"}, "method MH does not fit measure PETO_OR"),
        ({"model": "mixed"}, "unknown model 'mixed'; allowed: fixed, random"),
        ({"measure": "PETO_OR", "model": "random"}, "the Peto method has no random-effects model"),
        ({"ci_level": 1.5}, "ci_level must lie between 0 and 1"),
        ({"study_ci_level": "95%"}, "study_ci_level must be a number"),
        (
            {"tau2": "XYZ"},
            "unknown tau2 estimator 'XYZ'; allowed: DL, REML, ML, PM, EB, HE, SJ, HS",
        ),
        ({"i2": "both"}, "unknown i2 'both'; allowed: Q, tau2"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        metapool.analyse(STUDIES, **options)
    assert message in str(info.value)


def test_method_that_does_not_fit_continuous_data() -> None:
    cont = [Continuous("A", 1.0, 1.0, 10, 2.0, 1.0, 10)]
    with pytest.raises(
        InputError, match=r"method MH does not fit measure MD \(continuous data\); allowed: IV"
    ):
        metapool.analyse(cont, measure="MD", method="MH")


def test_mixed_data_types_and_subgroups() -> None:
    with pytest.raises(
        InputError, match="study 'C': is Continuous, but the analysis holds Dichotomous"
    ):
        metapool.analyse([*STUDIES, Continuous("C", 1.0, 1.0, 10, 2.0, 1.0, 10)])
    with pytest.raises(
        InputError, match="study 'B': subgroup is missing while other studies have one"
    ):
        metapool.analyse([Dichotomous("A", 3, 20, 5, 20, subgroup="x"), STUDIES[1]])
    with pytest.raises(InputError, match="no studies to analyse"):
        metapool.analyse([])
    with pytest.raises(InputError, match="generic inverse-variance data need a measure label"):
        metapool.analyse([Generic("A", 0.1, 0.2)])
    with pytest.raises(InputError, match="ratio=True or ratio=False"):
        metapool.analyse([Generic("A", 0.1, 0.2)], measure="Odds of something")


def test_non_estimable_studies_stay_with_the_reason() -> None:
    studies = [*STUDIES, Dichotomous("Zero", 0, 15, 0, 14), Dichotomous("All", 15, 15, 14, 14)]
    res = metapool.analyse(studies, measure="OR")
    rows = {s.study: s for s in res.studies}
    assert [s.study for s in res.studies] == ["A", "B", "Zero", "All"]
    assert res.k == 2 and res.heterogeneity.df == 1
    assert not rows["Zero"].estimable and rows["Zero"].reason == "no events in either arm"
    assert rows["All"].reason == "all participants had events in both arms"
    assert math.isnan(rows["Zero"].estimate) and rows["Zero"].weight == 0.0
    assert "Not estimable" in str(res)
    # RD keeps double-zero studies (estimate 0 from the raw counts)
    rd = metapool.analyse(studies, measure="RD")
    assert rd.k == 4 and {s.study: s.estimate for s in rd.studies}["Zero"] == 0.0


def test_analysis_without_estimable_study_is_a_result() -> None:
    res = metapool.analyse([Dichotomous("Zero", 0, 15, 0, 14)], measure="RR", model="random")
    assert not res.estimable and not res.total.estimable and res.k == 0
    assert math.isnan(res.total.estimate) and math.isnan(res.heterogeneity.i2)
    assert "Not estimable" in str(res)


def test_missing_cells_make_a_study_not_estimable() -> None:
    res = metapool.analyse([*STUDIES, Dichotomous("Blank", None, None, 3, 10)])
    blank = res.studies[2]
    assert not blank.estimable and blank.reason == "missing data"
    assert res.arm_totals is not None and res.arm_totals.total_exp == 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"yi": [0.1, np.nan], "vi": [0.1, 0.2]}, "study 1 (group 0): yi = nan is not finite"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.0]}, "study 1 (group 0): vi = 0.0 must be positive"),
        (
            {"yi": [0.1, 0.2], "vi": [0.1, -1.0], "groups": ["a", "b"]},
            "study 1 (group 'b'): vi = -1.0",
        ),
        ({"yi": [0.1, 0.2], "vi": [0.1]}, "yi has shape (2,) but vi has shape (1,)"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.1], "groups": [1]}, "groups has shape (1,)"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.1], "tau2": "Bayes"}, "unknown tau2 estimator 'Bayes'"),
        ({"yi": [[0.1, np.nan]], "vi": [[0.1, 0.1]]}, "yi and vi must be NaN together"),
    ],
)
def test_pool_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        metapool.pool(**kwargs)
    assert message in str(info.value)


def test_effect_sizes_bad_arrays_name_the_row_or_study() -> None:
    with pytest.raises(InputError, match=r"row 1: events_exp = 12 is greater than total_exp = 10"):
        metapool.effect_sizes(
            "OR", events_exp=[1, 12], total_exp=[10, 10], events_ctrl=[1, 1], total_ctrl=[9, 9]
        )
    with pytest.raises(InputError, match=r"study 'B': total_ctrl = 0 is less than 1"):
        metapool.effect_sizes(
            "RR",
            study=["A", "B"],
            events_exp=[1, 1],
            total_exp=[10, 10],
            events_ctrl=[1, 0],
            total_ctrl=[9, 0],
        )
    with pytest.raises(InputError, match="measure SMD needs sd_exp"):
        metapool.effect_sizes(
            "SMD", mean_exp=[1], total_exp=[3], mean_ctrl=[2], sd_ctrl=[1], total_ctrl=[3]
        )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Dichotomous("a", 10**400, 10**401, 1, 2), "events_exp is a number too large"),
        (lambda: Continuous("a", 1.0, 10**400, 10, 1.0, 1.0, 10), "sd_exp is a number too large"),
        (lambda: Generic("a", 0.1, 10**5000), "study 'a': se is a number too large for a float"),
        (lambda: metapool.pool(["a", "b"], [1, 1]), "yi must be numbers, got text ('a', ...)"),
        (lambda: metapool.pool([0.1, 0.2], ["1", "2"]), "vi must be numbers, got text"),
        (lambda: metapool.pool([True, False], [1, 1]), "yi must be numbers, got booleans"),
        (lambda: metapool.pool([10**400, 1], [1, 1]), "yi holds a number too large for a float"),
        (lambda: metapool.pool([0.1, 0.2], None), "vi (sampling variances) is required"),
        (
            lambda: metapool.effect_sizes(
                None, events_exp=[1], total_exp=[2], events_ctrl=[1], total_ctrl=[2]
            ),
            "measure must be a string such as 'OR' or 'MD', got None",
        ),
        (
            lambda: metapool.effect_sizes(
                "OR", events_exp=None, total_exp=[2], events_ctrl=[1], total_ctrl=[2]
            ),
            "events_exp must be numbers, got None",
        ),
        (
            lambda: metapool.effect_sizes(
                "MD",
                mean_exp=[1.0],
                sd_exp=[{}],
                total_exp=[2],
                mean_ctrl=[1.0],
                sd_ctrl=[1.0],
                total_ctrl=[2],
            ),
            "sd_exp must be numbers",
        ),
    ],
)
def test_raw_exceptions_become_input_errors(call: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert message in str(info.value)
