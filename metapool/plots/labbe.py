"""L'Abbé plot: the arms' event risks of a dichotomous analysis, one circle per study."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metapool.errors import InputError
from metapool.plots._style import COLOURS, figure, require_matplotlib
from metapool.table import label_lines
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metapool.results import MetaAnalysis

__all__ = ["labbe"]


def labbe(res: MetaAnalysis) -> Figure:
    """Draw a L'Abbé plot: experimental against control event risk (dichotomous data).

    One circle per estimable study, its area proportional to the study's
    weight; the solid line of equal risks and the dashed line of the pooled
    effect (odds ratio, risk ratio or risk difference) across control risks.

    Parameters
    ----------
    res : MetaAnalysis
        A dichotomous analysis (events swapped if the analysis swapped them).

    Returns
    -------
    matplotlib.figure.Figure
        The studies are the scatter ``gid="studies"``.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="RR")
    >>> len(labbe(res).axes[0].collections[0].get_offsets())
    7
    """
    if res.settings.data_type is not DataType.DICHOTOMOUS:
        raise InputError(
            f"a L'Abbé plot needs dichotomous data; this analysis holds "
            f"{res.settings.data_type.value} data"
        )
    require_matplotlib()

    es = res.effects
    assert es.cells is not None
    ok = es.estimable
    cells = es.cells.take(ok)
    risk_exp, risk_ctrl = cells.a / cells.n1, cells.c / cells.n2
    weight = np.array([s.weight for s in res.studies])[ok]

    fig = figure(figsize=(5.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    top = min(1.0, 1.1 * float(np.max(np.concatenate([risk_exp, risk_ctrl]), initial=0.0))) or 1.0
    colour = COLOURS[DataType.DICHOTOMOUS]
    ax.scatter(
        risk_ctrl,
        risk_exp,
        s=np.maximum(8.0 * weight, 6.0),
        facecolors=colour + "40",
        edgecolors=colour,
        linewidths=0.8,
        zorder=3,
        gid="studies",
    )
    ax.plot([0.0, top], [0.0, top], color="black", lw=0.8, gid="equality")
    if res.total.estimable:
        control = np.linspace(0.0, top, 201)
        theta = res.total.estimate
        if res.settings.measure == "RR":
            pooled = theta * control
        elif res.settings.measure == "RD":
            pooled = control + theta
        else:  # odds ratios, Peto's included
            pooled = theta * control / (1 - control + theta * control)
        inside = (pooled >= 0) & (pooled <= 1)
        ax.plot(
            control[inside],
            pooled[inside],
            color="black",
            linestyle="--",
            lw=0.8,
            gid="pooled",
            label=f"Pooled {label_lines(res.settings.label)[0]}: {theta:.2f}",
        )
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.set_xlim(0.0, top)
    ax.set_ylim(0.0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("Control group event risk")
    ax.set_ylabel("Experimental group event risk")
    return fig
