"""Data preparation: RevMan's calculator and the Cochrane Handbook's conversions.

Trial reports rarely give exactly what a meta-analysis needs. These helpers turn
what was reported into what RevMan enters -- a mean and SD from a median and
quartiles, an SD from a CI or a P value, one arm from several dose arms, an
effective sample size for a cluster trial -- and every result says how it was
obtained (:meth:`describe`), so that the converted value can carry a footnote.

Every function broadcasts its arguments like numpy, checks them (an
:class:`~metapool.InputError` names the function, the argument and the
position), and returns a frozen record that also unpacks in the order of its
fields (``mean, sd = mean_sd_from_quantiles(...)``). Scalars in give numpy
scalars out.

References
----------
.. [1] Higgins JPT, Li T, Deeks JJ (editors). Chapter 6: Choosing effect measures
   and computing estimates of effect. In: Cochrane Handbook for Systematic Reviews
   of Interventions, version 6.4, 2023 (sections 6.3.1, 6.5.2.3, 6.5.2.8, Table 6.5.a).
.. [2] Higgins JPT, Eldridge S, Li T (editors). Chapter 23: Including variants on
   randomized trials. Ibid. (section 23.1.4).
.. [3] Wan X, Wang W, Liu J, Tong T. Estimating the sample mean and standard
   deviation from the sample size, median, range and/or interquartile range.
   BMC Med Res Methodol 2014;14:135.
.. [4] Luo D, Wan X, Liu J, Tong T. Optimally estimating the sample mean from the
   sample size, median, mid-range, and/or mid-quartile range. Stat Methods Med
   Res 2018;27:1785-805.
.. [5] Shi J, Luo D, Weng H, et al. Optimally estimating the sample standard
   deviation from the five-number summary. Res Synth Methods 2020;11:641-54.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from scipy import stats

from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError, MetapoolWarning

__all__ = [
    "Combined",
    "CombinedEvents",
    "Correlation",
    "Effective",
    "EffectiveEvents",
    "GenericEstimate",
    "MeanSD",
    "StandardDeviation",
    "combine_continuous",
    "combine_dichotomous",
    "correlation_from",
    "effective_events",
    "effective_sample_size",
    "generic_from_ci",
    "mean_sd_from_quantiles",
    "sd_change",
    "sd_from_ci",
    "sd_from_difference",
    "sd_from_se",
]

Floats: TypeAlias = "FloatArray | np.float64"
"""An array, or a numpy scalar when every argument was a scalar."""
Notes: TypeAlias = "str | npt.NDArray[np.str_]"
"""One note, or an array of notes shaped like the result."""

# Wan et al. (2014), Table 1: expected range of n standard normal values, n = 1..50
_WAN_RANGE = np.array([
    0.000, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078,
    3.173, 3.259, 3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735,
    3.778, 3.819, 3.858, 3.895, 3.931, 3.964, 3.997, 4.027, 4.057, 4.086,
    4.113, 4.139, 4.165, 4.189, 4.213, 4.236, 4.259, 4.280, 4.301, 4.322,
    4.341, 4.361, 4.379, 4.398, 4.415, 4.433, 4.450, 4.466, 4.482, 4.498,
])  # fmt: skip
# Wan et al. (2014), Table 2: expected IQR of n = 4Q + 1 standard normal values, Q = 1..50
_WAN_IQR = np.array([
    0.990, 1.144, 1.206, 1.239, 1.260, 1.274, 1.284, 1.292, 1.298, 1.303,
    1.307, 1.311, 1.313, 1.316, 1.318, 1.320, 1.322, 1.323, 1.324, 1.326,
    1.327, 1.328, 1.329, 1.330, 1.330, 1.331, 1.332, 1.332, 1.333, 1.333,
    1.334, 1.334, 1.335, 1.335, 1.336, 1.336, 1.336, 1.337, 1.337, 1.337,
    1.338, 1.338, 1.338, 1.338, 1.339, 1.339, 1.339, 1.339, 1.339, 1.340,
])  # fmt: skip


# --- provenance ----------------------------------------------------------------------------


@attrs.frozen(eq=False)
class _Note:
    """A note template and the per-element values filled into it (made on demand)."""

    template: str
    values: Mapping[str, Any] = attrs.field(factory=dict)

    def text(self, shape: tuple[int, ...]) -> Notes:
        """The note for a result of this shape: a string, or an array of strings."""
        values = {k: np.broadcast_to(v, shape) for k, v in self.values.items()}
        if not shape:
            return self.template.format(**{k: v[()] for k, v in values.items()})
        flat = {k: v.ravel() for k, v in values.items()}
        size = int(np.prod(shape))
        notes = [self.template.format(**{k: v[i] for k, v in flat.items()}) for i in range(size)]
        out: npt.NDArray[np.str_] = np.array(notes, dtype=str).reshape(shape)
        return out


_EXTRA = {"unpack": False}  # a field that is an attribute only


@attrs.frozen(eq=False)
class _Result:
    """Fields unpack in order (not those marked ``_EXTRA``, nor None ones).

    :meth:`describe` says how they were obtained.
    """

    _note: _Note = attrs.field(kw_only=True, repr=False, alias="note", metadata=_EXTRA)

    def __iter__(self) -> Iterator[Floats]:
        values = (getattr(self, f.name) for f in attrs.fields(type(self)) if not f.metadata)
        return (v for v in values if v is not None)

    def describe(self) -> Notes:
        """How the values were obtained: a string, or an array of them for array input.

        The text is what a review's footnote would say, e.g. ``"SD from 95% CI, t
        with 11 df"``.
        """
        return self._note.text(np.shape(next(iter(self))))


@attrs.frozen(eq=False)
class MeanSD(_Result):
    """A mean and an SD estimated from quantiles (:func:`mean_sd_from_quantiles`)."""

    mean: Floats
    sd: Floats


@attrs.frozen(eq=False)
class StandardDeviation(_Result):
    """An SD obtained from other statistics (``sd_from_*``, :func:`sd_change`)."""

    sd: Floats


@attrs.frozen(eq=False)
class Combined(_Result):
    """Several continuous arms as one (:func:`combine_continuous`)."""

    n: Floats
    mean: Floats
    sd: Floats


@attrs.frozen(eq=False)
class CombinedEvents(_Result):
    """Several dichotomous arms as one (:func:`combine_dichotomous`)."""

    events: Floats
    total: Floats


@attrs.frozen(eq=False)
class GenericEstimate(_Result):
    """An estimate and its SE on the analysis scale (:func:`generic_from_ci`)."""

    estimate: Floats
    se: Floats


@attrs.frozen(eq=False)
class Correlation(_Result):
    """A baseline-final correlation (:func:`correlation_from`)."""

    correlation: Floats


@attrs.frozen(eq=False)
class Effective(_Result):
    """A cluster trial's effective sample size (:func:`effective_sample_size`).

    Unpacks as ``n`` alone, or ``n, events`` when events were given (``events``
    is None otherwise). ``design_effect`` is 1 + (M − 1)·ICC.
    """

    n: Floats
    events: Floats | None
    design_effect: Floats = attrs.field(metadata=_EXTRA)


@attrs.frozen(eq=False)
class EffectiveEvents(_Result):
    """A cluster trial's effective number of events (:func:`effective_events`).

    Unpacks as ``events`` alone; ``design_effect`` is 1 + (M − 1)·ICC.
    """

    events: Floats
    design_effect: Floats = attrs.field(metadata=_EXTRA)


# --- argument checks -----------------------------------------------------------------------


def _where(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]" if index else ""


def _first(bad: BoolArray) -> tuple[int, ...] | None:
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _fail(fn: str, bad: BoolArray, message: str, **arrays: FloatArray) -> None:
    """Raise naming the first bad position: ``message``'s {} become "name[i] = value"."""
    index = _first(bad)
    if index is None:
        return
    named = [f"{k}{_where(index)} = {float(a[index])!r}" for k, a in arrays.items()]
    raise InputError(f"{fn}: " + message.format(*named))


def _arrays(fn: str, optional: frozenset[str] = frozenset(), **args: Any) -> dict[str, FloatArray]:
    """Broadcast the arguments to one float shape; NaN only where ``optional`` allows."""
    arrays: dict[str, FloatArray] = {}
    for name, value in args.items():
        if isinstance(value, bool) or (
            isinstance(value, np.ndarray) and value.dtype.kind not in "iuf"
        ):
            raise InputError(f"{fn}: {name} must be numbers, got {value!r}")
        try:
            arrays[name] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{fn}: {name} must be numbers, got {value!r}") from None
    try:
        shaped = np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise InputError(f"{fn}: the arguments do not broadcast to one shape: {shapes}") from None
    out = dict(zip(arrays, shaped, strict=True))
    for name, a in out.items():
        bad = np.isinf(a) if name in optional else ~np.isfinite(a)
        _fail(fn, bad, "{} is not finite", **{name: a})
    return out


def _whole(fn: str, name: str, a: FloatArray, least: float) -> None:
    _fail(fn, a < least, f"{{}} is less than {least:g}", **{name: a})
    _fail(fn, a != np.floor(a), "{} is not a whole number", **{name: a})


def _positive(fn: str, name: str, a: FloatArray, *, zero: bool = False) -> None:
    bad = a < 0 if zero else a <= 0
    _fail(fn, bad, "{} is negative" if zero else "{} is not positive", **{name: a})


def _ordered(fn: str, low: str, high: str, a: Mapping[str, FloatArray], strict: bool) -> None:
    lo, hi = a[low], a[high]
    bad = (lo >= hi) if strict else (lo > hi)
    _fail(fn, bad, "{1} is not above {0}" if strict else "{1} is below {0}", **{low: lo, high: hi})


def _level(fn: str, ci_level: float) -> float:
    if (
        isinstance(ci_level, bool)
        or not isinstance(ci_level, (int, float))
        or not (0 < ci_level < 1)
    ):
        raise InputError(f"{fn}: ci_level = {ci_level!r} must be between 0 and 1 (e.g. 0.95)")
    return float(ci_level)


def _choice(fn: str, name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"{fn}: {name} = {value!r}; allowed: {', '.join(map(repr, allowed))}")
    return str(value)


def _out(a: FloatArray) -> Floats:
    value: Floats = a[()] if a.ndim == 0 else a
    return value


def _quantile(level: float, df: FloatArray | None) -> FloatArray:
    """The two-sided critical value: normal, or t with ``df`` degrees of freedom."""
    p = 0.5 + level / 2
    if df is None:
        return np.asarray(stats.norm.ppf(p), dtype=np.float64)
    return np.asarray(stats.t.ppf(p, df), dtype=np.float64)


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


# --- mean and SD from the median -----------------------------------------------------------

_RANGE, _IQR, _FIVE = 0, 1, 2
_SCENARIO = np.array(["median and range", "median and quartiles", "median, quartiles and range"])


def _range_divisor(n: FloatArray) -> FloatArray:
    # Wan (2014) eq. 7 / 9: the expected range of n normal values, tabulated up to n = 50
    small = np.clip(n, 1, 50).astype(np.intp) - 1
    large = 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))
    return np.where(n > 50, large, _WAN_RANGE[small])


def _iqr_divisor(n: FloatArray) -> FloatArray:
    # Wan (2014) eq. 15 / 16: the expected IQR, tabulated for Q = ceil((n - 1) / 4) <= 50
    small = np.clip(np.ceil(0.25 * (n - 1)), 1, 50).astype(np.intp) - 1
    large = 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))
    return np.where(n > 201, large, _WAN_IQR[small])


def mean_sd_from_quantiles(
    n: Any,
    median: Any,
    *,
    q1: Any = None,
    q3: Any = None,
    minimum: Any = None,
    maximum: Any = None,
    mean_method: str = "Luo",
    sd_method: str = "Shi",
) -> MeanSD:
    """Estimate a group's mean and SD from its median and quartiles and/or range.

    The three scenarios of Wan et al. (2014), computed as R meta's ``metacont``
    does: median and range (S1); median and quartiles (S3); median, quartiles
    and range (S2). Where an element has several, the richest is used (S2, then
    S3, then S1); a NaN in ``q1``, ``q3``, ``minimum`` or ``maximum`` means that
    element did not report it.

    Parameters
    ----------
    n : array_like
        Group size (whole number, at least 2).
    median : array_like
    q1, q3 : array_like, optional
        First and third quartiles.
    minimum, maximum : array_like, optional
        Smallest and largest value.
    mean_method : {"Luo", "Wan"}
        Luo et al. (2018), equations 7, 11 and 15 (the default), or Wan et al.
        (2014), equations 2, 10 and 14.
    sd_method : {"Shi", "Wan"}
        For the five-number summary (S2) only: Shi et al. (2020), equation 11
        (the default), or Wan et al. (2014), equations 12 / 13. With only the
        range or only the quartiles the SD is always Wan's (equations 7 / 9 and
        15 / 16), whose divisors for n <= 50 (range) and n <= 201 (quartiles) are
        the expected range and IQR of normal samples of Wan's Tables 1 and 2.

    Returns
    -------
    MeanSD
        ``.mean``, ``.sd``; unpacks as ``mean, sd``.

    Raises
    ------
    InputError
        Quantiles out of order (e.g. ``q1[1] = 5.0 is above median[1] = 4.0``),
        an element with neither quartiles nor range, or ``n`` below 2.

    Examples
    --------
    >>> mean, sd = mean_sd_from_quantiles(40, 12.0, q1=9.0, q3=16.0)
    >>> round(float(mean), 4), round(float(sd), 4)
    (12.3549, 5.3722)
    >>> mean_sd_from_quantiles(40, 12.0, q1=9.0, q3=16.0).describe()
    'mean (Luo 2018) and SD (Wan 2014) from median and quartiles, n = 40'

    References
    ----------
    Wan et al. (2014); Luo et al. (2018); Shi et al. (2020): see :mod:`metapool.prepare`.
    """
    fn = "mean_sd_from_quantiles"
    mean_method = _choice(fn, "mean_method", mean_method, ("Luo", "Wan"))
    sd_method = _choice(fn, "sd_method", sd_method, ("Shi", "Wan"))
    given = {"q1": q1, "q3": q3, "minimum": minimum, "maximum": maximum}
    if all(v is None for v in given.values()):
        raise InputError(f"{fn}: give q1 and q3, or minimum and maximum, or all four")
    for one, other in (("q1", "q3"), ("minimum", "maximum")):
        if (given[one] is None) != (given[other] is None):
            raise InputError(f"{fn}: give {one} and {other} together")
    a = _arrays(
        fn,
        frozenset(given),
        n=n,
        median=median,
        **{k: np.nan if v is None else v for k, v in given.items()},
    )
    n_, m = a["n"], a["median"]
    _whole(fn, "n", n_, 2)
    has_iqr = ~np.isnan(a["q1"]) & ~np.isnan(a["q3"])
    has_range = ~np.isnan(a["minimum"]) & ~np.isnan(a["maximum"])
    neither = ~has_iqr & ~has_range
    _fail(fn, neither, "{}: neither both quartiles nor both minimum and maximum given", median=m)
    order = ("minimum", "q1", "median", "q3", "maximum")
    known = {k: ~np.isnan(a[k]) for k in order}
    for i, low in enumerate(order):
        for high in order[i + 1 :]:
            present = {
                low: np.where(known[low] & known[high], a[low], -np.inf),
                high: np.where(known[low] & known[high], a[high], np.inf),
            }
            both_quantiles = {low, high} in ({"q1", "q3"}, {"minimum", "maximum"})
            _ordered(fn, low, high, present, strict=both_quantiles)
    lo, q1_, q3_, hi = a["minimum"], a["q1"], a["q3"], a["maximum"]
    mid_range, mid_iqr = (lo + hi) / 2, (q1_ + q3_) / 2
    if mean_method == "Luo":
        w = 4 / (4 + n_**0.75)
        mean_range = w * mid_range + (1 - w) * m
        mean_iqr = (0.7 + 0.39 / n_) * mid_iqr + (0.3 - 0.39 / n_) * m
        w1, w2 = 2.2 / (2.2 + n_**0.75), 0.7 - 0.72 / n_**0.55
        mean_five = w1 * mid_range + w2 * mid_iqr + (1 - w1 - w2) * m
    else:
        mean_range = (lo + 2 * m + hi) / 4 + (lo - 2 * m + hi) / (4 * n_)
        mean_iqr = (q1_ + m + q3_) / 3
        mean_five = (lo + 2 * q1_ + 2 * m + 2 * q3_ + hi) / 8
    sd_range = (hi - lo) / _range_divisor(n_)
    sd_iqr = (q3_ - q1_) / _iqr_divisor(n_)
    if sd_method == "Shi":
        z_range = stats.norm.ppf((n_ - 0.375) / (n_ + 0.25))
        z_iqr = stats.norm.ppf((0.75 * n_ - 0.125) / (n_ + 0.25))
        theta1 = (2 + 0.14 * n_**0.6) * z_range
        theta2 = (2 + 2 / (0.07 * n_**0.6)) * z_iqr
        sd_five = (hi - lo) / theta1 + (q3_ - q1_) / theta2
    else:
        sd_five = (sd_range + sd_iqr) / 2
    scenario = np.where(has_iqr & has_range, _FIVE, np.where(has_iqr, _IQR, _RANGE))
    mean = np.choose(scenario, [mean_range, mean_iqr, mean_five])
    sd = np.choose(scenario, [sd_range, sd_iqr, sd_five])
    sd_by = np.where(
        scenario == _FIVE, f"{sd_method} {2020 if sd_method == 'Shi' else 2014}", "Wan 2014"
    )
    note = _Note(
        "mean ({mean_by}) and SD ({sd_by}) from {what}, n = {n:.7g}",
        {
            "mean_by": f"{mean_method} {2018 if mean_method == 'Luo' else 2014}",
            "sd_by": sd_by,
            "what": _SCENARIO[scenario],
            "n": n_,
        },
    )
    return MeanSD(_out(mean), _out(sd), note=note)


# --- SD from SE, CI, t and P ---------------------------------------------------------------


def sd_from_se(se: Any, n: Any) -> StandardDeviation:
    """A group's SD from the standard error of its mean: SD = SE·√N (Handbook 6.5.2.2).

    Examples
    --------
    >>> res = sd_from_se([0.5, 1.2], [25, 16])
    >>> res.sd.tolist(), res.describe().tolist()
    ([2.5, 4.8], ['SD from SE, n = 25', 'SD from SE, n = 16'])
    """
    fn = "sd_from_se"
    a = _arrays(fn, se=se, n=n)
    _positive(fn, "se", a["se"], zero=True)
    _positive(fn, "n", a["n"])
    return StandardDeviation(
        _out(a["se"] * np.sqrt(a["n"])), note=_Note("SD from SE, n = {n:.7g}", {"n": a["n"]})
    )


def _distribution(fn: str, distribution: str) -> str:
    return _choice(fn, "distribution", distribution, ("t", "z"))


def sd_from_ci(
    lower: Any, upper: Any, n: Any, ci_level: float = 0.95, distribution: str = "t"
) -> StandardDeviation:
    """A group's SD from the confidence interval of its mean (Handbook 6.5.2.2).

    SD = √N · (upper − lower) / (2 · q), with q the ``ci_level`` two-sided
    quantile of the t distribution with N − 1 df (``distribution="t"``, as the
    Handbook recommends for small groups) or of the normal (``"z"``; 3.92 = 2 ×
    1.96 for a 95% CI).

    Examples
    --------
    >>> res = sd_from_ci(8.1, 12.3, 12)
    >>> round(float(res.sd), 4), res.describe()
    (3.3052, 'SD from 95% CI, t with 11 df')
    >>> round(float(sd_from_ci(8.1, 12.3, 12, distribution="z").sd), 4)
    3.7115
    """
    fn = "sd_from_ci"
    level = _level(fn, ci_level)
    distribution = _distribution(fn, distribution)
    a = _arrays(fn, lower=lower, upper=upper, n=n)
    _ordered(fn, "lower", "upper", a, strict=False)
    n_ = a["n"]
    df = None
    if distribution == "t":
        _fail(fn, n_ < 2, "{} is less than 2 (t needs n - 1 >= 1 df)", n=n_)
        df = n_ - 1
    else:
        _positive(fn, "n", n_)
    sd = np.sqrt(n_) * (a["upper"] - a["lower"]) / (2 * _quantile(level, df))
    note = (
        _Note(f"SD from {_pct(level)} CI, t with {{df:.7g}} df", {"df": df})
        if df is not None
        else _Note(f"SD from {_pct(level)} CI, normal quantile")
    )
    return StandardDeviation(_out(sd), note=note)


def sd_from_difference(
    n_exp: Any,
    n_ctrl: Any,
    *,
    se: Any = None,
    lower: Any = None,
    upper: Any = None,
    difference: Any = None,
    t: Any = None,
    p: Any = None,
    ci_level: float = 0.95,
    distribution: str = "t",
) -> StandardDeviation:
    """The SD common to both groups from the SE, CI, t or P of a mean difference.

    Handbook 6.5.2.3: the SE of the difference comes from ``se``; or from a CI,
    SE = (upper − lower) / (2 · q); or from a t statistic, SE = abs(difference) / abs(t);
    or from a two-sided P value, t = the P/2 upper quantile and SE = abs(difference) / t.
    Then SD = SE / √(1/N_E + 1/N_C). q and the P-value quantile come from the t
    distribution with N_E + N_C − 2 df (``distribution="t"``) or the normal (``"z"``).

    Give exactly one of: ``se``; ``lower`` and ``upper``; ``difference`` and ``t``;
    ``difference`` and ``p``. A P value reported as a bound ("P < 0.05") cannot be
    used: it gives only a bound on the SD.

    Examples
    --------
    >>> res = sd_from_difference(25, 22, lower=-4.2, upper=1.8)
    >>> round(float(res.sd), 4), res.describe()
    (5.0953, 'SD from 95% CI of the mean difference, t with 45 df')
    >>> round(float(sd_from_difference(25, 22, difference=-1.2, p=0.41).sd), 4)
    4.936
    """
    fn = "sd_from_difference"
    level = _level(fn, ci_level)
    distribution = _distribution(fn, distribution)
    routes = {
        "se": se is not None,
        "lower and upper": lower is not None or upper is not None,
        "t": t is not None,
        "p": p is not None,
    }
    chosen = [k for k, v in routes.items() if v]
    if len(chosen) != 1:
        raise InputError(
            f"{fn}: give exactly one of se; lower and upper; difference with t; difference "
            f"with p (got {', '.join(chosen) or 'none'})"
        )
    route = chosen[0]
    if route == "lower and upper" and (lower is None or upper is None):
        raise InputError(f"{fn}: give both lower and upper")
    if route in ("t", "p") and difference is None:
        raise InputError(f"{fn}: {route} needs the mean difference (difference=)")
    if route not in ("t", "p") and difference is not None:
        raise InputError(f"{fn}: difference is used only with t or p")
    given = {"se": se, "lower": lower, "upper": upper, "difference": difference, "t": t, "p": p}
    a = _arrays(fn, n_exp=n_exp, n_ctrl=n_ctrl, **{k: v for k, v in given.items() if v is not None})
    n1, n2 = a["n_exp"], a["n_ctrl"]
    _positive(fn, "n_exp", n1)
    _positive(fn, "n_ctrl", n2)
    df = None
    if distribution == "t":
        _fail(
            fn,
            n1 + n2 < 3,
            "{} and {} give no degrees of freedom (t needs n_exp + n_ctrl - 2 >= 1)",
            n_exp=n1,
            n_ctrl=n2,
        )
        df = n1 + n2 - 2
    dist = "t with {df:.7g} df" if df is not None else "normal quantile"
    values = {"df": df} if df is not None else {}
    if route == "se":
        _positive(fn, "se", a["se"], zero=True)
        se_ = a["se"]
        note = _Note("SD from SE of the mean difference", {})
    elif route == "lower and upper":
        _ordered(fn, "lower", "upper", a, strict=False)
        se_ = (a["upper"] - a["lower"]) / (2 * _quantile(level, df))
        note = _Note(f"SD from {_pct(level)} CI of the mean difference, {dist}", values)
    elif route == "t":
        _fail(fn, a["t"] == 0, "{} is zero: the SE is undefined", t=a["t"])
        se_ = np.abs(a["difference"]) / np.abs(a["t"])
        note = _Note("SD from t = {t:g} of the mean difference", {"t": a["t"]})
    else:
        p_ = a["p"]
        _fail(fn, (p_ <= 0) | (p_ >= 1), "{} must be between 0 and 1", p=p_)
        _fail(
            fn,
            a["difference"] == 0,
            "{} is zero: with a P value the SE is undefined",
            difference=a["difference"],
        )
        crit = stats.norm.isf(p_ / 2) if df is None else stats.t.isf(p_ / 2, df)
        se_ = np.abs(a["difference"]) / crit
        note = _Note(f"SD from P = {{p:g}} of the mean difference, {dist}", {"p": p_, **values})
    sd = se_ / np.sqrt(1 / n1 + 1 / n2)
    return StandardDeviation(_out(np.asarray(sd, dtype=np.float64)), note=note)


# --- combining arms ------------------------------------------------------------------------


def _arms(fn: str, a: dict[str, FloatArray]) -> None:
    if a["n"].ndim == 0:
        raise InputError(f"{fn}: the last axis must index the arms; got scalars")


def _arms_note(k: npt.NDArray[np.intp]) -> _Note:
    plural = np.where(k == 1, "", "s")
    return _Note("{k} arm{s} combined (Handbook Table 6.5.a)", {"k": k, "s": plural})


def combine_continuous(n: Any, mean: Any, sd: Any) -> Combined:
    """Several arms of a trial as one group (Handbook Table 6.5.a).

    The last axis indexes the arms: ``n[..., j]`` is arm ``j``. The result is
    Table 6.5.a's formula applied arm after arm, in the closed form it adds up
    to -- N = ΣNⱼ, M = ΣNⱼMⱼ / N, SD² = (Σ(Nⱼ − 1)SDⱼ² + ΣNⱼ(Mⱼ − M)²) / (N − 1) --
    which does not depend on the order of the arms. An arm with ``n = 0`` is
    padding (trials with fewer arms in one array): its mean and SD are ignored
    and may be NaN.

    Examples
    --------
    >>> res = combine_continuous([20, 21, 19], [5.2, 6.0, 6.9], [2.1, 2.4, 2.0])
    >>> n, mean, sd = res
    >>> float(n), round(float(mean), 4), round(float(sd), 4)
    (60.0, 6.0183, 2.2518)
    >>> res.describe()
    '3 arms combined (Handbook Table 6.5.a)'
    """
    fn = "combine_continuous"
    a = _arrays(fn, frozenset({"mean", "sd"}), n=n, mean=mean, sd=sd)
    _arms(fn, a)
    n_ = a["n"]
    _positive(fn, "n", n_, zero=True)
    used = n_ > 0
    for name in ("mean", "sd"):
        _fail(fn, used & np.isnan(a[name]), "{} in an arm with n > 0", **{name: a[name]})
    _positive(fn, "sd", np.where(used, a["sd"], 0.0), zero=True)
    total = n_.sum(axis=-1)
    _fail(fn, total <= 1, "the arms' total {} is below 2 (an SD needs 2)", n=total)
    mean_ = np.where(used, a["mean"], 0.0)
    sd_ = np.where(used, a["sd"], 0.0)
    pooled = (n_ * mean_).sum(axis=-1) / total
    ss = ((n_ - 1) * sd_**2 * used).sum(axis=-1) + (n_ * (mean_ - pooled[..., None]) ** 2).sum(
        axis=-1
    )
    note = _arms_note(used.sum(axis=-1))
    return Combined(_out(total), _out(pooled), _out(np.sqrt(ss / (total - 1))), note=note)


def combine_dichotomous(events: Any, total: Any) -> CombinedEvents:
    """Several arms of a trial as one group: events and totals add (Handbook Table 6.5.a).

    The last axis indexes the arms, as in :func:`combine_continuous`.

    Examples
    --------
    >>> events, total = combine_dichotomous([[3, 5, 4], [10, 12, 0]], [[30, 31, 29], [50, 48, 0]])
    >>> events.tolist(), total.tolist()
    ([12.0, 22.0], [90.0, 98.0])
    """
    fn = "combine_dichotomous"
    a = _arrays(fn, events=events, total=total)
    _arms(fn, {"n": a["total"]})
    _positive(fn, "events", a["events"], zero=True)
    _ordered(fn, "events", "total", a, strict=False)
    note = _arms_note((a["total"] > 0).sum(axis=-1))
    return CombinedEvents(_out(a["events"].sum(axis=-1)), _out(a["total"].sum(axis=-1)), note=note)


# --- generic inverse variance from a CI ----------------------------------------------------


def generic_from_ci(
    estimate: Any, lower: Any, upper: Any, ratio: bool = True, ci_level: float = 0.95
) -> GenericEstimate:
    """An estimate and its SE on the analysis scale from a reported CI (Handbook 6.3.1).

    For a ratio (odds, risk or hazard ratio; ``ratio=True``) the estimate and
    limits are taken on the natural scale and logged: SE = (ln upper − ln lower)
    / (2 · z), with z the normal ``ci_level`` quantile (1.96 for 95%). For a
    difference (``ratio=False``) the same without logs. Enter the result in
    :class:`~metapool.Generic` (see :meth:`~metapool.Generic.from_ci`).

    Raises
    ------
    InputError
        A ratio's limit is not positive (these are probably log ratios or a
        difference: pass ``ratio=False``), the limits are out of order, or the
        estimate lies outside its CI.

    Warns
    -----
    MetapoolWarning
        With ``ratio=False``, when a positive CI is far from symmetric about the
        estimate but symmetric on the log scale: likely a ratio on the natural
        scale (the common slip of entering a hazard ratio as is).

    Examples
    --------
    >>> estimate, se = generic_from_ci(0.75, 0.58, 0.97)
    >>> round(float(estimate), 4), round(float(se), 4)
    (-0.2877, 0.1312)
    >>> generic_from_ci(0.75, 0.58, 0.97).describe()
    'log ratio and SE from 95% CI'
    """
    fn = "generic_from_ci"
    level = _level(fn, ci_level)
    a = _arrays(fn, estimate=estimate, lower=lower, upper=upper)
    if ratio:
        for name in ("lower", "estimate"):
            _fail(
                fn,
                a[name] <= 0,
                "{} is not positive, but a ratio and its CI are; if "
                "these are log ratios or a difference, pass ratio=False",
                **{name: a[name]},
            )
    _ordered(fn, "lower", "upper", a, strict=True)
    _ordered(fn, "lower", "estimate", a, strict=False)
    _ordered(fn, "estimate", "upper", a, strict=False)
    est, lo, hi = (np.log(a[k]) if ratio else a[k] for k in ("estimate", "lower", "upper"))
    if not ratio:
        _warn_ratio_slip(a["estimate"], a["lower"], a["upper"])
    se = (hi - lo) / (2 * _quantile(level, None))
    scale = "log ratio" if ratio else "estimate"
    return GenericEstimate(_out(est), _out(se), note=_Note(f"{scale} and SE from {_pct(level)} CI"))


def _warn_ratio_slip(est: FloatArray, lo: FloatArray, hi: FloatArray) -> None:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        positive = (lo > 0) & (est > lo) & (hi > est)
        natural = np.abs(np.log((hi - est) / (est - lo)))
        logged = np.abs(np.log(np.log(hi / est) / np.log(est / lo)))
    suspect = positive & (natural > np.log(1.5)) & (logged < np.log(1.1))
    index = _first(suspect)
    if index is not None:
        at = f" at lower{_where(index)}, upper{_where(index)}" if index else ""
        warnings.warn(
            f"generic_from_ci: the CI{at} is symmetric on the log scale, not about the "
            "estimate: is it a ratio? Then pass ratio=True",
            MetapoolWarning,
            stacklevel=3,
        )


# --- change from baseline ------------------------------------------------------------------


def sd_change(sd_baseline: Any, sd_final: Any, correlation: Any) -> StandardDeviation:
    """The SD of the change from baseline (Handbook 6.5.2.8).

    SD_change = √(SD_baseline² + SD_final² − 2·Corr·SD_baseline·SD_final).

    Examples
    --------
    >>> res = sd_change(4.2, 4.5, 0.6)
    >>> round(float(res.sd), 4), res.describe()
    (3.9, 'SD of change from baseline, correlation 0.6')
    """
    fn = "sd_change"
    a = _arrays(fn, sd_baseline=sd_baseline, sd_final=sd_final, correlation=correlation)
    b, f, r = a["sd_baseline"], a["sd_final"], a["correlation"]
    _positive(fn, "sd_baseline", b, zero=True)
    _positive(fn, "sd_final", f, zero=True)
    _fail(fn, np.abs(r) > 1, "{} is not between -1 and 1", correlation=r)
    # (b - f)^2 + 2(1 - r)bf equals the Handbook's sum and cannot round below zero
    variance = (b - f) ** 2 + 2 * (1 - r) * b * f
    note = _Note("SD of change from baseline, correlation {r:g}", {"r": r})
    return StandardDeviation(_out(np.sqrt(variance)), note=note)


def correlation_from(sd_baseline: Any, sd_final: Any, sd_change: Any) -> Correlation:
    """The baseline-final correlation implied by the three SDs (Handbook 6.5.2.8).

    Corr = (SD_baseline² + SD_final² − SD_change²) / (2·SD_baseline·SD_final):
    computed from a trial that reports all three, to impute ``sd_change`` in
    trials that do not.

    Examples
    --------
    >>> round(float(correlation_from(4.2, 4.5, 3.9).correlation), 4)
    0.6
    """
    fn = "correlation_from"
    a = _arrays(fn, sd_baseline=sd_baseline, sd_final=sd_final, sd_change=sd_change)
    b, f, c = a["sd_baseline"], a["sd_final"], a["sd_change"]
    _positive(fn, "sd_baseline", b)
    _positive(fn, "sd_final", f)
    _positive(fn, "sd_change", c, zero=True)
    r = (b**2 + f**2 - c**2) / (2 * b * f)
    _fail(
        fn,
        np.abs(r) > 1,
        "{} is impossible with these SDs at baseline and final (it implies {})",
        sd_change=c,
        correlation=r,
    )
    return Correlation(
        _out(r), note=_Note("correlation from the SDs at baseline, final and of the change")
    )


# --- cluster trials ------------------------------------------------------------------------


def _design_effect(fn: str, a: dict[str, FloatArray]) -> FloatArray:
    m, icc = a["cluster_size"], a["icc"]
    _fail(fn, m < 1, "{} is less than 1", cluster_size=m)
    _fail(fn, (icc < 0) | (icc > 1), "{} is not between 0 and 1", icc=icc)
    design: FloatArray = 1 + (m - 1) * icc
    return design


_CLUSTER_NOTE = "{what} divided by the design effect {d:.4g} (cluster size {m:.7g}, ICC {icc:g})"


def effective_sample_size(n: Any, cluster_size: Any, icc: Any, *, events: Any = None) -> Effective:
    """A cluster-randomized trial's effective sample size (Handbook 23.1.4).

    N / (1 + (M − 1)·ICC), with M the average cluster size. With ``events``,
    the events are divided by the same design effect (use
    :func:`effective_events` for events alone). The results are not rounded;
    RevMan needs whole counts, so round them (``np.round``) before entering.

    Examples
    --------
    >>> res = effective_sample_size(240, 20, 0.05, events=36)
    >>> round(float(res.n), 4), round(float(res.events), 4), round(float(res.design_effect), 4)
    (123.0769, 18.4615, 1.95)
    >>> res.describe()
    'n and events divided by the design effect 1.95 (cluster size 20, ICC 0.05)'
    """
    fn = "effective_sample_size"
    args = {"n": n, "cluster_size": cluster_size, "icc": icc}
    a = _arrays(fn, **args, **({} if events is None else {"events": events}))
    _positive(fn, "n", a["n"])
    design = _design_effect(fn, a)
    what = "n"
    ev = None
    if events is not None:
        _positive(fn, "events", a["events"], zero=True)
        _ordered(fn, "events", "n", a, strict=False)
        ev = _out(a["events"] / design)
        what = "n and events"
    note = _Note(
        _CLUSTER_NOTE, {"what": what, "d": design, "m": a["cluster_size"], "icc": a["icc"]}
    )
    return Effective(_out(a["n"] / design), ev, _out(design), note=note)


def effective_events(events: Any, cluster_size: Any, icc: Any) -> EffectiveEvents:
    """A cluster-randomized trial's effective number of events (Handbook 23.1.4).

    The events divided by the design effect 1 + (M − 1)·ICC, as
    :func:`effective_sample_size` divides the participants.

    Examples
    --------
    >>> round(float(effective_events(36, 20, 0.05).events), 4)
    18.4615
    """
    fn = "effective_events"
    a = _arrays(fn, events=events, cluster_size=cluster_size, icc=icc)
    _positive(fn, "events", a["events"], zero=True)
    design = _design_effect(fn, a)
    note = _Note(
        _CLUSTER_NOTE, {"what": "events", "d": design, "m": a["cluster_size"], "icc": a["icc"]}
    )
    return EffectiveEvents(_out(a["events"] / design), _out(design), note=note)
