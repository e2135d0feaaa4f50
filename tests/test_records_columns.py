"""records.accepted: the validators' rules as array operations, which the readers use to
build many records at once (records.unchecked) and validate one by one only to name a problem."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metapool import Continuous, Dichotomous, Generic, InputError, OMinusE
from metapool.records import FIELDS, accepted, unchecked
from metapool.records import RECORD as RECORDS
from metapool.vocabulary import DataType

# small values and the edges of every rule: negative, zero, one, fractions, non-finite
VALUES = st.one_of(
    st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 10.0, math.inf, math.nan]),
    st.integers(-2, 12).map(float),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(DataType)), st.data())
def test_accepted_rows_are_the_rows_the_validators_accept(
    kind: DataType, data: st.DataObject
) -> None:
    fields = FIELDS[kind]
    rows = [data.draw(st.tuples(*[VALUES] * len(fields))) for _ in range(5)]
    columns = {f: np.array([r[i] for r in rows]) for i, f in enumerate(fields)}
    ok = accepted(columns)
    for row, verdict in zip(rows, ok, strict=True):
        try:
            RECORDS[kind](study="S", subgroup=None, **dict(zip(fields, row, strict=True)))
        except InputError:
            assert not verdict, row
        else:  # empty (NaN) cells are valid records but left to the validating path
            assert verdict == all(math.isfinite(v) for v in row), row


def test_unchecked_records_equal_validated_ones() -> None:
    made = unchecked(
        Dichotomous,
        ("study", "subgroup", "events_exp", "total_exp", "events_ctrl", "total_ctrl"),
        [("A", None, 1, 10, 2, 10), ("B", "x", 0, 5, 5, 5)],
    )
    assert made == [Dichotomous("A", 1, 10, 2, 10), Dichotomous("B", 0, 5, 5, 5, subgroup="x")]
    assert hash(made[0]) == hash(Dichotomous("A", 1, 10, 2, 10))
    assert repr(made[1]) == repr(Dichotomous("B", 0, 5, 5, 5, subgroup="x"))
    assert unchecked(Generic, ("study", "subgroup", "estimate", "se"), [("G", None, 0.1, 0.2)]) == [
        Generic("G", 0.1, 0.2)
    ]
    assert [type(v) for v in (Continuous("C", 1.0, 1.0, 3, 1.0, 1.0, 3).total_exp,)] == [int]
    assert (
        OMinusE("O", 1.0, 2.0)
        == unchecked(
            OMinusE, ("study", "subgroup", "o_minus_e", "variance"), [("O", None, 1.0, 2.0)]
        )[0]
    )
