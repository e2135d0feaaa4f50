"""Study-level effect sizes, vectorised over any number of studies.

Every formula for a single study's estimate and variance lives here, once:
the zero-cell rule, odds and risk ratios, risk difference, Peto's O-E,
mean differences and Hedges' adjusted g.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import IntEnum
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError
from metapool.records import NOT_FINITE, rejections
from metapool.vocabulary import flag

__all__ = [
    "REASONS",
    "Cells",
    "EffectSizes",
    "NotEstimable",
    "compute",
    "corrected_cells",
    "effect_sizes",
    "peto_o_minus_e",
]

_DICHOTOMOUS = ("OR", "RR", "RD", "PETO_OR")
_CONTINUOUS = ("MD", "SMD")


class NotEstimable(IntEnum):
    """Why a study has no estimate (0: it has one)."""

    ESTIMABLE = 0
    NO_EVENTS = 1
    ALL_EVENTS = 2
    MISSING = 3
    ZERO_VARIANCE = 4


# the codes as plain ints: numpy compares and stores those without a conversion
_NO_EVENTS, _ALL_EVENTS, _MISSING, _ZERO_VARIANCE = (int(r) for r in list(NotEstimable)[1:])

#: the reason text of each :class:`NotEstimable` code, as shown in a result
REASONS = (
    "",
    "no events in either arm",
    "all participants had events in both arms",
    "missing data",
    "zero variance",
)


@attrs.frozen
class Cells:
    """The four cells of 2x2 tables, one entry per study."""

    a: FloatArray
    b: FloatArray
    c: FloatArray
    d: FloatArray

    @property
    def n1(self) -> FloatArray:
        return self.a + self.b

    @property
    def n2(self) -> FloatArray:
        return self.c + self.d

    def take(self, index: Any) -> Cells:
        return Cells(self.a[index], self.b[index], self.c[index], self.d[index])


def corrected_cells(cells: Cells) -> Cells:
    """RevMan's zero-cell rule: add 0.5 to all four cells of a table with a zero cell.

    Examples
    --------
    >>> import numpy as np
    >>> c = corrected_cells(Cells(*(np.array([x, 5.0]) for x in (0.0, 10, 3, 7))))
    >>> c.a, c.d
    (array([0.5, 5. ]), array([7.5, 5. ]))
    """
    zero = np.minimum(np.minimum(cells.a, cells.b), np.minimum(cells.c, cells.d)) == 0
    add = np.where(zero, 0.5, 0.0)
    return Cells(cells.a + add, cells.b + add, cells.c + add, cells.d + add)


@attrs.frozen
class EffectSizes:
    """Per-study estimates on the analysis scale (log for ratios) and their variances.

    Attributes
    ----------
    measure : str
    yi, vi : ndarray
        Estimate and variance; NaN where the study is not estimable.
    reason : ndarray of int8
        :class:`NotEstimable` code per study (0 where estimable).
    cells : Cells or None
        Raw 2x2 cells (dichotomous data), which Mantel-Haenszel pooling takes;
        ``corrected`` gives them after the zero-cell rule.
    """

    measure: str
    yi: FloatArray
    vi: FloatArray
    reason: npt.NDArray[np.int8]
    cells: Cells | None = None

    @property
    def corrected(self) -> Cells | None:
        """The cells after RevMan's zero-cell rule (:func:`corrected_cells`)."""
        return None if self.cells is None else corrected_cells(self.cells)

    @property
    def estimable(self) -> BoolArray:
        ok: BoolArray = self.reason == 0  # NotEstimable.ESTIMABLE
        return ok

    @property
    def se(self) -> FloatArray:
        return np.sqrt(self.vi)

    def __iter__(self) -> Iterator[FloatArray]:
        """Unpack as ``yi, vi = effect_sizes(...)`` (the attributes stay)."""
        return iter((self.yi, self.vi))


def as_floats(name: str, value: Any) -> FloatArray:
    """``value`` as a float array; InputError for text, booleans, None or numbers out of range.

    Examples
    --------
    >>> as_floats("yi", ["a", "b"])
    Traceback (most recent call last):
    metapool.errors.InputError: yi must be numbers, got text ('a', ...)
    """
    if value is None:
        raise InputError(f"{name} must be numbers, got None")
    raw = np.asarray(value)
    if raw.dtype.kind in "USb" or (
        raw.dtype.kind == "O" and any(isinstance(x, (str, bytes, bool)) for x in raw.flat)
    ):
        first = next(iter(raw.flat), None)
        kind = "booleans" if raw.dtype.kind == "b" or isinstance(first, bool) else "text"
        shown = repr(str(first)) if kind == "text" else str(first)
        raise InputError(f"{name} must be numbers, got {kind} ({shown}, ...)")
    try:
        return np.asarray(raw, dtype=np.float64)
    except OverflowError:
        raise InputError(f"{name} holds a number too large for a float") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numbers ({exc})") from None


def _as_array(name: str, value: Any, size: int | None) -> FloatArray:
    arr = as_floats(name, value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if size is not None and arr.shape[0] != size:
        raise InputError(f"{name} has {arr.shape[0]} values, expected {size}")
    return arr


def _fail_where(bad: BoolArray, labels: Any, message: str, **values: FloatArray) -> None:
    """Raise for the first row flagged ``bad``; ``message`` is formatted with that row's values."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"study {labels[i]!r}" if labels is not None else f"row {i}"
        more = int(bad.sum()) - 1
        extra = f" (and {more} more)" if more else ""
        text = message.format(**{name: float(v[i]) for name, v in values.items()})
        raise InputError(f"{where}: {text}{extra}")


def effect_sizes(
    measure: str,
    *,
    study: Any = None,
    swap_events: bool = False,
    allow_missing: bool = False,
    **arrays: Any,
) -> EffectSizes:
    """Compute per-study effect sizes for a RevMan measure from arrays.

    Parameters
    ----------
    measure : str
        ``"OR"``, ``"RR"``, ``"RD"``, ``"PETO_OR"`` from ``events_exp``,
        ``total_exp``, ``events_ctrl``, ``total_ctrl``; ``"MD"``, ``"SMD"`` from
        ``mean_exp``, ``sd_exp``, ``total_exp``, ``mean_ctrl``, ``sd_ctrl``,
        ``total_ctrl``; ``"PETO_OR"`` also from ``o_minus_e`` and ``variance``;
        any other label from ``estimate`` and ``se`` (generic inverse variance).
    study : sequence, optional
        Study labels, used only to name a study in error messages.
    swap_events : bool
        Count non-events instead of events (RevMan's "swap events").
    allow_missing : bool
        Treat NaN as an empty cell (the study is not estimable) instead of an error.
    **arrays
        The data columns named above; array-like of equal length.

    Returns
    -------
    EffectSizes
        ``yi`` and ``vi`` on the analysis scale (natural log for ratios).

    Examples
    --------
    >>> es = effect_sizes("OR", events_exp=[49, 44], total_exp=[615, 758],
    ...                   events_ctrl=[67, 64], total_ctrl=[624, 771])
    >>> np.exp(es.yi).round(6)
    array([0.719714, 0.68076 ])
    >>> es.se.round(6)
    array([0.19722 , 0.202897])
    """
    if not isinstance(measure, str):
        raise InputError(f"measure must be a string such as 'OR' or 'MD', got {measure!r}")
    swap_events = flag("swap_events", swap_events)
    allow_missing = flag("allow_missing", allow_missing)
    size: int | None = None
    cols: dict[str, FloatArray] = {}
    for name, value in arrays.items():
        cols[name] = _as_array(name, value, size)
        size = cols[name].shape[0]
    missing = np.zeros(size or 0, dtype=bool)
    for name, arr in cols.items():
        if allow_missing:
            _fail_where(np.isinf(arr), study, NOT_FINITE.text([name], ["{x}"]), x=arr)
            missing |= np.isnan(arr)
        else:
            _fail_where(~np.isfinite(arr), study, NOT_FINITE.text([name], ["{x}"]), x=arr)
    _check_ranges(cols, missing, study)
    return compute(measure, cols, missing=missing, study=study, swap_events=swap_events)


def _check_ranges(cols: dict[str, FloatArray], missing: BoolArray, labels: Any) -> None:
    """The rules :mod:`metapool.records` validates (:func:`~metapool.records.rejections`),
    for data given as arrays; missing cells are not checked."""
    ok = ~missing
    for rule, names, rejected in rejections(cols):
        bad = ok & rejected
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail_where(bad, labels, rule.text(names, [f"{cols[n][i]:g}" for n in names]))


def compute(
    measure: str,
    cols: dict[str, FloatArray],
    *,
    missing: BoolArray,
    study: Any = None,
    swap_events: bool = False,
) -> EffectSizes:
    """:func:`effect_sizes` on float columns already validated (NaN marks a missing cell)."""
    measure_u = measure.upper()
    keys = set(cols)

    def need(*names: str) -> list[FloatArray]:
        absent = [n for n in names if n not in keys]
        if absent:
            raise InputError(f"measure {measure_u} needs {', '.join(absent)}")
        extra = keys - set(names)
        if extra:
            raise InputError(
                f"measure {measure_u} takes {', '.join(names)}; "
                f"unexpected {', '.join(sorted(extra))}"
            )
        return [cols[n] for n in names]

    if "estimate" in keys or "se" in keys:
        est, se = need("estimate", "se")
        return _finish(measure_u, est, se * se, missing)
    if "o_minus_e" in keys or "variance" in keys:
        z, v = need("o_minus_e", "variance")
        return _finish(measure_u, z / v, 1.0 / v, missing)
    if measure_u in _DICHOTOMOUS:
        e1, n1, e2, n2 = need("events_exp", "total_exp", "events_ctrl", "total_ctrl")
        return _dichotomous(measure_u, e1, n1, e2, n2, study, swap_events, missing)
    if measure_u in _CONTINUOUS:
        cols_c = need("mean_exp", "sd_exp", "total_exp", "mean_ctrl", "sd_ctrl", "total_ctrl")
        return _continuous(measure_u, *cols_c, labels=study, missing=missing)
    raise InputError(
        f"unknown measure {measure!r} for these columns; use OR, RR, RD, PETO_OR (counts), "
        "MD, SMD (means), or any label with estimate and se"
    )


def _finish(
    measure: str,
    yi: FloatArray,
    vi: FloatArray,
    missing: BoolArray,
    reason: npt.NDArray[np.int8] | None = None,
    cells: Cells | None = None,
) -> EffectSizes:
    if reason is None:
        reason = np.zeros(yi.shape, dtype=np.int8)
    if missing.any():
        reason = np.where(missing, np.int8(_MISSING), reason).astype(np.int8)
    bad = reason != 0
    if bad.any():
        yi = np.where(bad, np.nan, yi)
        vi = np.where(bad, np.nan, vi)
    return EffectSizes(measure, yi, vi, reason, cells)


def _dichotomous(
    measure: str,
    e1: FloatArray,
    n1: FloatArray,
    e2: FloatArray,
    n2: FloatArray,
    labels: Any,
    swap: bool,
    missing: BoolArray,
) -> EffectSizes:
    if swap:
        e1, e2 = n1 - e1, n2 - e2
    with np.errstate(all="ignore"):
        raw = Cells(e1, n1 - e1, e2, n2 - e2)
        reason = np.zeros(e1.shape, dtype=np.int8)
        if measure != "RD":
            reason[(raw.a == 0) & (raw.c == 0)] = _NO_EVENTS
            reason[(raw.b == 0) & (raw.d == 0)] = _ALL_EVENTS
        cc = corrected_cells(raw)
        if measure == "PETO_OR":
            o_minus_e, v = peto_o_minus_e(raw)
            yi, vi = o_minus_e / v, 1.0 / v
        else:
            if measure == "OR":
                yi = np.log(cc.a * cc.d / (cc.b * cc.c))
                vi = 1 / cc.a + 1 / cc.b + 1 / cc.c + 1 / cc.d
            elif measure == "RR":
                m1, m2 = cc.n1, cc.n2
                yi = np.log(cc.a / m1 * m2 / cc.c)
                vi = 1 / cc.a + 1 / cc.c - 1 / m1 - 1 / m2
            else:  # RD: estimate from the raw counts, variance from the corrected cells
                yi = raw.a / n1 - raw.c / n2
                m1, m2 = cc.n1, cc.n2
                vi = cc.a * cc.b / m1**3 + cc.c * cc.d / m2**3
    return _finish(measure, yi, vi, missing, reason, raw)


def peto_o_minus_e(cells: Cells) -> tuple[FloatArray, FloatArray]:
    """Peto's O - E and hypergeometric variance V of each 2x2 table (no correction)."""
    n1, n2 = cells.n1, cells.n2
    n = n1 + n2
    events = cells.a + cells.c
    expected = n1 * events / n
    v = n1 * n2 * events * (n - events) / (n * n * (n - 1))
    return cells.a - expected, v


def _continuous(
    measure: str,
    m1: FloatArray,
    s1: FloatArray,
    n1: FloatArray,
    m2: FloatArray,
    s2: FloatArray,
    n2: FloatArray,
    *,
    labels: Any,
    missing: BoolArray,
) -> EffectSizes:
    ok = ~missing
    if measure == "SMD":
        for arm, n in (("exp", n1), ("ctrl", n2)):
            _fail_where(
                ok & (n < 2),
                labels,
                f"total_{arm} = {{n:g}}: SMD needs at least 2 participants per arm",
                n=n,
            )
    with np.errstate(all="ignore"):
        if measure == "MD":
            yi = m1 - m2
            vi = s1 * s1 / n1 + s2 * s2 / n2
        else:  # Hedges' adjusted g with RevMan's approximate correction factor
            n = n1 + n2
            pooled_sd = np.sqrt(((n1 - 1) * s1 * s1 + (n2 - 1) * s2 * s2) / (n - 2))
            yi = (m1 - m2) / pooled_sd * (1 - 3 / (4 * n - 9))
            vi = n / (n1 * n2) + yi * yi / (2 * (n - 3.94))
    reason = np.where(ok & (vi <= 0), np.int8(_ZERO_VARIANCE), np.int8(0))
    return _finish(measure, yi, vi, missing, reason.astype(np.int8))
