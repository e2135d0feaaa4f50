"""RevMan 5.4's vocabulary: data types, effect measures, statistical methods, models.

Names and defaults live here, once; every entry point resolves user strings
through :func:`resolve` so that errors read the same everywhere.
"""

from __future__ import annotations

import functools
from enum import Enum
from numbers import Real
from typing import Any, cast

import attrs
import numpy as np

from metapool._typing import I2, Hksj, Measure, PoolMethod, Tau2Method, Totals
from metapool._typing import Model as ModelName
from metapool.errors import InputError

__all__ = [
    "MEASURE_NAMES",
    "TAU2_METHODS",
    "TOTALS",
    "DataType",
    "Method",
    "Model",
    "Settings",
    "flag",
    "resolve",
]


class DataType(str, Enum):
    """RevMan's four data types."""

    DICHOTOMOUS = "dichotomous"
    CONTINUOUS = "continuous"
    O_MINUS_E = "o_minus_e"
    GENERIC = "generic"


class Method(str, Enum):
    """Statistical method for fixed-effect pooling (and RevMan's Q)."""

    MH = "MH"
    IV = "IV"
    PETO = "PETO"


class Model(str, Enum):
    """Analysis model."""

    FIXED = "fixed"
    RANDOM = "random"


#: τ² estimators (metafor's names). DL is RevMan 5.4's.
TAU2_METHODS = ("DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")

#: RevMan's choice of pooled results to show: totals and subtotals (``TOTALS="YES"``),
#: subtotals only (``"SUB"``), or none (``"NO"``).
TOTALS = ("all", "subtotals", "none")

_RATIO = frozenset({"OR", "RR", "PETO_OR", "HR"})
_DIFFERENCE = frozenset({"RD", "MD", "SMD"})

# measure -> methods allowed, first is RevMan's default
_METHODS: dict[DataType, dict[str, tuple[Method, ...]]] = {
    DataType.DICHOTOMOUS: {
        "OR": (Method.MH, Method.IV),
        "RR": (Method.MH, Method.IV),
        "RD": (Method.MH, Method.IV),
        "PETO_OR": (Method.PETO,),
    },
    DataType.CONTINUOUS: {"MD": (Method.IV,), "SMD": (Method.IV,)},
    DataType.O_MINUS_E: {"PETO_OR": (Method.PETO, Method.IV), "HR": (Method.IV, Method.PETO)},
}
_DEFAULT_MEASURE = {
    DataType.DICHOTOMOUS: "OR",
    DataType.CONTINUOUS: "MD",
    DataType.O_MINUS_E: "PETO_OR",
}
_MEASURE_ALIASES = {
    "PETO OR": "PETO_OR",
    "ODDS RATIO": "OR",
    "RISK RATIO": "RR",
    "RISK DIFFERENCE": "RD",
    "MEAN DIFFERENCE": "MD",
    "STD. MEAN DIFFERENCE": "SMD",
    "STANDARDISED MEAN DIFFERENCE": "SMD",
    "STANDARDIZED MEAN DIFFERENCE": "SMD",
    "PETO ODDS RATIO": "PETO_OR",
    "HAZARD RATIO": "HR",
}
_METHOD_ALIASES = {"M-H": "MH", "MANTEL-HAENSZEL": "MH", "INVERSE VARIANCE": "IV"}


@attrs.frozen
class Settings:
    """A fully resolved analysis specification.

    Attributes
    ----------
    data_type, measure, method, model
        RevMan's choices. ``measure`` is upper case (``"OR"``, ``"SMD"``, or a
        generic label such as ``"HR"``).
    ratio
        Whether the measure is pooled on the natural-log scale.
    ci_level, study_ci_level
        Confidence levels of the totals and of the study rows (0-1).
    tau2
        τ² estimator for the random-effects model (``"DL"`` in RevMan 5.4).
    hksj
        Hartung-Knapp-Sidik-Jonkman confidence interval for the mean: False,
        True, or ``"adhoc"`` (its variance never below the Wald one).
    prediction
        Compute a prediction interval (random effects, k >= 3).
    i2
        ``"Q"`` (Higgins-Thompson, RevMan 5.4) or ``"tau2"`` (from τ², RevMan Web).
    swap_events
        Events and non-events were swapped (dichotomous data).
    totals
        Which pooled results are shown (:data:`TOTALS`): ``"all"``, the
        ``"subtotals"`` of the subgroups only (study weights within each
        subgroup), or ``"none"``. What is computed does not change.
    subgroup_test
        The test for subgroup differences is shown.
    number
        RevMan's number of the analysis (``"1.1"``), from which subgroup
        headings are numbered (``"1.1.1 Bone marrow"``); None: not numbered.
    tau2_ci
        Q-profile confidence intervals for τ² and I² (RevMan Web), also in refits.
    """

    data_type: DataType
    measure: str
    method: Method
    model: Model
    ratio: bool
    ci_level: float = 0.95
    study_ci_level: float = 0.95
    tau2: Tau2Method = "DL"
    hksj: Hksj = False
    prediction: bool = False
    i2: I2 = "Q"
    swap_events: bool = False
    totals: str = "all"
    subgroup_test: bool = True
    number: str | None = None
    tau2_ci: bool = False

    @property
    def measure_name(self) -> str:
        """The measure as RevMan names it (``"Odds Ratio"``; a generic label as given)."""
        return MEASURE_NAMES.get(self.measure, self.measure)

    @property
    def label(self) -> str:
        """RevMan's heading, e.g. ``"Odds Ratio M-H, Fixed, 95% CI"``."""
        method = {"MH": "M-H", "IV": "IV", "PETO": "Peto"}[self.method.value]
        model = "Fixed" if self.model is Model.FIXED else "Random"
        level = f"{_percent(self.study_ci_level)}% CI"
        return f"{self.measure_name} {method}, {model}, {level}"


#: RevMan's names of the measure codes
MEASURE_NAMES = {
    "OR": "Odds Ratio",
    "RR": "Risk Ratio",
    "RD": "Risk Difference",
    "PETO_OR": "Peto Odds Ratio",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
    "HR": "Hazard Ratio",
}


def _percent(level: float) -> str:
    return f"{level * 100:g}"


def _level(name: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise InputError(f"{name} must be a number between 0 and 1 (e.g. 0.95), got {value!r}")
    level = float(value)
    if not 0 < level < 1:
        hint = f"; for {level:g}% write {level / 100:g}" if 1 < level < 100 else ""
        raise InputError(f"{name} must lie between 0 and 1 (e.g. 0.95), got {value!r}{hint}")
    return level


def _hksj(value: object) -> Hksj:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() == "adhoc":
        return "adhoc"
    raise InputError(f"hksj must be True, False or 'adhoc', got {value!r}")


def flag(name: str, value: object) -> bool:
    """A yes/no option: only ``True`` or ``False`` (numpy's too), never a truthy string."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _choice(
    name: str, value: object, allowed: tuple[str, ...], aliases: dict[str, str] | None = None
) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    key = value.strip().upper()
    key = (aliases or {}).get(key, key)
    for option in allowed:
        if option.upper() == key:
            return option
    raise InputError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


def resolve(data_type: DataType, **options: Any) -> Settings:
    """Check a combination of options and fill in RevMan's defaults.

    Keyword arguments as :func:`metapool.analyse`'s. Defaults: the measure is
    OR for dichotomous data, MD for continuous data and PETO_OR for O-E data;
    the method is the first RevMan offers for the measure (MH for OR/RR/RD,
    IV for MD/SMD/generic, Peto for PETO_OR).
    """
    try:  # pure, so cached: a batch of small analyses resolves its options once
        return _resolve_cached(data_type, **options)
    except TypeError:  # an unhashable option: the checks say what is wrong with it
        return _resolve(data_type, **options)


def _resolve(
    data_type: DataType,
    *,
    measure: Measure | str | None = None,
    method: PoolMethod | None = None,
    model: ModelName = "fixed",
    ratio: bool | None = None,
    ci_level: float = 0.95,
    study_ci_level: float | None = None,
    tau2: Tau2Method | None = None,
    hksj: Hksj = False,
    prediction: bool = False,
    i2: I2 = "Q",
    swap_events: bool = False,
    totals: Totals = "all",
    subgroup_test: bool = True,
    number: str | None = None,
) -> Settings:
    model_v = Model(_choice("model", model, ("fixed", "random")))
    tau2_v = cast(
        Tau2Method, _choice("tau2 estimator", "DL" if tau2 is None else tau2, TAU2_METHODS)
    )
    i2_v = cast(I2, _choice("i2", i2, ("Q", "tau2")))
    hksj, prediction = _hksj(hksj), flag("prediction", prediction)
    swap_events = flag("swap_events", swap_events)
    if model_v is Model.FIXED:  # random-effects options a fixed-effect analysis would ignore
        asked = [] if tau2 is None else [f"tau2={tau2!r}"]
        options = (("hksj", hksj), ("prediction", prediction))
        asked += [f"{name}={on!r}" for name, on in options if on]
        if asked:
            raise InputError(f'{", ".join(asked)} needs model="random" (the model is fixed)')
    ci = _level("ci_level", ci_level)
    study_ci = ci if study_ci_level is None else _level("study_ci_level", study_ci_level)
    totals_v = _choice("totals", totals, TOTALS)
    subgroup_test = flag("subgroup_test", subgroup_test)
    if number is not None and (not isinstance(number, str) or not number.strip()):
        raise InputError(f"number must be RevMan's analysis number such as '1.1', got {number!r}")

    if ratio is not None:
        ratio = flag("ratio", ratio)
    if data_type is DataType.GENERIC:
        if measure is None:
            raise InputError(
                "generic inverse-variance data need a measure label, e.g. measure='HR', "
                "and ratio=True/False"
            )
        if not isinstance(measure, str) or not measure.strip():
            raise InputError(f"measure must be a non-empty label, got {measure!r}")
        # a generic label keeps its own spelling ("Ratio of means"); RevMan's names
        # and codes of the measures metapool knows become their codes
        key = measure.strip().upper()
        known = key in _RATIO or key in _DIFFERENCE or key in _MEASURE_ALIASES
        measure_v = _MEASURE_ALIASES.get(key, key) if known else measure.strip()
        if ratio is None:
            if measure_v in _RATIO:
                ratio = True
            elif measure_v in _DIFFERENCE:
                ratio = False
            else:
                raise InputError(
                    f"say whether generic measure {measure!r} is a ratio (pooled on the log "
                    "scale): ratio=True or ratio=False"
                )
        method_v = Method(_choice("method", method or "IV", ("IV",), _METHOD_ALIASES))
    else:
        allowed = _METHODS[data_type]
        if data_type is DataType.O_MINUS_E and measure is not None:
            # RevMan lets O-E outcomes carry any ratio's name, e.g. "Hazard Ratio"
            label = measure.strip().upper() if isinstance(measure, str) else measure
            label = _MEASURE_ALIASES.get(label, label)
            if isinstance(label, str) and label and label not in allowed:
                # a name of its own keeps its spelling ("Rate ratio")
                allowed = {**allowed, measure.strip(): (Method.PETO, Method.IV)}
        measure_v = _choice(
            f"measure for {data_type.value} data",
            measure or _DEFAULT_MEASURE[data_type],
            tuple(allowed),
            _MEASURE_ALIASES,
        )
        methods = allowed[measure_v]
        if method is None:
            method_v = methods[0]
        else:
            method_v = Method(_choice("method", method, ("MH", "IV", "PETO"), _METHOD_ALIASES))
            if method_v not in methods:
                raise InputError(
                    f"method {method_v.value} does not fit measure {measure_v} "
                    f"({data_type.value} data); allowed: {', '.join(m.value for m in methods)}"
                )
        is_ratio = measure_v in _RATIO or data_type is DataType.O_MINUS_E
        if ratio is not None and ratio != is_ratio:
            raise InputError(f"measure {measure_v} is {'a' if is_ratio else 'not a'} ratio")
        ratio = is_ratio
    if method_v is Method.PETO and model_v is Model.RANDOM:
        raise InputError(
            "the Peto method has no random-effects model; use model='fixed', "
            "or method='IV' for random effects"
        )
    if swap_events and data_type is not DataType.DICHOTOMOUS:
        raise InputError("swap_events applies to dichotomous data only")
    return Settings(
        data_type=data_type,
        measure=measure_v,
        method=method_v,
        model=model_v,
        ratio=bool(ratio),
        ci_level=ci,
        study_ci_level=study_ci,
        tau2=tau2_v,
        hksj=hksj,
        prediction=prediction,
        i2=i2_v,
        swap_events=swap_events,
        totals=totals_v,
        subgroup_test=subgroup_test,
        number=None if number is None else number.strip(),
    )


# typed: True and 1 (or 0.95 and a numpy 0.95) hash alike but are not the same option
_resolve_cached = functools.lru_cache(maxsize=256, typed=True)(_resolve)
