"""Plots of a meta-analysis (matplotlib, the optional ``metapool[plot]`` extra).

Every function takes the result of :func:`metapool.analyse` and returns a
matplotlib Figure; matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from metapool.plots.baujat import BaujatPoints, baujat, baujat_points, labbe
from metapool.plots.forest import forest
from metapool.plots.funnel import funnel
from metapool.plots.risk_of_bias import risk_of_bias_graph, risk_of_bias_summary

__all__ = [
    "BaujatPoints",
    "baujat",
    "baujat_points",
    "forest",
    "funnel",
    "labbe",
    "risk_of_bias_graph",
    "risk_of_bias_summary",
]
