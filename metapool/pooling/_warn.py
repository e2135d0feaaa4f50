"""The engine's warnings: one per rule and call, however the groups were split.

A rule that applies to some groups (an estimator that did not converge, the
HKSJ fallback) warns once with the count of groups. When a call pools its
groups in pieces (blocks, threads: :mod:`metapool.pooling._workers`), each
piece counts instead of warning, and the call warns once with the totals.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from types import FrameType

from metapool._typing import BoolArray
from metapool.errors import MetapoolWarning

__all__ = ["Tally", "counted", "warn", "warn_groups", "warn_totals"]

#: per message: the number of groups the rule applied to
Tally = dict[str, int]

_TALLY: ContextVar[Tally | None] = ContextVar("metapool_tally", default=None)


def warn(message: str) -> None:
    """A :class:`~metapool.MetapoolWarning` pointing at the first caller outside metapool."""
    frame: FrameType | None = sys._getframe(1)
    level = 2  # stacklevel 2 is the caller of this function
    while frame is not None and (
        (name := frame.f_globals.get("__name__", "")) == "metapool" or name.startswith("metapool.")
    ):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, MetapoolWarning, stacklevel=level)


def _count(hit: int, size: int) -> str:
    """ "the analysis", or "3 of 10 analyses"."""
    return "the analysis" if size == 1 else f"{hit} of {size} analyses"


def _give(message: str, hit: int, size: int) -> None:
    tally = _TALLY.get()
    if tally is None:
        warn(message.format(count=_count(hit, size)))
    else:  # the call that counts knows how many groups it pooled
        tally[message] = tally.get(message, 0) + hit


def warn_groups(message: str, mask: BoolArray) -> None:
    """Warn that a rule applied to the groups in ``mask`` (``message`` has a ``{count}``
    slot), or count them where a caller pools in pieces."""
    _give(message, int(mask.sum()), mask.size)


@contextlib.contextmanager
def counted() -> Iterator[Tally]:
    """Count, rather than give, the warnings of the pooling inside the block."""
    tally: Tally = {}
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def warn_totals(tallies: Iterable[Tally], size: int) -> None:
    """Give each counted warning once, over all ``size`` groups of the call."""
    hits: Tally = {}
    for tally in tallies:
        for message, hit in tally.items():
            hits[message] = hits.get(message, 0) + hit
    for message, hit in hits.items():
        _give(message, hit, size)
