"""Diagnostics beyond RevMan 5.4: small-study tests, trim-and-fill, sensitivity, GOSH.

Usually reached through the methods of :class:`~metapool.results.MetaAnalysis`
(``res.egger()``, ``res.leave_one_out()``, ...).
"""

from __future__ import annotations

from typing import Any

from metapool.diagnostics.bias import RankTest, RegressionTest, begg, egger, harbord, peters
from metapool.diagnostics.gosh import Gosh, gosh
from metapool.diagnostics.sensitivity import (
    BaujatPoints,
    Influence,
    Reanalysis,
    baujat_points,
    cumulative,
    influence,
    leave_one_out,
    renamed,
)
from metapool.diagnostics.trimfill import TrimFill, trimfill

__all__ = [
    "BaujatPoints",
    "Gosh",
    "Influence",
    "RankTest",
    "Reanalysis",
    "RegressionTest",
    "TrimFill",
    "baujat_points",
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


def __getattr__(name: str) -> Any:
    """The deprecated former names (``Sequence``: :class:`Reanalysis`), for one release."""
    return renamed(name, __name__)
