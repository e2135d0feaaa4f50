"""GOSH: the analysis refitted on every subset of its studies (Olkin et al. 2012).

A "graphical display of study heterogeneity" plots, for each of the 2^k - 1
non-empty subsets of the k estimable studies, the pooled estimate against I².
Clusters in the plot point at studies that drive heterogeneity. All subsets
are one batch through the pooling engine: subset s is group s, and the rows
are the members of each subset (``numpy.nonzero`` of the membership matrix).

Every subset is fitted with the analysis' own method and model, as metafor's
``gosh()`` refits ``rma.uni`` with the same τ² estimator, and ``rma.mh`` and
``rma.peto`` with Mantel-Haenszel and Peto: Mantel-Haenszel pooling (with
RevMan's MH-centred Q, and under random effects DerSimonian-Laird from it),
Peto or inverse variance, with the analysis' τ² estimator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from metapool._typing import BoolArray, FloatArray, Seed
from metapool.diagnostics._refit import arrays, estimable_studies
from metapool.errors import InputError
from metapool.pooling.segments import Segments
from metapool.vocabulary import Settings

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metapool.results import MetaAnalysis

__all__ = ["Gosh", "gosh", "subsets"]

#: largest k whose subsets are enumerated by integer codes (2^k - 1 of them)
_MAX_CODED = 62


@attrs.frozen(repr=False)
class Gosh:
    """Results of a GOSH analysis: one entry per subset of the estimable studies.

    Attributes
    ----------
    studies : tuple of str
        The estimable studies, the columns of ``membership``.
    membership : ndarray of bool, shape (subsets, studies)
        Which studies each subset holds. Subsets come ordered by size, as metafor's.
    estimate, q, i2, h2, tau2, k : ndarray
        Each subset's pooled estimate (analysis scale: log for ratios), Q, I²
        (the analysis' choice, from Q or from τ²), H², τ² and number of studies.
        I² and H² are NaN for a subset of one study.
    exact : bool
        True when every subset was fitted, False for a random sample of distinct subsets.
    settings : Settings
        The analysis' settings, with which every subset was fitted.
    """

    studies: tuple[str, ...]
    membership: BoolArray
    estimate: FloatArray
    q: FloatArray
    i2: FloatArray
    h2: FloatArray
    tau2: FloatArray
    k: FloatArray
    exact: bool
    settings: Settings

    def __len__(self) -> int:
        return int(self.k.size)

    def __repr__(self) -> str:
        kind = "all" if self.exact else "a random sample of"
        return f"Gosh({len(self)} fits: {kind} subsets of {len(self.studies)} studies)"

    def plot(self, *, alpha: float | None = None, bins: int = 40, size: float = 4.0) -> Figure:
        """Draw the GOSH plot (:func:`metapool.plots.gosh.gosh_plot`)."""
        from metapool.plots.gosh import gosh_plot

        return gosh_plot(self, alpha=alpha, bins=bins, size=size)


def subsets(k: int, max_subsets: int = 10**6, seed: Any = None) -> tuple[BoolArray, bool]:
    """Every non-empty subset of ``k`` studies, or ``max_subsets`` distinct ones at random.

    Returns the membership matrix, ordered by subset size (stable), and whether
    it is complete. A random subset is uniform over the 2^k - 1 non-empty ones
    (each study in or out with probability 1/2), drawn without repeats.

    Examples
    --------
    >>> m, exact = subsets(3)
    >>> m.astype(int).tolist(), exact
    ([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], True)
    >>> m, exact = subsets(30, max_subsets=1000, seed=1)
    >>> m.shape, exact, len(np.unique(m, axis=0))
    ((1000, 30), False, 1000)
    """
    if isinstance(max_subsets, bool) or not isinstance(max_subsets, (int, np.integer)):
        raise InputError(f"max_subsets must be an integer, got {max_subsets!r}")
    if max_subsets < 1:
        raise InputError(f"max_subsets must be at least 1, got {max_subsets}")
    bit = np.arange(k, dtype=np.int64)
    exact = k <= _MAX_CODED and 2**k - 1 <= max_subsets
    rng = np.random.default_rng(seed)
    if exact:
        codes = np.arange(1, 2**k, dtype=np.int64)  # study j is bit j, as metafor's expand.grid
        membership = ((codes[:, None] >> bit) & 1).astype(bool)
    elif k <= _MAX_CODED:
        codes = rng.choice(2**k - 1, size=max_subsets, replace=False) + 1
        membership = ((codes[:, None] >> bit) & 1).astype(bool)
    else:  # more subsets than int64 codes: draw rows of bits until enough are distinct
        membership = np.zeros((0, k), dtype=bool)
        while membership.shape[0] < max_subsets:
            draw = rng.random((2 * max_subsets, k)) < 0.5
            draw = np.concatenate([membership, draw[draw.any(axis=1)]])
            _, first = np.unique(np.packbits(draw, axis=1), axis=0, return_index=True)
            membership = draw[np.sort(first)][:max_subsets]
    order = np.argsort(membership.sum(axis=1), kind="stable")
    return membership[order], exact


def gosh(res: MetaAnalysis, max_subsets: int = 10**6, seed: Seed = None) -> Gosh:
    """Fit the analysis on every subset of its estimable studies (GOSH), as one batch.

    Parameters
    ----------
    res : MetaAnalysis
        The analysis (its overall result; subgroups are ignored).
    max_subsets : int
        Fit every subset when there are at most this many (2^k - 1), else this
        many distinct subsets drawn at random (metafor's default limit, 10^6).
    seed : int or numpy.random.Generator, optional
        For the random sample.

    Returns
    -------
    Gosh
        Each subset's membership, estimate, Q, I², H², τ² and k; ``.plot()``
        draws the GOSH plot.

    References
    ----------
    Olkin I, Dahabreh IJ, Trikalinos TA. GOSH - a graphical display of study
    heterogeneity. Research Synthesis Methods 2012;3:214-223.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> g = res.gosh()
    >>> len(g), int(g.k.max())
    (127, 7)
    >>> bool(np.isclose(g.estimate[-1], np.log(res.total.estimate), rtol=1e-12))
    True
    """
    data = estimable_studies(res)
    if data.k == 0:
        raise InputError("GOSH needs at least one estimable study; this analysis has none")
    membership, exact = subsets(data.k, max_subsets, seed)
    owner, rows = np.nonzero(membership)  # row-major: each subset's members, in study order
    sizes = np.bincount(owner, minlength=membership.shape[0])
    fit = data.refit(rows.astype(np.intp, copy=False), Segments.of_sizes(sizes))
    return Gosh(
        studies=data.names,
        membership=membership,
        **arrays(fit, "estimate", "q", "i2", "h2", "tau2", "k"),
        exact=exact,
        settings=data.settings,
    )
