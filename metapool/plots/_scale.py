"""The effect axis of forest and funnel plots: limits and ticks as RevMan chooses them.

RevMan's axis is symmetric about the line of no effect (0.01 to 100 for
ratios, -100 to 100 for differences, or a smaller "scale"). Here the scale is
chosen from the data: the smallest that shows every point estimate and pooled
interval, or one step larger if that shows the study intervals as well;
intervals that still leave the axis end in an arrow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator

import attrs

from metapool.errors import InputError

__all__ = ["EffectAxis", "effect_axis"]

# RevMan's tick sets for its smaller ratio scales
_RATIO_TICKS: dict[float, tuple[float, ...]] = {
    2.0: (0.5, 0.7, 1.0, 1.5, 2.0),
    5.0: (0.2, 0.5, 1.0, 2.0, 5.0),
    10.0: (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
}


@attrs.frozen
class EffectAxis:
    """Limits and ticks of an effect axis, on the natural scale (ratios not logged)."""

    ratio: bool
    lower: float
    upper: float
    ticks: tuple[float, ...]

    @property
    def null(self) -> float:
        """The line of no effect: 1 for ratios, 0 for differences."""
        return 1.0 if self.ratio else 0.0

    @property
    def scale(self) -> str:
        """Matplotlib's name of the axis scale."""
        return "log" if self.ratio else "linear"

    @property
    def null_fraction(self) -> float:
        """Where the line of no effect falls (0 to 1), at the nearer end if outside."""
        return min(max(self.fraction(self.null), 0.0), 1.0)

    def fraction(self, x: float) -> float:
        """Where ``x`` falls between the limits (0 at ``lower``, 1 at ``upper``)."""
        t = math.log if self.ratio else float
        return (t(x) - t(self.lower)) / (t(self.upper) - t(self.lower))

    def clip(self, x: float) -> float:
        """``x`` moved inside the limits."""
        return min(max(x, self.lower), self.upper)


def _analysis_scale(x: float, ratio: bool) -> float:
    return math.log(x) if ratio else x


def _scales(ratio: bool, reach: float) -> Iterator[float]:
    """RevMan-like scales (the axis' upper limit) in increasing order, from ``reach`` on."""
    if ratio:
        yield from (2.0, 5.0, 10.0)
        for n in itertools.count(2):
            yield 10.0**n
    decade = 10.0 ** math.floor(math.log10(reach))
    for n in itertools.count():
        for m in (1.0, 2.0, 3.0, 4.0, 5.0):
            yield m * decade * 10.0**n


def _symmetric(scale: float, ratio: bool) -> EffectAxis:
    """The axis from ``1/scale`` to ``scale`` (ratios) or ``-scale`` to ``scale``."""
    if not ratio:
        return EffectAxis(False, -scale, scale, (-scale, -scale / 2, 0.0, scale / 2, scale))
    if scale in _RATIO_TICKS:
        return EffectAxis(True, 1.0 / scale, scale, _RATIO_TICKS[scale])
    n = round(math.log10(scale))
    if not math.isclose(10.0**n, scale):  # a scale of the file's own: its ends and 1
        return EffectAxis(True, 1.0 / scale, scale, (1.0 / scale, 1.0, scale))
    ticks = tuple(10.0**e for e in sorted({-n, -(n // 2), 0, n // 2, n}))
    return EffectAxis(True, 1.0 / scale, scale, ticks)


def _covering(reach: float, ratio: bool) -> Iterator[float]:
    """The scales whose axis reaches ``reach`` (analysis units) on both sides."""
    return (s for s in _scales(ratio, reach) if _analysis_scale(s, ratio) >= reach)


def effect_axis(
    core: Iterable[float],
    spread: Iterable[float],
    ratio: bool,
    limits: tuple[float, float] | None = None,
    scale: float | None = None,
) -> EffectAxis:
    """Choose the effect axis.

    Parameters
    ----------
    core
        Values that must be inside the axis (estimates, pooled intervals).
    spread
        Values worth one step up the scale (study confidence limits).
    ratio
        Log axis around 1, else linear around 0.
    limits
        The user's ``(lower, upper)``; ticks are then RevMan's ticks inside them.
    scale
        RevMan's scale: the axis from ``1/scale`` to ``scale`` (ratios) or
        ``-scale`` to ``scale``; ``limits`` take precedence.

    Examples
    --------
    >>> effect_axis([0.72, 0.9], [0.46, 1.37], ratio=True).ticks
    (0.2, 0.5, 1.0, 2.0, 5.0)
    >>> effect_axis([-0.6], [-1.3, 0.2], ratio=False).ticks
    (-2.0, -1.0, 0.0, 1.0, 2.0)
    >>> effect_axis([], [], ratio=True, scale=100).ticks
    (0.01, 0.1, 1.0, 10.0, 100.0)
    """
    if limits is not None:
        lower, upper = (float(x) for x in limits)
        if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
            raise InputError(f"xlim must be two finite numbers, lower < upper; got {limits!r}")
        if ratio and lower <= 0:
            raise InputError(f"xlim of a ratio measure must be positive; got {limits!r}")
        reach = max(abs(_analysis_scale(lower, ratio)), abs(_analysis_scale(upper, ratio)))
        nice = _symmetric(next(_covering(reach, ratio)), ratio).ticks
        inside = tuple(t for t in nice if lower <= t <= upper)
        return EffectAxis(ratio, lower, upper, inside if len(inside) >= 2 else (lower, upper))
    if scale is not None:
        return _symmetric(float(scale), ratio)
    must = [abs(_analysis_scale(x, ratio)) for x in core if math.isfinite(x)]
    want = [abs(_analysis_scale(x, ratio)) for x in spread if math.isfinite(x)]
    # the smallest scale showing every estimate, or the next one up if that one
    # cuts a study interval (it then shows more of them); RevMan's 10 (or +-1)
    # when nothing is estimable
    ladder = _covering(max(must, default=0.0) or (math.log(10.0) if ratio else 1.0), ratio)
    first, second = next(ladder), next(ladder)
    fits = _analysis_scale(first, ratio) >= max(want, default=0.0)
    return _symmetric(first if fits else second, ratio)
