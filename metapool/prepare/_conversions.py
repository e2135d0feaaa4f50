"""SD from SE, CI, t and P; combined arms; generic estimates from a CI; change from
baseline; cluster trials."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from metapool._typing import FloatArray
from metapool.errors import InputError, MetapoolWarning
from metapool.prepare._checks import (
    _arrays,
    _choice,
    _fail,
    _first,
    _level,
    _ordered,
    _out,
    _pct,
    _positive,
    _quantile,
    _where,
)
from metapool.prepare._results import (
    Combined,
    CombinedEvents,
    Correlation,
    Effective,
    EffectiveEvents,
    GenericEstimate,
    StandardDeviation,
    _Note,
)

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


def _cluster_note(what: str, design: FloatArray, a: dict[str, FloatArray]) -> _Note:
    return _Note(
        "{what} divided by the design effect {d:.4g} (cluster size {m:.7g}, ICC {icc:g})",
        {"what": what, "d": design, "m": a["cluster_size"], "icc": a["icc"]},
    )


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
    return Effective(_out(a["n"] / design), ev, _out(design), note=_cluster_note(what, design, a))


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
    note = _cluster_note("events", design, a)
    return EffectiveEvents(_out(a["events"] / design), _out(design), note=note)
