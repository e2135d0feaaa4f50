"""Result records of :func:`metapool.analyse`: what RevMan shows under a forest plot.

Numbers that do not exist for an analysis (no estimable study, heterogeneity
with k = 1) are NaN, never dropped. ``estimate`` and confidence limits are on
the natural scale (ratios exponentiated); ``se`` and ``z`` on the analysis
scale (natural log for ratios).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Sequence as Ordered
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from metapool._typing import Seed, Side, TrimfillEstimator
from metapool.effects import REASONS, EffectSizes
from metapool.pooling.engine import PoolResult, z_critical
from metapool.records import Study
from metapool.vocabulary import Settings

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from typing_extensions import Unpack

    from metapool._html import PageOptions
    from metapool.diagnostics.bias import RankTest, RegressionTest
    from metapool.diagnostics.gosh import Gosh
    from metapool.diagnostics.sensitivity import Influence, Reanalysis
    from metapool.diagnostics.trimfill import TrimFill
    from metapool.plots.forest import ForestOptions
    from metapool.regression import MetaregOptions, MetaRegression
    from metapool.sof import AbsoluteEffects, SmdInterpretation

__all__ = [
    "ArmTotals",
    "Heterogeneity",
    "Interval",
    "MetaAnalysis",
    "StudyResult",
    "Subgroup",
    "SubgroupDifferences",
    "Total",
]

#: what a Subgroup's old attribute ``totals`` is now called (deprecated alias, one release)
_TOTALS_RENAMED = (
    "Subgroup.totals (the arm totals) is renamed arm_totals; totals is a deprecated "
    "alias that will be removed in the next release"
)


@attrs.frozen
class Total:
    """A pooled estimate with its confidence interval and test for overall effect."""

    estimate: float
    ci_lower: float
    ci_upper: float
    se: float
    z: float
    p_value: float

    @property
    def estimable(self) -> bool:
        return math.isfinite(self.estimate)


@attrs.frozen
class Interval:
    """A lower and an upper limit (natural scale for prediction intervals of ratios)."""

    lower: float
    upper: float


@attrs.frozen
class Heterogeneity:
    """Cochran's Q (RevMan's Chi²), its df and P, I² in percent, and τ².

    ``p_value`` and ``i2`` are NaN when heterogeneity does not apply (k = 1).
    """

    q: float
    df: float
    p_value: float
    i2: float
    tau2: float
    h2: float = math.nan
    tau2_ci: Interval | None = None
    i2_ci: Interval | None = None
    converged: bool = True


@attrs.frozen
class StudyResult:
    """One study row: its effect, CI, SE and percentage weight.

    ``weight`` is the study's share of the analysis it is listed in (of the
    overall analysis in :attr:`MetaAnalysis.studies`, of its subgroup in a
    :class:`Subgroup`). A study that is not estimable has ``estimable=False``,
    the ``reason``, and NaN numbers.
    """

    study: str
    subgroup: str | None
    estimate: float
    ci_lower: float
    ci_upper: float
    se: float
    weight: float
    estimable: bool
    reason: str
    data: Study = attrs.field(repr=False)


@attrs.frozen
class ArmTotals:
    """Participants (and events, for dichotomous data) summed over the studies."""

    total_exp: float
    total_ctrl: float
    events_exp: float | None = None
    events_ctrl: float | None = None


@attrs.frozen
class SubgroupDifferences:
    """Test for subgroup differences: Q between estimable subgroups, df = J - 1.

    ``pooled`` is the fixed-effect inverse-variance pooling of the estimable
    subgroup estimates behind the test: what RevMan stores as an outcome's
    estimate when it shows subtotals only.
    """

    q: float
    df: float
    p_value: float
    i2: float
    pooled: Total | None = None


@attrs.frozen(kw_only=True)
class Subgroup:
    """One pooled analysis: a subgroup, or (as :class:`MetaAnalysis`) the whole."""

    name: str | None
    total: Total
    heterogeneity: Heterogeneity
    studies: tuple[StudyResult, ...]
    arm_totals: ArmTotals | None
    k: int
    prediction: Interval | None = None

    @property
    def estimable(self) -> bool:
        """Whether any study is estimable (else RevMan shows a "Not estimable" total)."""
        return self.k > 0

    @property
    def totals(self) -> ArmTotals | None:
        """Deprecated alias of :attr:`arm_totals` (removed in the next release)."""
        warnings.warn(_TOTALS_RENAMED, DeprecationWarning, stacklevel=2)
        return self.arm_totals


@attrs.frozen(kw_only=True)
class MetaAnalysis(Subgroup):
    """The result of :func:`metapool.analyse`.

    Attributes
    ----------
    settings : Settings
        The resolved data type, measure, method, model and options.
    total, heterogeneity, studies, arm_totals, k, prediction
        The overall analysis of all studies (subgroups ignored); ``arm_totals``
        are the participants (and events) summed over the arms, RevMan's
        "Total (95% CI)" counts (``totals`` is its deprecated former name).
    subgroups : dict
        Subgroup name -> :class:`Subgroup` (empty without subgroups).
    subgroup_differences : SubgroupDifferences or None
        The test for subgroup differences (None without subgroups).
    effects : EffectSizes
        The per-study effect sizes the analysis was fitted on (analysis scale,
        in the order of :attr:`studies`), so that diagnostics and plots refit
        from the result alone, as metafor's fitted objects keep ``yi`` and ``vi``.
        Not compared and not printed.
    """

    settings: Settings
    subgroups: Mapping[str, Subgroup] = attrs.field(factory=dict, eq=False, hash=False)
    subgroup_differences: SubgroupDifferences | None = None
    effects: EffectSizes = attrs.field(default=None, eq=False, hash=False, repr=False)

    def __str__(self) -> str:
        from metapool.report import format_analysis

        return format_analysis(self)

    # -- beyond RevMan: the metafor-style pipeline --------------------------------
    def leave_one_out(self) -> Reanalysis:
        """Re-run the analysis without each estimable study in turn (one batch)."""
        from metapool.diagnostics.sensitivity import leave_one_out

        return leave_one_out(self)

    def cumulative(
        self, order: Iterable[str] | Callable[[StudyResult], Any] | None = None
    ) -> Reanalysis:
        """Cumulative meta-analysis adding studies in ``order`` (study names or a key)."""
        from metapool.diagnostics.sensitivity import cumulative

        return cumulative(self, order)

    def influence(self) -> Influence:
        """Influence diagnostics as metafor's ``influence()``."""
        from metapool.diagnostics.sensitivity import influence

        return influence(self)

    def egger(self, *, k_min: int = 10) -> RegressionTest:
        """Egger's regression test for funnel-plot asymmetry.

        Needs ``k_min`` estimable studies (default 10, the Cochrane Handbook's advice).
        """
        from metapool.diagnostics.bias import egger

        return egger(self, k_min=k_min)

    def begg(self, *, k_min: int = 10) -> RankTest:
        """Begg and Mazumdar's rank correlation test; ``k_min`` as for :meth:`egger`."""
        from metapool.diagnostics.bias import begg

        return begg(self, k_min=k_min)

    def peters(self, *, k_min: int = 10) -> RegressionTest:
        """Peters' regression test (dichotomous data); ``k_min`` as for :meth:`egger`."""
        from metapool.diagnostics.bias import peters

        return peters(self, k_min=k_min)

    def harbord(self, *, k_min: int = 10) -> RegressionTest:
        """Harbord's score test (dichotomous data); ``k_min`` as for :meth:`egger`."""
        from metapool.diagnostics.bias import harbord

        return harbord(self, k_min=k_min)

    def trimfill(self, estimator: TrimfillEstimator = "L0", side: Side | None = None) -> TrimFill:
        """Duval and Tweedie's trim-and-fill."""
        from metapool.diagnostics.trimfill import trimfill

        return trimfill(self, estimator=estimator, side=side)

    def metareg(
        self, moderators: Mapping[str, Any], **options: Unpack[MetaregOptions]
    ) -> MetaRegression:
        """Meta-regression of the studies' effects on ``moderators`` (metafor's ``rma(mods=)``).

        ``moderators`` maps names to one value per study, in the order of the
        studies given to :func:`metapool.analyse`; strings are categorical
        (dummy-coded against the first level in sorted order, named
        ``"name=level"``). Options are :func:`metapool.metareg`'s.
        """
        from metapool.regression import metareg_analysis

        return metareg_analysis(self, moderators, **options)

    def gosh(self, max_subsets: int = 10**6, seed: Seed = None) -> Gosh:
        """GOSH: the analysis refitted on every subset of its studies, as one batch."""
        from metapool.diagnostics.gosh import gosh

        return gosh(self, max_subsets=max_subsets, seed=seed)

    def forest(self, **options: Unpack[ForestOptions]) -> Figure:
        """RevMan-style forest plot: :func:`metapool.plots.forest` with these keyword options;
        needs ``metapool[plot]``."""
        from metapool.plots.forest import forest

        return forest(self, **options)

    def funnel(self, *, trimfill: TrimFill | None = None, ax: Axes | None = None) -> Figure:
        """Funnel plot (:func:`metapool.plots.funnel`); needs ``metapool[plot]``."""
        from metapool.plots.funnel import funnel

        return funnel(self, trimfill=trimfill, ax=ax)

    def baujat(self) -> Figure:
        """Baujat plot: contribution to Q against influence on the estimate."""
        from metapool.plots.baujat import baujat

        return baujat(self)

    def labbe(self) -> Figure:
        """L'Abbé plot of the arms' event risks (dichotomous data)."""
        from metapool.plots.labbe import labbe

        return labbe(self)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per study plus subgroup and total rows; needs pandas."""
        from metapool.io.dataframe import result_to_dataframe

        return result_to_dataframe(self)

    # -- results out: summary of findings, tables, notebooks ----------------------
    def absolute_effects(
        self, control_risk: Any = None, *, desirable: bool = False
    ) -> AbsoluteEffects | SmdInterpretation:
        """Summary-of-findings absolute effects (risks per 1,000, NNT); see
        :func:`metapool.sof.absolute_effects`."""
        from metapool.sof import absolute_effects

        return absolute_effects(self, control_risk, desirable=desirable)

    def to_table(self, fmt: str = "text") -> str:
        """RevMan's table as ``"text"`` (``str(res)``), ``"csv"``, ``"markdown"`` or ``"html"``."""
        from metapool.io.tables import render
        from metapool.report import analysis_table

        return render(*analysis_table(self), fmt)

    def write_table(self, path: str | os.PathLike[str], fmt: str | None = None) -> None:
        """Write :meth:`to_table` to ``path`` (format from the suffix: .txt, .csv, .md, .html)."""
        from metapool.io.tables import write_table
        from metapool.report import analysis_table

        write_table(path, *analysis_table(self), fmt)

    def report(self, path: str | os.PathLike[str], **options: Unpack[PageOptions]) -> Path:
        """Write this analysis as an HTML page; see :func:`metapool.report_html.write_report`
        for the options (``title``, ``figures``, ``risk_of_bias``, ``control_risk``)."""
        from metapool._html import analysis_items, page, write

        return write(page("metapool analyses", analysis_items(self), [], **options), path)

    def _repr_html_(self) -> str:
        """The RevMan table in Jupyter."""
        return self.to_table("html")


# -- constructors from the engine's arrays ------------------------------------------------


@attrs.frozen(kw_only=True)
class PooledGroup:
    """What the engine found for one group: the pooled part of a :class:`Subgroup`."""

    total: Total
    heterogeneity: Heterogeneity
    k: int
    prediction: Interval | None


def pooled_groups(p: PoolResult, ratio: bool) -> list[PooledGroup]:
    """Total, heterogeneity, k and prediction interval of every group of ``p``."""
    back = np.exp if ratio else np.asarray
    est, lo, hi = back(p.estimate).tolist(), back(p.ci_lower).tolist(), back(p.ci_upper).tolist()
    se, z, pv = p.se.tolist(), p.z.tolist(), p.p_value.tolist()
    q, df, p_q, i2 = p.q.tolist(), p.df.tolist(), p.p_q.tolist(), p.i2.tolist()
    tau2, h2, k, conv = p.tau2.tolist(), p.h2.tolist(), p.k.tolist(), p.converged.tolist()

    def intervals(lower: Any, upper: Any, scale: Any) -> list[Interval | None]:
        if lower is None:
            return [None] * len(k)
        return [
            Interval(a, b)
            for a, b in zip(scale(lower).tolist(), scale(upper).tolist(), strict=True)
        ]

    prediction = intervals(p.pi_lower, p.pi_upper, back)
    tau2_ci = intervals(p.tau2_ci_lower, p.tau2_ci_upper, np.asarray)
    i2_ci = intervals(p.i2_ci_lower, p.i2_ci_upper, np.asarray)
    return [
        PooledGroup(
            total=Total(est[g], lo[g], hi[g], se[g], z[g], pv[g]),
            heterogeneity=Heterogeneity(
                q[g], df[g], p_q[g], i2[g], tau2[g], h2[g], tau2_ci[g], i2_ci[g], conv[g]
            ),
            k=int(k[g]),
            prediction=prediction[g],
        )
        for g in range(len(k))
    ]


def study_results(
    records: Ordered[Study], settings: Settings, es: EffectSizes, weight: Ordered[float]
) -> list[StudyResult]:
    """Each study's row: its effect and CI at ``settings.study_ci_level``, and ``weight``."""
    se = es.se
    half = z_critical(settings.study_ci_level) * se
    lo, hi, est = es.yi - half, es.yi + half, es.yi
    if settings.ratio:
        lo, hi, est = np.exp(lo), np.exp(hi), np.exp(est)
    columns = zip(
        records,
        est.tolist(),
        lo.tolist(),
        hi.tolist(),
        se.tolist(),
        weight,
        es.reason.tolist(),
        strict=True,
    )
    return [
        StudyResult(r.study, r.subgroup, e, a, b, s, w, reason == 0, REASONS[reason], r)
        for r, e, a, b, s, w, reason in columns
    ]
