"""Plots of a meta-analysis (matplotlib, the optional ``metapool[plot]`` extra).

Every function takes the result of :func:`metapool.analyse` (the bubble plot
that of :func:`metapool.metareg`) and returns a matplotlib Figure; matplotlib
is imported only when a plot is drawn.
"""

from __future__ import annotations

from metapool.plots.baujat import BaujatPoints, baujat, baujat_points
from metapool.plots.bubble import BubbleLine, bubble, bubble_line
from metapool.plots.forest import forest
from metapool.plots.funnel import funnel
from metapool.plots.gosh import gosh_plot
from metapool.plots.labbe import labbe
from metapool.plots.risk_of_bias import risk_of_bias_graph, risk_of_bias_summary

__all__ = [
    "BaujatPoints",
    "BubbleLine",
    "baujat",
    "baujat_points",
    "bubble",
    "bubble_line",
    "forest",
    "funnel",
    "gosh_plot",
    "labbe",
    "risk_of_bias_graph",
    "risk_of_bias_summary",
]
