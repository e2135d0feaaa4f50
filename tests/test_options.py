"""Options are checked, never silently ignored or coerced (analyse, pool, metapool.dask)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import metapool
from metapool import InputError
from metapool.io.dataframe import from_dataframe

ASPIRIN = metapool.examples.aspirin()
YI, VI = [0.1, 0.3, 0.2, -0.1, 0.4], [0.01, 0.02, 0.015, 0.02, 0.03]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"tau2": "REML"}, "tau2='REML'"),
        ({"tau2": "DL"}, "tau2='DL'"),
        ({"hksj": True}, "hksj=True"),
        ({"prediction": True}, "prediction=True"),
        ({"tau2": "PM", "prediction": True}, "tau2='PM', prediction=True"),
    ],
)
def test_random_effects_options_need_the_random_model(options: dict[str, Any], named: str) -> None:
    message = f'{named} needs model="random"'
    with pytest.raises(InputError, match=message):
        metapool.analyse(ASPIRIN, **options)
    with pytest.raises(InputError, match=message):
        metapool.analyse(ASPIRIN, model="fixed", method="IV", **options)
    with pytest.raises(InputError, match=message):
        metapool.pool(YI, VI, model="fixed", **options)


def test_random_effects_options_off_are_fine_with_the_fixed_model() -> None:
    plain = metapool.analyse(ASPIRIN)
    same = metapool.analyse(ASPIRIN, model="fixed", hksj=False, prediction=False)
    assert same.total == plain.total and same.prediction is None


def test_revman_web_sets_the_random_model_and_is_read_only() -> None:
    assert metapool.REVMAN_WEB["model"] == "random"
    res = metapool.analyse(ASPIRIN, method="IV", **metapool.REVMAN_WEB)
    assert res.settings.model.value == "random" and res.settings.tau2 == "REML"
    with pytest.raises(TypeError):
        metapool.REVMAN_WEB["hksj"] = False  # type: ignore[index]
    assert metapool.REVMAN_WEB["hksj"] is True
    # the documented way to change one option
    wald = metapool.analyse(ASPIRIN, method="IV", **{**metapool.REVMAN_WEB, "hksj": False})
    assert not wald.settings.hksj and wald.settings.tau2 == "REML"
    assert wald.heterogeneity.tau2 == res.heterogeneity.tau2
    assert wald.total.ci_upper - wald.total.ci_lower != res.total.ci_upper - res.total.ci_lower


@pytest.mark.parametrize("value", ["no", "yes", "False", 0, 1, 1.0, None, [True]])
@pytest.mark.parametrize("name", ["swap_events", "hksj", "prediction", "tau2_ci"])
def test_yes_no_options_take_only_booleans(name: str, value: Any) -> None:
    options: dict[str, Any] = {"model": "random", "method": "IV"} if name != "swap_events" else {}
    choices = "True, False or 'adhoc'" if name == "hksj" else "True or False"
    with pytest.raises(InputError, match=re.escape(f"{name} must be {choices}, got {value!r}")):
        metapool.analyse(ASPIRIN, **options, **{name: value})
    if name != "swap_events":
        with pytest.raises(InputError, match=re.escape(f"{name} must be {choices}")):
            metapool.pool(YI, VI, **{name: value})


def test_swap_events_no_does_not_swap() -> None:
    with pytest.raises(InputError, match="swap_events must be True or False, got 'no'"):
        metapool.analyse(ASPIRIN, swap_events="no")
    with pytest.raises(InputError, match="swap_events must be True or False"):
        metapool.effect_sizes(
            "OR", events_exp=[4], total_exp=[10], events_ctrl=[5], total_ctrl=[10],
            swap_events="no",
        )  # fmt: skip
    with pytest.raises(InputError, match="allow_missing must be True or False"):
        metapool.effect_sizes("MD", allow_missing=1, estimate=[1.0], se=[1.0])


def test_ratio_takes_only_booleans() -> None:
    studies = [metapool.Generic("a", 0.1, 0.2), metapool.Generic("b", 0.3, 0.2)]
    with pytest.raises(InputError, match="ratio must be True or False, got 'yes'"):
        metapool.analyse(studies, measure="HR", ratio="yes")
    with pytest.raises(InputError, match="ratio must be True or False, got 0"):
        metapool.analyse(ASPIRIN, ratio=0)


def test_numpy_booleans_and_floats_are_accepted() -> None:
    res = metapool.analyse(
        ASPIRIN, method="IV", model="random", hksj=np.True_, prediction=np.bool_(True),
        tau2_ci=np.False_, ci_level=np.float64(0.9), study_ci_level=np.float32(0.99),
    )  # fmt: skip
    assert res.settings.hksj is True and res.settings.prediction is True
    assert res.settings.ci_level == 0.9
    assert res.settings.study_ci_level == pytest.approx(0.99, rel=1e-7)
    swapped = metapool.analyse(ASPIRIN, swap_events=np.True_)
    assert swapped.settings.swap_events is True
    assert swapped.total.estimate == pytest.approx(
        metapool.analyse(ASPIRIN, swap_events=True).total.estimate, rel=1e-15
    )
    pooled = metapool.pool(YI, VI, ci_level=np.float64(0.9), hksj=np.True_)
    assert pooled.ci_lower[0] == metapool.pool(YI, VI, ci_level=0.9, hksj=True).ci_lower[0]


def test_a_true_option_is_not_mistaken_for_one() -> None:
    """The options are cached: True and 1 hash alike, but 1 is refused every time."""
    metapool.analyse(ASPIRIN, model="random", method="IV", hksj=True)
    with pytest.raises(InputError, match="hksj must be True, False or 'adhoc', got 1"):
        metapool.analyse(ASPIRIN, model="random", method="IV", hksj=1)


@pytest.mark.parametrize("value", [95, 95.0, 90, 99.5])
def test_ci_level_in_percent_is_refused_with_the_fraction(value: float) -> None:
    fraction = f"{value / 100:g}"
    with pytest.raises(InputError, match=rf"ci_level must lie between 0 and 1.*write {fraction}"):
        metapool.analyse(ASPIRIN, ci_level=value)
    with pytest.raises(InputError, match=rf"study_ci_level must lie between 0 and 1.*{fraction}"):
        metapool.analyse(ASPIRIN, study_ci_level=value)
    with pytest.raises(InputError, match=rf"ci_level must lie between 0 and 1.*{fraction}"):
        metapool.pool(YI, VI, ci_level=value)


@pytest.mark.parametrize("value", [0, 1, 1.0, -0.5, 100, float("nan"), float("inf")])
def test_ci_level_outside_zero_one_is_refused(value: float) -> None:
    with pytest.raises(InputError, match="ci_level must lie between 0 and 1"):
        metapool.analyse(ASPIRIN, ci_level=value)


@pytest.mark.parametrize("value", [True, np.True_, "0.95", None])
def test_ci_level_must_be_a_number(value: Any) -> None:
    with pytest.raises(InputError, match="ci_level must be a number between 0 and 1"):
        metapool.analyse(ASPIRIN, ci_level=value)


def test_readers_convert_revmans_percent(tmp_path: Path) -> None:
    review = metapool.read_rm5(metapool.examples.path("aspirin.rm5"))
    (outcome, _) = review.outcomes
    assert outcome.settings["ci_level"] == 0.95 and outcome.settings["study_ci_level"] == 0.95
    # a data package writes "95%"
    (outcome, _) = metapool.read_review(metapool.examples.path("aspirin.zip")).outcomes
    assert outcome.settings["ci_level"] == 0.95
    text = metapool.examples.path("aspirin.rm5").read_text("latin-1")
    ninety = tmp_path / "ninety.rm5"
    ninety.write_text(text.replace('CI_TOTAL="95"', 'CI_TOTAL="90"', 1), "latin-1")
    (outcome, _) = metapool.read_rm5(ninety).outcomes
    assert outcome.settings["ci_level"] == 0.9 and outcome.settings["study_ci_level"] == 0.95
    assert outcome.analyse().settings.ci_level == 0.9


def test_the_same_study_twice_is_refused() -> None:
    twice = [*ASPIRIN, ASPIRIN[2]]
    with pytest.raises(InputError, match="study 'MRC-2' is listed twice"):
        metapool.analyse(twice)
    pain = metapool.examples.stem_cell_oa_pain()
    moved = [*pain, metapool.Continuous(pain[0].study, 1.0, 1.0, 10, 2.0, 1.0, 10, "Other")]
    with pytest.raises(InputError, match=f"study {pain[0].study!r} is listed twice"):
        metapool.analyse(moved, measure="SMD")


def test_a_dataframe_points_to_from_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"study": ["a", "b"], "events_exp": [1, 2], "total_exp": [10, 10],
         "events_ctrl": [2, 3], "total_ctrl": [10, 10]}
    )  # fmt: skip
    with pytest.raises(InputError, match=r"not a DataFrame.*metapool\.from_dataframe"):
        metapool.analyse(frame)
    assert metapool.analyse(from_dataframe(frame)).k == 2


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'metapool\[pandas\]'.*'\.\[pandas\]'"):
        from_dataframe(object())  # type: ignore[arg-type]
