"""A RevMan review as typed records: comparisons, outcomes, studies, stored results.

Every reader (:func:`~metapool.io.rm5.read_rm5`, :func:`~metapool.io.revman_csv.read_revman_csv`,
:func:`~metapool.io.datapackage.read_datapackage`) returns a :class:`Review`:
comparisons, their outcomes, each outcome's study records and analysis
settings, and the results RevMan stored in the file (:class:`RevManResults`).
:meth:`Review.compare` re-runs every outcome and measures the distance to
RevMan's numbers (:mod:`metapool.io.compare`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from metapool.analysis import analyse, analyse_records
from metapool.errors import InputError
from metapool.records import Study
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from typing_extensions import Unpack

    from metapool.analysis import AnalyseOptions
    from metapool.io.compare import ReviewCheck
    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.plots.forest import ForestOptions
    from metapool.report_html import ReportOptions
    from metapool.results import MetaAnalysis

__all__ = [
    "Comparison",
    "Outcome",
    "RevManResults",
    "Review",
    "StoredPooled",
    "StoredStudy",
    "StoredTest",
    "StudyInfo",
]

NAN = math.nan
# the check of a review moved to metapool.io.compare; its names are still found here
_COMPARE = frozenset({"Difference", "Largest", "OutcomeCheck", "ReviewCheck", "check_outcome"})


def __getattr__(name: str) -> Any:
    if name in _COMPARE:
        from metapool.io import compare

        return getattr(compare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _year(text: str | None) -> float:
    """A study year as a sort key (``"2001a"`` -> 2001); unknown years last."""
    digits = "".join(c for c in (text or "")[:4] if c.isdigit())
    return float(digits) if len(digits) == 4 else math.inf


@attrs.frozen
class StudyInfo:
    """A study of the review: RevMan's identifier, its name and year.

    Outcomes label their study records with ``name``; RevMan's ``STUDY_ID``
    (``.rm5`` files) stays in ``id`` (CSV exports and data packages carry no
    identifier, so there ``id`` is the name).
    """

    id: str
    name: str
    year: str | None = None


@attrs.frozen
class _Stored:
    """What RevMan stores for a study row and a pooled result alike."""

    estimable: bool | None = None
    estimate: float = NAN
    ci_lower: float = NAN
    ci_upper: float = NAN


@attrs.frozen
class StoredStudy(_Stored):
    """RevMan's numbers for one study row (NaN where the file stores none).

    ``estimate`` and the CI are on the natural scale, ``se`` on the analysis
    scale (log for ratios), ``weight`` in percent. ``estimable`` is None when
    the file does not say.
    """

    se: float = NAN
    weight: float = NAN


@attrs.frozen
class StoredPooled(_Stored):
    """RevMan's pooled result of an outcome or a subgroup (NaN where not stored).

    ``z`` is RevMan's ``|Z|``; ``q``, ``df``, ``p_q``, ``i2`` (percent) and
    ``tau2`` describe heterogeneity.
    """

    z: float = NAN
    p_value: float = NAN
    q: float = NAN
    df: float = NAN
    p_q: float = NAN
    i2: float = NAN
    tau2: float = NAN


@attrs.frozen
class StoredTest:
    """RevMan's test for subgroup differences (NaN where not stored)."""

    q: float = NAN
    df: float = NAN
    p_value: float = NAN
    i2: float = NAN


@attrs.frozen
class RevManResults:
    """The results RevMan stored for one outcome.

    Attributes
    ----------
    decimals : int or None
        Decimals the file keeps (8 in RevMan 5 CSV exports, 6 in RevMan Web
        data packages); None for full doubles (``.rm5``).
    total : StoredPooled or None
        The overall result.
    studies : tuple of StoredStudy
        One entry per study record of the outcome, in the same order.
    subgroups : dict
        Subgroup name -> :class:`StoredPooled`.
    subgroup_differences : StoredTest or None
        The test for subgroup differences.
    """

    decimals: int | None
    total: StoredPooled | None
    studies: tuple[StoredStudy, ...]
    subgroups: Mapping[str, StoredPooled] = attrs.field(factory=dict, eq=False, hash=False)
    subgroup_differences: StoredTest | None = None


@attrs.frozen
class Outcome:
    """One RevMan outcome (an analysis): its studies, settings and stored results.

    Attributes
    ----------
    comparison, number : int
        RevMan's numbering: outcome ``number`` of comparison ``comparison``.
    name : str
        The outcome's name.
    data_type : DataType or None
        None when the outcome type is not one metapool analyses.
    studies : tuple
        :class:`~metapool.Dichotomous`, :class:`~metapool.Continuous`,
        :class:`~metapool.OMinusE` or :class:`~metapool.Generic` records,
        labelled with the study name, ``subgroup`` set from RevMan's subgroup.
    settings : dict
        Keyword arguments of :func:`metapool.analyse` from the file's settings
        (``measure``, ``method``, ``model``, ``ci_level``, ``study_ci_level``,
        and ``swap_events`` or ``ratio`` where they apply).
    study_ids : tuple of str
        RevMan's study identifier of each record.
    id : str or None
        RevMan's outcome identifier (``CMP-001.01``), where the file has one.
    subgroups, totals, subtotals, subgroup_test : bool
        RevMan's display options: the outcome is divided into subgroups; the
        overall total, the subgroup totals and the test for subgroup
        differences are shown.
    group_labels, graph_labels : tuple of str
        Experimental and control arm labels; the "favours" labels under the graph.
    scale : float or None
        RevMan's forest plot scale: 100 means an axis from 0.01 to 100 for
        ratios, -100 to 100 for differences (None: chosen from the data).
    sort_by : str or None
        RevMan's study order in the forest plot: ``"USER"`` (``study_order``),
        ``"STUDY"`` (by name), ``"YEAR"``, ``"EFFECT_SIZE"`` or ``"WEIGHT"``.
    study_order : tuple of float
        RevMan's user-defined order of each record (NaN where the file has none).
    study_years : tuple of str or None
        The year of each record's study, where the file has it.
    footnotes : tuple of str
        Each record's footnote text ("" where it has none); the records carry
        it as their ``footnote`` (None there), which results print and plot.
    revman : RevManResults or None
        What RevMan computed, when the file stores it.
    error : str or None
        Why the outcome could not be read; it then has no studies to analyse.
    not_pooled : str or None
        Why the outcome is listed without an analysis, though nothing is wrong
        with it: RevMan's "other data" outcomes hold text that RevMan itself
        never pools.
    """

    comparison: int
    number: int
    name: str
    data_type: DataType | None
    studies: tuple[Study, ...] = ()
    settings: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)
    study_ids: tuple[str, ...] = ()
    id: str | None = None
    subgroups: bool = False
    totals: bool = True
    subtotals: bool = True
    subgroup_test: bool = True
    group_labels: tuple[str, str] = ("Experimental", "Control")
    graph_labels: tuple[str, str] = ("Favours experimental", "Favours control")
    scale: float | None = None
    sort_by: str | None = None
    study_order: tuple[float, ...] = ()
    study_years: tuple[str | None, ...] = ()
    footnotes: tuple[str, ...] = ()
    revman: RevManResults | None = None
    error: str | None = None
    not_pooled: str | None = None

    @property
    def key(self) -> str:
        """``"comparison.outcome"``, e.g. ``"1.2"``."""
        return f"{self.comparison}.{self.number}"

    @property
    def display(self) -> dict[str, Any]:
        """RevMan's display options as :func:`metapool.analyse` takes them:
        ``totals``, ``subgroup_test`` and the analysis ``number``."""
        totals = "all" if self.totals else "subtotals" if self.subtotals else "none"
        return {"totals": totals, "subgroup_test": self.subgroup_test, "number": self.key}

    def analyse(self, **overrides: Unpack[AnalyseOptions]) -> MetaAnalysis:
        """Run the outcome with its own settings and display options
        (:attr:`display`), or with some of them overridden.

        An outcome with no study rows gives a result that is not estimable.

        Examples
        --------
        >>> from metapool import examples
        >>> from metapool.io import read_rm5
        >>> outcome = read_rm5(examples.path("aspirin.rm5")).outcome("1.1")
        >>> outcome.settings["measure"], outcome.settings["method"]
        ('OR', 'MH')
        >>> round(outcome.analyse().total.estimate, 4)
        0.8969
        >>> round(outcome.analyse(measure="RR").total.estimate, 4)
        0.9136
        """
        if self.error is not None:
            raise InputError(self.error)
        if self.not_pooled is not None:
            raise InputError(f"outcome {self.key} is not analysed: {self.not_pooled}")
        options = {**self.display, **self.settings, **overrides}
        try:
            if not self.studies and self.data_type is not None:
                return analyse_records([], self.data_type, **options)
            return analyse(self.studies, **options)
        except InputError as exc:
            raise InputError(f"outcome {self.key} {self.name!r}: {exc}") from exc

    def forest(
        self, *, analyse: AnalyseOptions | None = None, **kwargs: Unpack[ForestOptions]
    ) -> Figure:
        """The review's own forest plot of the outcome (matplotlib Figure).

        RevMan's choices stored with the outcome are the defaults: its scale,
        study order, favours and group labels, confidence levels, display of
        totals and subgroup test. ``kwargs`` override them or pass other options
        of :func:`metapool.plots.forest`; options of :meth:`analyse` go in
        ``analyse={...}``.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import metapool
        >>> from metapool.vocabulary import DataType
        >>> outcome = Outcome(1, 1, "Deaths", DataType.DICHOTOMOUS,
        ...                   studies=tuple(metapool.examples.aspirin()),
        ...                   settings={"measure": "OR"}, scale=100.0)
        >>> fig = outcome.forest()
        >>> [float(x) for x in fig.axes[1].get_xlim()]
        [0.01, 100.0]
        """
        from metapool.plots.forest import forest

        res = self.analyse(**(analyse or {}))
        options: ForestOptions = {
            "left_label": self.graph_labels[0],
            "right_label": self.graph_labels[1],
            "group_labels": self.group_labels,
            "sort": self._sort_keys(),
        }
        if self.scale is not None and self.scale > 0:
            options["scale"] = self.scale
        options.update(kwargs)
        return forest(res, **options)

    def _sort_keys(self) -> Any:
        """The forest plot's study order as :func:`~metapool.plots.forest` takes it."""
        key = (self.sort_by or "").strip().upper()
        if key == "USER" and self.study_order:
            return [math.inf if math.isnan(x) else x for x in self.study_order]
        if key == "YEAR" and self.study_years:
            return [_year(y) for y in self.study_years]
        return {"STUDY": "study", "EFFECT_SIZE": "effect", "WEIGHT": "weight"}.get(key)


@attrs.frozen
class Comparison:
    """A RevMan comparison: its number, name and outcomes."""

    number: int
    name: str
    outcomes: tuple[Outcome, ...]


@attrs.frozen
class Review:
    """A RevMan review read from a file.

    Attributes
    ----------
    title : str
    studies : tuple of StudyInfo
        The included studies.
    comparisons : tuple of Comparison
    source : str
        The file it was read from.
    format : str
        ``"rm5"``, ``"revman_csv"`` or ``"datapackage"``.
    risk_of_bias : RiskOfBias or None
        The risk-of-bias judgements the file holds (None: it holds none).
    """

    title: str
    studies: tuple[StudyInfo, ...]
    comparisons: tuple[Comparison, ...]
    source: str = ""
    format: str = ""
    risk_of_bias: RiskOfBias | None = None

    @property
    def outcomes(self) -> Iterator[Outcome]:
        """Every outcome of every comparison, in file order."""
        for comparison in self.comparisons:
            yield from comparison.outcomes

    def outcome(self, selector: str) -> Outcome:
        """The outcome numbered ``"comparison.outcome"`` (e.g. ``"1.2"``), or named so.

        RevMan's outcome identifier (``"CMP-001.02"``) and the name (case
        insensitive) are accepted too.
        """
        wanted = selector.strip()
        for outcome in self.outcomes:
            if wanted in (outcome.key, outcome.id) or wanted.casefold() == outcome.name.casefold():
                return outcome
        choices = [f"{o.key} {o.name!r}" for o in self.outcomes]
        listed = ", ".join(choices[:20]) + (
            f", ... ({len(choices)} in all)" if choices[20:] else ""
        )
        raise InputError(f"{self.source}: no outcome {selector!r}; outcomes: {listed or 'none'}")

    def report(self, path: str | os.PathLike[str], **options: Unpack[ReportOptions]) -> Path:
        """Write every analysis to one self-contained HTML page; see
        :func:`metapool.report_html.write_report` for the options."""
        from metapool.report_html import write_report

        return write_report(self, path, **options)

    def compare(
        self,
        *,
        rtol: float = 1e-8,
        p_atol: float = 1e-6,
        outcomes: Iterable[Outcome] | None = None,
    ) -> ReviewCheck:
        """Re-run every outcome (or ``outcomes``) and compare with RevMan's stored results.

        Tolerances (per value; P-values are checked on the absolute scale
        because RevMan's own are only accurate to ~1e-7):

        - full doubles (``.rm5``): ``|ours - revman| <= rtol * max(|ours|, |revman|) + 1e-14``;
        - values rounded to d decimals (CSV: 8, data package: 6):
          ``|ours - revman| <= 0.5 * 10**-d + 1e-11 * |revman|`` (half a unit in
          the last decimal, plus RevMan's floating-point noise on large values);
        - P-values: ``|ours - revman| <= p_atol`` (plus half a unit in the last
          decimal when rounded); df exactly.

        RevMan stores ``|Z|``: it is compared with the absolute value of metapool's
        signed z.

        Examples
        --------
        >>> from metapool import examples
        >>> from metapool.io import read_rm5
        >>> check = read_rm5(examples.path("aspirin.rm5")).compare()
        >>> check.passed
        True
        """
        from metapool.io.compare import ReviewCheck, _Rule, check_outcome

        rule = _Rule(rtol=rtol, p_atol=p_atol)
        chosen = self.outcomes if outcomes is None else outcomes
        return ReviewCheck(self.source, tuple(check_outcome(o, rule) for o in chosen))
