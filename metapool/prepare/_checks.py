"""Argument checks and small shared pieces of the conversions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError
from metapool.prepare._results import (
    Floats,
)

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
