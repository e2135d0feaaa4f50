"""Per-group sums that merge, and every intercept-model formula built from them.

A meta-analysis without moderators is a function of a few sums per group: k,
Σw, Σwy, Σw², Σy and Σv (:class:`GroupSums`), and the squares about a centre,
Σw(y - θ)² and Σ(y - ȳ)² (:class:`Spread`). Sums of disjoint pieces of a
group add up (:meth:`GroupSums.merge`), so the in-memory engine
(:func:`metapool.pooling.engine.pool_segments`) and the distributed one
(:mod:`metapool.dask`, whose partitions each hold part of a group) take the
pooled mean, its HKSJ variance, the typical within-study variance and the
closed-form τ² from the functions here: each formula exists once.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import numpy as np

from metapool._typing import FloatArray
from metapool.pooling.segments import Segments

__all__ = [
    "GroupSums",
    "Spread",
    "closed_form_tau2",
    "hksj_variance",
    "pooled_mean",
    "sj_start",
    "tau2_from_sums",
    "typical_variance",
    "weighted_squares",
]

_S = TypeVar("_S", bound="_Additive")


class _Additive:
    """Records of per-group arrays whose entries add up over pieces of a group."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in attrs.fields(cls))  # type: ignore[arg-type]

    def merge(self: _S, seg: Segments) -> _S:
        """Totals per group of entries that belong to groups ``seg`` (several pieces each)."""
        return type(self)(*(seg.sum(getattr(self, name)) for name in self.names()))

    def columns(self) -> dict[str, FloatArray]:
        """The sums by name (a table's columns)."""
        return {name: getattr(self, name) for name in self.names()}

    @classmethod
    def of_columns(cls: type[_S], table: Any) -> _S:
        """From a mapping (or data frame) of the columns :meth:`columns` gives."""
        return cls(*(np.asarray(table[name], dtype=np.float64) for name in cls.names()))


@attrs.frozen
class GroupSums(_Additive):
    """k, Σw, Σwy, Σw², Σy and Σv per group, for weights w = 1/(v + τ²)."""

    k: FloatArray
    sw: FloatArray
    swy: FloatArray
    sw2: FloatArray
    sy: FloatArray
    sv: FloatArray

    @classmethod
    def of(
        cls, seg: Segments, y: FloatArray, v: FloatArray, w: FloatArray, count: FloatArray
    ) -> GroupSums:
        """The sums of studies ``y``, ``v`` with weights ``w``; ``count`` is 1 per study
        (0 for a row that only marks its group's presence, with w = y = v = 0)."""
        return cls(
            seg.sum(count), seg.sum(w), seg.sum(w * y), seg.sum(w * w), seg.sum(y), seg.sum(v)
        )

    def mean(self) -> tuple[FloatArray, FloatArray]:
        """The weighted mean θ and its variance (see :func:`pooled_mean`)."""
        return pooled_mean(self.sw, self.swy)

    def ybar(self) -> FloatArray:
        """The unweighted mean Σy/k."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sy / self.k

    def typical(self) -> FloatArray:
        """The typical within-study variance (see :func:`typical_variance`)."""
        return typical_variance(self.k, self.sw, self.sw2)


@attrs.frozen
class Spread(_Additive):
    """Σw(y - θ)² (Q at these weights) and Σ(y - ȳ)² per group, about given centres."""

    q: FloatArray
    ss: FloatArray

    @classmethod
    def of(
        cls,
        seg: Segments,
        y: FloatArray,
        w: FloatArray,
        count: FloatArray,
        theta: FloatArray,
        ybar: FloatArray,
    ) -> Spread:
        """About each group's ``theta`` (weighted) and ``ybar`` (unweighted, rows
        that count 0 left out)."""
        d = (y - seg.expand(ybar)) * count
        return cls(weighted_squares(seg, y, w, theta), seg.sum(d * d))


def pooled_mean(sw: FloatArray, swy: FloatArray) -> tuple[FloatArray, FloatArray]:
    """θ = Σwy/Σw and its (Wald) variance 1/Σw."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return swy / sw, 1.0 / sw


def weighted_squares(seg: Segments, y: FloatArray, w: FloatArray, theta: FloatArray) -> FloatArray:
    """Σwᵢ(yᵢ - θ)² per group: squares about a known centre, which keeps Q exact
    where the one-pass Σwy² - (Σwy)²/Σw would cancel every digit."""
    r = y - seg.expand(theta)
    return seg.sum(w * r * r)


def typical_variance(k: FloatArray, sw: FloatArray, sw2: FloatArray) -> FloatArray:
    """Higgins-Thompson typical within-study variance (k - 1) Σw / ((Σw)² - Σw²)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (k - 1) * sw / (sw * sw - sw2)


def hksj_variance(q: FloatArray, k: FloatArray, sw: FloatArray) -> FloatArray:
    """Hartung-Knapp-Sidik-Jonkman variance Σwᵢ(yᵢ - θ)² / ((k - 1) Σwᵢ), from its sums."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return q / ((k - 1) * sw)


def sj_start(sums: GroupSums, spread: Spread) -> FloatArray:
    """Sidik-Jonkman's start value τ₀² = Σ(yᵢ - ȳ)²/k."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return spread.ss / sums.k


def closed_form_tau2(
    method: str,
    sums: GroupSums,
    spread: Spread,
    start: tuple[FloatArray, Spread] | None = None,
) -> FloatArray:
    """τ² of the intercept model by DL, HS, HE or SJ from sums at w = 1/v.

    ``spread`` is about the inverse-variance mean and ȳ; SJ also needs its
    ``start``: τ₀² (:func:`sj_start`) and the spread at w = 1/(v + τ₀²).
    """
    k, sw, sv = sums.k, sums.sw, sums.sv
    with np.errstate(divide="ignore", invalid="ignore"):
        return tau2_from_sums(
            method,
            k,
            q=spread.q,
            sw=sw,
            trace_p=sw - sums.sw2 / sw,
            rss_ols=spread.ss,
            trace_pv=sv - sv / k,
            tau0=None if start is None else start[0],
            q_tau0=None if start is None else start[1].q,
        )


def tau2_from_sums(
    method: str,
    k: FloatArray,
    *,
    p: int = 1,
    q: FloatArray | None = None,
    sw: FloatArray | None = None,
    trace_p: FloatArray | None = None,
    rss_ols: FloatArray | None = None,
    trace_pv: FloatArray | None = None,
    tau0: FloatArray | None = None,
    q_tau0: FloatArray | None = None,
) -> FloatArray:
    """The closed-form estimators from per-group sums, truncated at 0 (0 where k <= p).

    - DL: (Q - (k - p)) / tr(P), with Q and P at wᵢ = 1/vᵢ; for an intercept
      tr(P) = Σw - Σw²/Σw;
    - HS: (Q - k) / Σw;
    - HE: (RSS - tr(PV)) / (k - p) of the unweighted fit; for an intercept
      RSS = Σ(yᵢ - ȳ)² and tr(PV) = Σv - Σv/k;
    - SJ: τ₀² Q(τ₀²) / (k - p), τ₀² = Σ(yᵢ - ȳ)²/k and Q(τ₀²) at wᵢ = 1/(vᵢ + τ₀²).

    Sums are all these need, so a distributed engine can add them up over data
    it never holds at once (:mod:`metapool.dask`).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "DL":
            assert q is not None and trace_p is not None
            tau2 = (q - (k - p)) / trace_p
        elif method == "HS":
            assert q is not None and sw is not None
            tau2 = (q - k) / sw
        elif method == "HE":
            assert rss_ols is not None and trace_pv is not None
            tau2 = (rss_ols - trace_pv) / (k - p)
        elif method == "SJ":
            assert tau0 is not None and q_tau0 is not None
            tau2 = tau0 * q_tau0 / (k - p)
        else:
            raise ValueError(f"{method} has no closed form from sums")
    return np.where(k > p, np.maximum(tau2, 0.0), 0.0)
