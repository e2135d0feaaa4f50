"""Mean and SD from the median with the range and/or quartiles (Wan, Luo, Shi), with
Wan's tables of expected normal order statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from metapool._typing import FloatArray
from metapool.errors import InputError
from metapool.prepare._checks import (
    _arrays,
    _choice,
    _fail,
    _ordered,
    _out,
    _whole,
)
from metapool.prepare._results import (
    MeanSD,
    _Note,
)

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
