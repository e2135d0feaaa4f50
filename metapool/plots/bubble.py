"""Bubble plot of a meta-regression: the effects against one moderator.

As metafor's ``regplot``: every study is a circle whose area is proportional
to its weight in the model, 1/(vᵢ + τ²); the line is the fitted effect with
the other moderators at their mean, and the band its confidence interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from scipy import special

from metapool._typing import FloatArray
from metapool.errors import InputError
from metapool.plots._style import figure, require_matplotlib

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metapool.regression import MetaRegression

__all__ = ["BubbleLine", "bubble", "bubble_line"]


@attrs.frozen
class BubbleLine:
    """The fitted line of a bubble plot and its pointwise confidence band."""

    x: FloatArray
    fit: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray


def _select(res: MetaRegression, moderator: str | None, group: Any) -> tuple[int, int]:
    names = res.names[1:] if res.intercept else res.names
    if moderator is None:
        if len(names) != 1:
            raise InputError(f"name the moderator to plot, one of {list(names)}")
        moderator = names[0]
    if moderator not in names:
        raise InputError(f"moderator {moderator!r} is not in the model, which has {list(names)}")
    if group is None:
        if res.groups.size != 1:
            raise InputError("this meta-regression has several groups: pick one with group=")
        g = 0
    else:
        hits = np.flatnonzero(res.groups == group)
        if hits.size != 1:
            raise InputError(f"group {group!r} is not one of the meta-regression's groups")
        g = int(hits[0])
    if not res.estimable[g]:
        raise InputError(f"group {res.groups[g]!r} is not estimable: {res.reason[g]}")
    return names.index(moderator), g


def bubble_line(
    res: MetaRegression, moderator: str | None = None, *, group: Any = None, points: int = 101
) -> BubbleLine:
    """The fitted effect over the moderator's range, the others at their mean.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.metareg([0.1, 0.3, 0.35, 0.6, 0.7], [0.01, 0.02, 0.015, 0.02, 0.03],
    ...                        {"dose": [1, 2, 3, 4, 5]}, tau2="DL")
    >>> line = bubble_line(res, "dose", points=3)
    >>> line.x.tolist()
    [1.0, 3.0, 5.0]
    >>> bool(abs(line.fit[1] - (res.coef[0, 0] + 3 * res.coef[0, 1])) < 1e-12)
    True
    """
    j, g = _select(res, moderator, group)
    x = res.x[res.study_group == g]
    grid = np.linspace(x[:, j].min(), x[:, j].max(), points)
    at = x.mean(axis=0)
    design = np.tile(np.concatenate(([1.0], at)) if res.intercept else at, (points, 1))
    design[:, j + res.intercept] = grid
    fit = design @ res.coef[g]
    se = np.sqrt(np.einsum("ni,ij,nj->n", design, res.vcov[g], design))
    if res.hksj:
        crit = special.stdtrit(res.qe_df[g], 0.5 + res.ci_level / 2)
    else:
        crit = special.ndtri(0.5 + res.ci_level / 2)
    return BubbleLine(grid, fit, fit - crit * se, fit + crit * se)


def bubble(
    res: MetaRegression,
    moderator: str | None = None,
    *,
    group: Any = None,
    ylabel: str = "Effect (analysis scale)",
) -> Figure:
    """Draw a bubble plot of one group's meta-regression on ``moderator``.

    Parameters
    ----------
    res : MetaRegression
    moderator : str, optional
        A name from ``res.names``; optional when the model has one moderator.
    group : optional
        The group's label, when ``res`` holds several meta-regressions.
    ylabel : str

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Thompson SG, Higgins JPT (2002). How should meta-regression analyses be
    undertaken and interpreted? Stat Med 21:1559-73.
    """
    require_matplotlib()
    j, g = _select(res, moderator, group)
    line = bubble_line(res, moderator, group=group)
    rows = res.study_group == g
    x, y = res.x[rows, j], res.yi[rows]
    w = 1.0 / (res.vi[rows] + res.tau2[g])
    fig = figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    level = f"{100 * res.ci_level:g}% CI"
    ax.fill_between(line.x, line.ci_lower, line.ci_upper, color="0.85", lw=0, label=level)
    ax.plot(line.x, line.fit, color="black", lw=1.2, label="Fitted")
    # circle areas proportional to the weights; the largest about 400 pt²
    ax.scatter(x, y, s=400 * w / w.max(), facecolor="0.6", edgecolor="black", lw=0.6, zorder=3)
    ax.set_xlabel(res.names[j + res.intercept])
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, loc="best")
    title = "Bubble plot"
    if res.groups.size > 1:
        title += f", group {res.groups[g]!r}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
