"""Sensitivity analyses: leave-one-out, cumulative, influence and Baujat diagnostics.

Every re-analysis is one batch of refits (:mod:`metapool.diagnostics._refit`):
the k leave-one-out fits are k groups of k - 1 studies, the k cumulative fits are
k groups of 1, 2, ..., k studies, all built by index arithmetic.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from scipy import special

from metapool._typing import BoolArray, FloatArray, IntArray
from metapool.diagnostics._refit import (
    StudyData,
    arrays,
    cumulative_layout,
    estimable_studies,
    leave_one_out_layout,
)
from metapool.errors import InputError
from metapool.io.tables import render
from metapool.pooling.engine import PoolResult, pool_segments
from metapool.pooling.segments import Segments
from metapool.table import format_p
from metapool.vocabulary import Model

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import MetaAnalysis, StudyResult

__all__ = [
    "BaujatPoints",
    "Influence",
    "Reanalysis",
    "baujat_points",
    "cumulative",
    "influence",
    "leave_one_out",
]


# -- records ------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "-"


class _StudyTable(abc.ABC):
    """A diagnostic with one entry per study (``len`` counts them), printed as a
    titled plain-text table."""

    __slots__ = ()
    study: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.study)

    def __str__(self) -> str:
        return f"{self._table()[0]}\n{self.to_table()}"

    def to_table(self, fmt: str = "text") -> str:
        """The table as ``"text"``, ``"csv"``, ``"markdown"`` or ``"html"``."""
        _, headers, rows = self._table()
        return render(headers, rows, fmt)

    def _repr_html_(self) -> str:
        return self.to_table("html")

    @abc.abstractmethod
    def _table(self) -> tuple[str, list[str], list[list[str]]]:
        """The title, the column headers and one row of cells per study."""


@attrs.frozen(eq=False)
class Reanalysis(_StudyTable):
    """A series of re-analyses: leave-one-out or cumulative, one entry per step.

    (Called ``Sequence`` until this release; that name is a deprecated alias.)

    Arrays have one entry per step. ``estimate``, ``ci_lower`` and ``ci_upper``
    are on the natural scale (ratios exponentiated); ``se`` and ``z`` on the
    analysis scale, as in :class:`~metapool.results.Total`. Heterogeneity is NaN
    where it does not apply (a step with one study).

    Attributes
    ----------
    kind : str
        ``"leave-one-out"`` or ``"cumulative"``.
    measure, ratio, random, ci_level
        The analysis' measure, whether it is a ratio, whether the model is
        random effects, and its confidence level.
    study : tuple of str
        The study left out (leave-one-out) or added last (cumulative) at each step.
    """

    kind: str
    measure: str
    ratio: bool
    random: bool
    ci_level: float
    study: tuple[str, ...]
    estimate: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    se: FloatArray
    z: FloatArray
    p_value: FloatArray
    q: FloatArray
    df: FloatArray
    p_q: FloatArray
    i2: FloatArray
    h2: FloatArray
    tau2: FloatArray
    k: FloatArray

    def _table(self) -> tuple[str, list[str], list[list[str]]]:
        leave_out = self.kind == "leave-one-out"
        headers = [
            "Omitted study" if leave_out else "Added study",
            "k",
            self.measure,
            f"{self.ci_level * 100:g}% CI",
            "P",
            *(["Tau²"] if self.random else []),
            "Chi²",
            "df",
            "P(Chi²)",
            "I²",
        ]
        rows = [
            [
                name,
                f"{self.k[i]:.0f}",
                _fmt(self.estimate[i], 3),
                f"[{_fmt(self.ci_lower[i], 3)}, {_fmt(self.ci_upper[i], 3)}]",
                _p(self.p_value[i]),
                *([_fmt(self.tau2[i], 4)] if self.random else []),
                _fmt(self.q[i]),
                f"{self.df[i]:.0f}",
                _p(self.p_q[i]),
                f"{self.i2[i]:.0f}%" if math.isfinite(self.i2[i]) else "-",
            ]
            for i, name in enumerate(self.study)
        ]
        title = "Leave-one-out analysis" if leave_out else "Cumulative analysis"
        return title, headers, rows


def _p(p: float) -> str:
    return format_p(p).removeprefix("P = ").replace("P < ", "<") if math.isfinite(p) else "-"


def _reanalysis(
    kind: str, data: StudyData, pooled: PoolResult, names: tuple[str, ...]
) -> Reanalysis:
    s = data.settings
    natural = np.exp if s.ratio else np.asarray
    return Reanalysis(
        kind=kind,
        measure=s.measure,
        ratio=s.ratio,
        random=s.model is Model.RANDOM,
        ci_level=s.ci_level,
        study=names,
        estimate=natural(pooled.estimate),
        ci_lower=natural(pooled.ci_lower),
        ci_upper=natural(pooled.ci_upper),
        **arrays(pooled, "se", "z", "p_value", "q", "df", "p_q", "i2", "h2", "tau2", "k"),
    )


# -- leave-one-out and cumulative ---------------------------------------------------------


def leave_one_out(res: MetaAnalysis) -> Reanalysis:
    """Re-run the analysis without each estimable study in turn (metafor ``leave1out``).

    Each step is the analysis' own model and method — Mantel-Haenszel stays
    Mantel-Haenszel, each random-effects step estimates its own τ² — and all k
    steps are pooled as one batch. Subgroups are ignored, as in the total.

    Parameters
    ----------
    res : MetaAnalysis

    Returns
    -------
    Reanalysis
        Step i leaves out the i-th estimable study (input order).

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> loo = leave_one_out(res)
    >>> loo.study[6], round(float(loo.estimate[6]), 4), round(float(loo.i2[6]), 1)
    ('ISIS-2', 0.902, 49.7)
    """
    data = estimable_studies(res)
    if data.k < 2:
        raise InputError(
            f"leave-one-out needs at least 2 estimable studies, the analysis has {data.k}"
        )
    rows, seg = leave_one_out_layout(data.k)
    return _reanalysis("leave-one-out", data, data.refit(rows, seg), data.names)


def cumulative(
    res: MetaAnalysis,
    order: Iterable[str] | Callable[[StudyResult], Any] | None = None,
) -> Reanalysis:
    """Cumulative meta-analysis: the first 1, 2, ..., k studies in ``order`` (metafor ``cumul``).

    Parameters
    ----------
    res : MetaAnalysis
    order : None, sequence of str, or callable
        ``None``: the input order. A sequence of study names: the order in
        which the studies are added (every estimable study exactly once;
        non-estimable studies may be listed and are skipped). A callable: a
        sort key applied to each :class:`~metapool.results.StudyResult`
        (e.g. a year looked up by ``s.study``); ties keep the input order.

    Returns
    -------
    Reanalysis
        Step i pools the first i studies; ``study[i]`` is the study added at step i.
        Each step uses the analysis' model and method, with its own τ².

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> cum = cumulative(res, order=lambda s: -s.data.total_exp)
    >>> cum.study[:2], round(float(cum.estimate[-1]), 4) == round(res.total.estimate, 4)
    (('ISIS-2', 'AMIS'), True)
    """
    data = estimable_studies(res)
    if data.k < 1:
        raise InputError("cumulative analysis needs at least one estimable study")
    sequence = _order(res, data, order)
    rows, seg = cumulative_layout(sequence)
    names = tuple(data.names[i] for i in sequence)
    return _reanalysis("cumulative", data, data.refit(rows, seg), names)


def _order(
    res: MetaAnalysis,
    data: StudyData,
    order: Iterable[str] | Callable[[StudyResult], Any] | None,
) -> IntArray:
    """Positions (into the estimable studies) in the order of addition."""
    if order is None:
        return np.arange(data.k, dtype=np.intp)
    estimable = [s for s in res.studies if s.estimable]
    if callable(order):
        keys = [order(s) for s in estimable]
        try:
            ranked = sorted(range(data.k), key=keys.__getitem__)  # stable: ties keep input order
        except TypeError as exc:
            raise InputError(f"order keys must be comparable with each other: {exc}") from None
        return np.array(ranked, dtype=np.intp)
    if isinstance(order, str):
        raise InputError("order must be a sequence of study names, a key function or None")
    wanted = list(order)
    if len(set(data.names)) != data.k:
        raise InputError("study names are not unique; order the studies with a key function")
    unknown = set(wanted) - {s.study for s in res.studies}
    if unknown:
        raise InputError(f"order names studies not in the analysis: {sorted(unknown)}")
    position = {name: i for i, name in enumerate(data.names)}
    picked = [position[n] for n in wanted if n in position]  # non-estimable ones are skipped
    missing = [n for n in data.names if n not in set(wanted)]
    if missing:
        raise InputError(f"order must list every estimable study; it leaves out {missing}")
    if len(picked) != data.k:
        raise InputError("order must list every estimable study once; it repeats a study")
    return np.array(picked, dtype=np.intp)


# -- influence ----------------------------------------------------------------------------


@attrs.frozen(eq=False)
class Influence(_StudyTable):
    """Case-deletion diagnostics per estimable study, as metafor's ``influence()``.

    Attributes
    ----------
    study : tuple of str
    rstudent : ndarray
        Externally studentised residual: (yᵢ − θ₍₋ᵢ₎) / sqrt(vᵢ + τ²₍₋ᵢ₎ + Var θ₍₋ᵢ₎).
    dffits : ndarray
        Change in the fitted value, scaled: (θ − θ₍₋ᵢ₎) / sqrt(hᵢ (vᵢ + τ²₍₋ᵢ₎)).
    cook_d : ndarray
        Cook's distance (θ − θ₍₋ᵢ₎)² / Var θ.
    cov_r : ndarray
        Covariance ratio Var θ₍₋ᵢ₎ / Var θ.
    tau2_del, q_del : ndarray
        τ² and Cochran's Q with study i left out.
    hat : ndarray
        Leverage wᵢ / Σw (random-effects weights under random effects).
    weight : ndarray
        Weight in percent (100 · hat).
    dfbetas : ndarray
        (θ − θ₍₋ᵢ₎) / sqrt(1 / Σⱼ 1/(vⱼ + τ²₍₋ᵢ₎)).
    influential : ndarray of bool
        metafor's ``inf`` mark: ``|dffits|`` > 3 sqrt(1/(k−1)), or Cook's distance
        above the χ²₁ median, or hat > 3/k, or ``|dfbetas|`` > 1.

    Under the Hartung-Knapp-Sidik-Jonkman method each deleted fit's scale
    factor enters rstudent, dffits and dfbetas as in metafor's ``test="knha"``.
    """

    study: tuple[str, ...]
    rstudent: FloatArray
    dffits: FloatArray
    cook_d: FloatArray
    cov_r: FloatArray
    tau2_del: FloatArray
    q_del: FloatArray
    hat: FloatArray
    weight: FloatArray
    dfbetas: FloatArray
    influential: BoolArray

    def _table(self) -> tuple[str, list[str], list[list[str]]]:
        headers = [
            "Study",
            "rstudent",
            "dffits",
            "cook.d",
            "cov.r",
            "tau2.del",
            "QE.del",
            "hat",
            "weight",
            "dfbetas",
            "inf",
        ]
        rows = [
            [
                name,
                *(
                    _fmt(float(column[i]), 4)
                    for column in (
                        self.rstudent,
                        self.dffits,
                        self.cook_d,
                        self.cov_r,
                        self.tau2_del,
                        self.q_del,
                        self.hat,
                        self.weight,
                        self.dfbetas,
                    )
                ),
                "*" if self.influential[i] else "",
            ]
            for i, name in enumerate(self.study)
        ]
        return "Influence diagnostics", headers, rows


def influence(res: MetaAnalysis) -> Influence:
    """Influence diagnostics of every estimable study (metafor ``influence.rma.uni``).

    The model is the analysis' fixed- or random-effects model pooled by inverse
    variance (Mantel-Haenszel analyses too: metafor has no influence diagnostics
    for ``rma.mh``). The k deleted fits are one leave-one-out batch; the
    full-data variances with each deleted τ² are a second batch.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV",
    ...                        model="random")
    >>> inf = influence(res)
    >>> inf.study[5], round(float(inf.rstudent[5]), 4), bool(inf.influential[5])
    ('AMIS', 2.5291, False)
    """
    data = estimable_studies(res)
    k = data.k
    if k < 2:
        raise InputError(
            f"influence diagnostics need at least 2 estimable studies, the analysis has {k}"
        )
    everyone = np.arange(k, dtype=np.intp)
    full = data.refit(everyone, Segments.single(k), inverse_variance=True, weights=True)
    assert full.weights is not None
    theta, var = full.estimate[0], full.se[0] ** 2
    rows, seg = leave_one_out_layout(k)
    deleted = data.refit(rows, seg, inverse_variance=True)
    theta_del, var_del, tau2_del = deleted.estimate, deleted.se**2, deleted.tau2
    if data.settings.hksj:
        # metafor's s²_w of each deleted fit: the HKSJ variance over the plain one
        plain = data.refit(rows, seg, inverse_variance=True, hksj=False)
        scale = var_del / plain.se**2
    else:
        scale = np.ones(k)
    hat = full.weights / 100
    # the full data with each deleted τ² plugged in: k fixed-effect fits of all k studies
    group = np.repeat(everyone, k)
    study = np.tile(everyone, k)
    inflated = pool_segments(
        data.yi[study], data.vi[study] + tau2_del[group], Segments(group, k), random=False
    )
    change = theta - theta_del
    residual = data.yi - theta_del
    # as metafor: residuals within rounding of zero are zero
    residual = np.where(np.abs(residual) < 100 * np.finfo(float).eps, 0.0, residual)
    rstudent = residual / np.sqrt(data.vi * scale + var_del + tau2_del * scale)
    dffits = change / np.sqrt(scale * hat * (tau2_del + data.vi))
    dfbetas = change / np.sqrt(scale * inflated.se**2)
    cook_d = change**2 / var
    influential = (
        (np.abs(dffits) > 3 * math.sqrt(1 / (k - 1)))
        | (special.chdtr(1, cook_d) > 0.5)
        | (hat > 3 / k)
        | (np.abs(dfbetas) > 1)
    )
    return Influence(
        study=data.names,
        rstudent=rstudent,
        dffits=dffits,
        cook_d=cook_d,
        cov_r=var_del / var,
        tau2_del=tau2_del,
        q_del=deleted.q,
        hat=hat,
        weight=100 * hat,
        dfbetas=dfbetas,
        influential=influential,
    )


# -- Baujat -------------------------------------------------------------------------------


@attrs.frozen
class BaujatPoints:
    """Baujat coordinates of the estimable studies, in the analysis' order.

    As metafor's ``baujat.rma``: ``heterogeneity`` is each study's squared
    residual from the pooled estimate over its variance (plus τ² under random
    effects; for a fixed-effect analysis they add up to Q), ``influence`` the
    squared change of the pooled estimate when the study is left out, over the
    variance of the estimate without it.
    """

    study: tuple[str, ...]
    heterogeneity: FloatArray
    influence: FloatArray


def baujat_points(res: MetaAnalysis) -> BaujatPoints:
    """Each estimable study's contribution to heterogeneity and influence on the result.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="IV")
    >>> points = baujat_points(res)
    >>> round(float(points.heterogeneity.sum()), 4) == round(res.heterogeneity.q, 4)
    True
    """
    data = estimable_studies(res)
    k = data.k
    if k < 2:
        raise InputError(f"a Baujat plot needs at least 2 estimable studies, this analysis has {k}")
    full = data.refit(np.arange(k), Segments.single(k))
    without = data.refit(*leave_one_out_layout(k))
    theta, tau2 = full.estimate[0], full.tau2[0]
    return BaujatPoints(
        study=data.names,
        heterogeneity=(data.yi - theta) ** 2 / (data.vi + tau2),
        influence=(without.estimate - theta) ** 2 / without.se**2,
    )


_RENAMED = {"Sequence": "Reanalysis"}


def renamed(name: str, module: str, stacklevel: int = 3) -> Any:
    """The deprecated former ``name`` of ``module`` (one release), with a warning."""
    if name not in _RENAMED:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"metapool.diagnostics.{name} is renamed {_RENAMED[name]}; {name} is a "
        f"deprecated alias that will be removed in the next release",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return globals()[_RENAMED[name]]


def __getattr__(name: str) -> Any:
    return renamed(name, __name__)
