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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from numbers import Real
from typing import Any, TypeAlias

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError
from metapool.prepare import generic_from_ci
from metapool.vocabulary import DataType

# the registry, the rules, accepted and unchecked serve metapool's modules: not public API
__all__ = ["Continuous", "Dichotomous", "Generic", "OMinusE", "Study"]


def _name(instance: Any) -> str:
    return f"study {instance.study!r}"


@attrs.frozen
class Rule:
    """One validation rule of study data, written once: where it rejects and what it says.

    ``rejects`` takes the values of the rule's fields (arrays or numbers, finite) and
    is true where they cannot be data; ``message`` is formatted with the fields'
    names (``{0}``, ``{1}``) and their values as shown (``{v0}``, ``{v1}``).
    """

    message: str
    rejects: Callable[..., Any]

    def text(self, names: Sequence[str], shown: Sequence[str]) -> str:
        return self.message.format(*names, **{f"v{i}": v for i, v in enumerate(shown)})


NOT_FINITE = Rule("{0} = {v0} is not finite", lambda x: ~np.isfinite(x))
NEGATIVE = Rule("{0} = {v0} is negative", lambda x: x < 0)
NOT_WHOLE = Rule("{0} = {v0} is not a whole number", lambda x: np.floor(x) != x)
BELOW_ONE = Rule("{0} = {v0} is less than 1", lambda x: x < 1)
NOT_POSITIVE = Rule("{0} = {v0} must be positive", lambda x: x <= 0)
EVENTS_ABOVE_TOTAL = Rule("{0} = {v0} is greater than {1} = {v1}", lambda e, n: e > n)
# an SD of 0 is possible only for a single participant
SD_NOT_POSITIVE = Rule(
    "{0} = {v0} must be positive ({1} = {v1})", lambda sd, n: (sd < 0) | ((sd == 0) & (n > 1))
)

_EVENTS, _TOTALS = ("events_exp", "events_ctrl"), ("total_exp", "total_ctrl")
#: the fields that count participants or events (whole numbers)
COUNTS = frozenset(_EVENTS + _TOTALS)
#: the rules of each field's own value, beyond being a finite number, in the order checked
FIELD_RULES: dict[str, tuple[Rule, ...]] = {
    **dict.fromkeys(_EVENTS, (NEGATIVE, NOT_WHOLE)),
    **dict.fromkeys(_TOTALS, (NEGATIVE, NOT_WHOLE, BELOW_ONE)),
    "se": (NOT_POSITIVE,),
    "variance": (NOT_POSITIVE,),
}
#: the rules between two fields of a record, checked after each field's own
CROSS_RULES: tuple[tuple[Rule, tuple[str, str]], ...] = (
    (EVENTS_ABOVE_TOTAL, ("events_exp", "total_exp")),
    (EVENTS_ABOVE_TOTAL, ("events_ctrl", "total_ctrl")),
    (SD_NOT_POSITIVE, ("sd_exp", "total_exp")),
    (SD_NOT_POSITIVE, ("sd_ctrl", "total_ctrl")),
)


def rejections(
    columns: Mapping[str, Any],
) -> Iterator[tuple[Rule, tuple[str, ...], Any]]:
    """Each rule that applies to ``columns`` (field -> finite values), with its fields and
    where it rejects them, in the order a record checks them."""
    for name, values in columns.items():
        for rule in FIELD_RULES.get(name, ()):
            yield rule, (name,), rule.rejects(values)
    for rule, names in CROSS_RULES:
        if names[0] in columns and names[1] in columns:
            yield rule, names, rule.rejects(*(columns[n] for n in names))


def _text(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(f"{_name(instance)}: {attribute.name} must be a non-empty string or None")


def _study(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"study name must be a non-empty string, got {value!r}")


def _value(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """A data field: None, or a finite number its :data:`FIELD_RULES` accept."""
    if value is None:
        return
    name = attribute.name
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{_name(instance)}: {name} must be a number, got {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond the float range, perhaps too long to print
        raise InputError(f"{_name(instance)}: {name} is a number too large for a float") from None
    if not finite:
        raise InputError(f"{_name(instance)}: {NOT_FINITE.text([name], [repr(value)])}")
    for rule in FIELD_RULES.get(name, ()):
        if rule.rejects(value):
            raise InputError(f"{_name(instance)}: {rule.text([name], [repr(value)])}")


class _Record:
    """The cross-field checks of the four records, after each field's own."""

    __slots__ = ()

    def __attrs_post_init__(self) -> None:
        for rule, names in CROSS_RULES:
            values = [getattr(self, n, None) for n in names]
            if None not in values and rule.rejects(*values):
                raise InputError(f"{_name(self)}: {rule.text(names, [repr(v) for v in values])}")


Number: TypeAlias = "float | None"
Count: TypeAlias = "int | float | None"


@attrs.frozen
class Dichotomous(_Record):
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
    events_exp: Count = attrs.field(validator=_value)
    total_exp: Count = attrs.field(validator=_value)
    events_ctrl: Count = attrs.field(validator=_value)
    total_ctrl: Count = attrs.field(validator=_value)
    subgroup: str | None = attrs.field(default=None, validator=_text)
    footnote: str | None = attrs.field(default=None, validator=_text)


@attrs.frozen
class Continuous(_Record):
    """Mean, standard deviation and participants in each arm.

    Examples
    --------
    >>> Continuous("Hart", 12.5, 1.47, 20, 12.3, 1.66, 20).mean_exp
    12.5
    """

    study: str = attrs.field(validator=_study)
    mean_exp: Number = attrs.field(validator=_value)
    sd_exp: Number = attrs.field(validator=_value)
    total_exp: Count = attrs.field(validator=_value)
    mean_ctrl: Number = attrs.field(validator=_value)
    sd_ctrl: Number = attrs.field(validator=_value)
    total_ctrl: Count = attrs.field(validator=_value)
    subgroup: str | None = attrs.field(default=None, validator=_text)
    footnote: str | None = attrs.field(default=None, validator=_text)


@attrs.frozen
class OMinusE(_Record):
    """Observed minus expected events (O-E) and its variance V."""

    study: str = attrs.field(validator=_study)
    o_minus_e: Number = attrs.field(validator=_value)
    variance: Number = attrs.field(validator=_value)
    subgroup: str | None = attrs.field(default=None, validator=_text)
    footnote: str | None = attrs.field(default=None, validator=_text)


@attrs.frozen
class Generic(_Record):
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
    estimate: Number = attrs.field(validator=_value)
    se: Number = attrs.field(validator=_value)
    subgroup: str | None = attrs.field(default=None, validator=_text)
    footnote: str | None = attrs.field(default=None, validator=_text)

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


#: the record class of each data type, and the data type of each record class
RECORD: dict[DataType, type[Study]] = {
    DataType.DICHOTOMOUS: Dichotomous,
    DataType.CONTINUOUS: Continuous,
    DataType.O_MINUS_E: OMinusE,
    DataType.GENERIC: Generic,
}
DATA_TYPE: dict[type, DataType] = {kind: data_type for data_type, kind in RECORD.items()}
_NOT_DATA = frozenset({"study", "subgroup", "footnote"})
#: the fields of each data type's numbers, in the order its record takes them
FIELDS: dict[DataType, tuple[str, ...]] = {
    data_type: tuple(f.name for f in attrs.fields(kind) if f.name not in _NOT_DATA)
    for data_type, kind in RECORD.items()
}


def accepted(columns: Mapping[str, FloatArray]) -> BoolArray:
    """The rows of data ``columns`` (field -> values) that the records' validators accept.

    The same rules (:func:`rejections`), as array operations, for readers that build
    many records at once: a row with a missing (NaN) or rejected value is False, and
    building its record with validation gives the reason. Name fields are not covered.
    """
    ok = np.ones(len(next(iter(columns.values()))), dtype=bool)
    for values in columns.values():
        ok &= np.isfinite(values)
    for _, _, rejected in rejections(columns):
        ok &= ~rejected
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
