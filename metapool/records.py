"""Study records: one trial's data as RevMan enters it, validated at construction.

Each record may carry a ``footnote``: where its numbers came from (for example
how a value was converted by :mod:`metapool.prepare`). The printed result and
the forest plot show it as RevMan does, a superscript letter after the study
name and the note under the table.

A field may be ``None`` where RevMan leaves a cell empty; such a study stays in
the analysis as *not estimable*. Anything that cannot be data (negative counts,
events above the total, non-finite numbers, ...) raises :class:`InputError`
naming the study and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any, TypeAlias

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError
from metapool.prepare import generic_from_ci

# accepted and unchecked serve metapool's readers: not part of the public API
__all__ = ["Continuous", "Dichotomous", "Generic", "OMinusE", "Study"]


def _name(instance: Any) -> str:
    return f"study {instance.study!r}"


def _study(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"study name must be a non-empty string, got {value!r}")


def _subgroup(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(f"{_name(instance)}: subgroup must be a non-empty string or None")


def _footnote(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(f"{_name(instance)}: footnote must be a non-empty string or None")


def _number(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{_name(instance)}: {attribute.name} must be a number, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond the float range, perhaps too long to print
        raise InputError(
            f"{_name(instance)}: {attribute.name} is a number too large for a float"
        ) from None
    if not finite:
        raise InputError(f"{_name(instance)}: {attribute.name} = {value!r} is not finite")


def _count(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    _number(instance, attribute, value)
    if value is None:
        return
    assert isinstance(value, Real)
    if value < 0:
        raise InputError(f"{_name(instance)}: {attribute.name} = {value!r} is negative")
    if not float(value).is_integer():
        raise InputError(f"{_name(instance)}: {attribute.name} = {value!r} is not a whole number")


def _total(events_field: str | None) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        _count(instance, attribute, value)
        if value is None:
            return
        assert isinstance(value, Real)
        if value < 1:
            raise InputError(f"{_name(instance)}: {attribute.name} = {value!r} is less than 1")
        events = getattr(instance, events_field) if events_field else None
        if events is not None and events > value:
            raise InputError(
                f"{_name(instance)}: {events_field} = {events!r} is greater than "
                f"{attribute.name} = {value!r}"
            )

    return check


_count_total = _total(None)


def _total_with_sd(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    # the arm's SD is checked here, on its total (validated after it), so that n is known
    _count_total(instance, attribute, value)
    sd_field = "sd_" + attribute.name.split("_", 1)[1]
    sd = getattr(instance, sd_field)
    if sd is not None and value is not None and (sd < 0 or (sd == 0 and float(value) > 1)):  # type: ignore[arg-type]
        raise InputError(
            f"{_name(instance)}: {sd_field} = {sd!r} must be positive "
            f"({attribute.name} = {value!r})"
        )


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    _number(instance, attribute, value)
    if value is not None and value <= 0:  # type: ignore[operator]
        raise InputError(f"{_name(instance)}: {attribute.name} = {value!r} must be positive")


Number: TypeAlias = "float | None"
Count: TypeAlias = "int | float | None"


@attrs.frozen
class Dichotomous:
    """Events and participants in the experimental and control arms.

    Examples
    --------
    >>> Dichotomous("ISIS-2", 1570, 8587, 1720, 8600).total_ctrl
    8600
    >>> Dichotomous("ISIS-2", 9000, 8587, 1720, 8600)
    Traceback (most recent call last):
    metapool.errors.InputError: study 'ISIS-2': events_exp = 9000 is greater than total_exp = 8587
    """

    study: str = attrs.field(validator=_study)
    events_exp: Count = attrs.field(validator=_count)
    total_exp: Count = attrs.field(validator=_total("events_exp"))
    events_ctrl: Count = attrs.field(validator=_count)
    total_ctrl: Count = attrs.field(validator=_total("events_ctrl"))
    subgroup: str | None = attrs.field(default=None, validator=_subgroup)
    footnote: str | None = attrs.field(default=None, validator=_footnote)


@attrs.frozen
class Continuous:
    """Mean, standard deviation and participants in each arm.

    Examples
    --------
    >>> Continuous("Hart", 12.5, 1.47, 20, 12.3, 1.66, 20).mean_exp
    12.5
    """

    study: str = attrs.field(validator=_study)
    mean_exp: Number = attrs.field(validator=_number)
    sd_exp: Number = attrs.field(validator=_number)
    total_exp: Count = attrs.field(validator=_total_with_sd)
    mean_ctrl: Number = attrs.field(validator=_number)
    sd_ctrl: Number = attrs.field(validator=_number)
    total_ctrl: Count = attrs.field(validator=_total_with_sd)
    subgroup: str | None = attrs.field(default=None, validator=_subgroup)
    footnote: str | None = attrs.field(default=None, validator=_footnote)


@attrs.frozen
class OMinusE:
    """Observed minus expected events (O-E) and its variance V."""

    study: str = attrs.field(validator=_study)
    o_minus_e: Number = attrs.field(validator=_number)
    variance: Number = attrs.field(validator=_positive)
    subgroup: str | None = attrs.field(default=None, validator=_subgroup)
    footnote: str | None = attrs.field(default=None, validator=_footnote)


@attrs.frozen
class Generic:
    """An effect estimate and its standard error (log scale for ratio measures).

    Examples
    --------
    A hazard ratio of 0.75 (95% CI 0.58 to 0.97) as reported, converted to the
    log scale:

    >>> rec = Generic.from_ci("Ahn 2021", 0.75, 0.58, 0.97)
    >>> round(rec.estimate, 4), round(rec.se, 4), rec.footnote
    (-0.2877, 0.1312, 'log ratio and SE from 95% CI')
    """

    study: str = attrs.field(validator=_study)
    estimate: Number = attrs.field(validator=_number)
    se: Number = attrs.field(validator=_positive)
    subgroup: str | None = attrs.field(default=None, validator=_subgroup)
    footnote: str | None = attrs.field(default=None, validator=_footnote)

    @classmethod
    def from_ci(
        cls,
        study: str,
        estimate: float,
        lower: float,
        upper: float,
        *,
        ratio: bool = True,
        ci_level: float = 0.95,
        subgroup: str | None = None,
    ) -> Generic:
        """A record from an estimate and its confidence interval as reported.

        For a ratio (``ratio=True``: odds, risk or hazard ratio on the natural
        scale) the estimate is logged and the SE is (ln upper − ln lower) / (2·z);
        see :func:`metapool.prepare.generic_from_ci`, which also does this for
        arrays. The footnote records the conversion.

        Raises
        ------
        InputError
            Naming the study: e.g. a ratio's limit that is not positive (log
            ratios or a difference need ``ratio=False``).
        """
        try:
            res = generic_from_ci(estimate, lower, upper, ratio=ratio, ci_level=ci_level)
        except InputError as exc:
            raise InputError(f"study {study!r}: {exc}") from None
        return cls(
            study, float(res.estimate), float(res.se), subgroup, footnote=str(res.describe())
        )


Study: TypeAlias = "Dichotomous | Continuous | OMinusE | Generic"


def accepted(columns: Mapping[str, FloatArray]) -> BoolArray:
    """The rows of data ``columns`` (field -> values) that the validators above accept.

    The same rules, as array operations, for readers that build many records at
    once: a row with a missing (NaN) or rejected value is False, and building its
    record with validation gives the reason. Name fields are not covered.
    """
    ok = np.ones(len(next(iter(columns.values()))), dtype=bool)
    for values in columns.values():
        ok &= np.isfinite(values)
    for arm in ("exp", "ctrl"):
        n, events, sd = (columns.get(f"{f}_{arm}") for f in ("total", "events", "sd"))
        if n is None:
            continue
        ok &= (n >= 1) & (np.floor(n) == n)
        if events is not None:
            ok &= (events >= 0) & (np.floor(events) == events) & (events <= n)
        if sd is not None:
            ok &= (sd > 0) | ((sd == 0) & (n <= 1))
    for field in ("se", "variance"):
        if field in columns:
            ok &= columns[field] > 0
    return ok


def unchecked(
    kind: type[Study], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[Study]:
    """Records of values :func:`accepted` has checked (one sequence of ``fields``' values
    per row), built without validating them again: a review holds up to ~10^5."""
    new, assign = object.__new__, object.__setattr__
    # the fields not given keep their defaults (subgroup, footnote)
    defaults = [(a.name, a.default) for a in attrs.fields(kind) if a.name not in fields]
    out = []
    for values in rows:
        record = new(kind)
        for name, value in zip(fields, values, strict=True):
            assign(record, name, value)  # frozen: attrs' own __init__ sets them so too
        for name, value in defaults:
            assign(record, name, value)
        out.append(record)
    return out
