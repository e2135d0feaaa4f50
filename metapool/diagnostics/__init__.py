"""Diagnostics beyond RevMan 5.4: small-study tests, trim-and-fill, sensitivity, GOSH.

Usually reached through the methods of :class:`~metapool.results.MetaAnalysis`
(``res.egger()``, ``res.leave_one_out()``, ...).
"""

from __future__ import annotations

from metapool.diagnostics.bias import (
    RankTest,
    RegressionTest,
    TrimFill,
    begg,
    egger,
    harbord,
    peters,
    trimfill,
)
from metapool.diagnostics.gosh import Gosh, gosh
from metapool.diagnostics.sensitivity import (
    Influence,
    Sequence,
    cumulative,
    influence,
    leave_one_out,
)

__all__ = [
    "Gosh",
    "Influence",
    "RankTest",
    "RegressionTest",
    "Sequence",
    "TrimFill",
    "begg",
    "cumulative",
    "egger",
    "gosh",
    "harbord",
    "influence",
    "leave_one_out",
    "peters",
    "trimfill",
]
