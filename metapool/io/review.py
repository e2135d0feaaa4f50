"""A RevMan review as typed records, and the check that metapool reproduces it.

Every reader (:func:`~metapool.io.rm5.read_rm5`, :func:`~metapool.io.revman_csv.read_revman_csv`,
:func:`~metapool.io.datapackage.read_datapackage`) returns a :class:`Review`:
comparisons, their outcomes, each outcome's study records and analysis
settings, and the results RevMan stored in the file (:class:`RevManResults`).
:meth:`Review.compare` re-runs every outcome and measures the distance to
RevMan's numbers.
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
from metapool.report import shown
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from metapool.io.risk_of_bias import RiskOfBias
    from metapool.results import Heterogeneity, MetaAnalysis, Total

__all__ = [
    "Comparison",
    "Difference",
    "Largest",
    "Outcome",
    "OutcomeCheck",
    "RevManResults",
    "Review",
    "ReviewCheck",
    "StoredPooled",
    "StoredStudy",
    "StoredTest",
    "StudyInfo",
]

NAN = math.nan


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
class StoredStudy:
    """RevMan's numbers for one study row (NaN where the file stores none).

    ``estimate`` and the CI are on the natural scale, ``se`` on the analysis
    scale (log for ratios), ``weight`` in percent. ``estimable`` is None when
    the file does not say.
    """

    estimable: bool | None = None
    estimate: float = NAN
    ci_lower: float = NAN
    ci_upper: float = NAN
    se: float = NAN
    weight: float = NAN


@attrs.frozen
class StoredPooled:
    """RevMan's pooled result of an outcome or a subgroup (NaN where not stored).

    ``z`` is RevMan's ``|Z|``; ``q``, ``df``, ``p_q``, ``i2`` (percent) and
    ``tau2`` describe heterogeneity.
    """

    estimable: bool | None = None
    estimate: float = NAN
    ci_lower: float = NAN
    ci_upper: float = NAN
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
        Each record's footnote text ("" where it has none).
    revman : RevManResults or None
        What RevMan computed, when the file stores it.
    error : str or None
        Why the outcome could not be read; it then has no studies to analyse.
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

    def analyse(self, **overrides: Any) -> MetaAnalysis:
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
        options = {**self.display, **self.settings, **overrides}
        try:
            if not self.studies and self.data_type is not None:
                return analyse_records([], self.data_type, **options)
            return analyse(self.studies, **options)
        except InputError as exc:
            raise InputError(f"outcome {self.key} {self.name!r}: {exc}") from exc

    def forest(self, **kwargs: Any) -> Any:
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

        res = self.analyse(**kwargs.pop("analyse", {}))
        options: dict[str, Any] = {
            "left_label": self.graph_labels[0],
            "right_label": self.graph_labels[1],
            "group_labels": self.group_labels,
            "sort": self._sort_keys(),
        }
        if self.scale is not None and self.scale > 0:
            options["scale"] = self.scale
        return forest(res, **{**options, **kwargs})

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

    def report(self, path: str | os.PathLike[str], **options: Any) -> Path:
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
        rule = _Rule(rtol=rtol, p_atol=p_atol)
        chosen = self.outcomes if outcomes is None else outcomes
        return ReviewCheck(self.source, tuple(check_outcome(o, rule) for o in chosen))


# -- comparison with RevMan's stored results ----------------------------------------


@attrs.frozen
class Difference:
    """One value metapool computed next to the value RevMan stored.

    ``scope`` is ``"study"``, ``"subgroup"``, ``"total"`` or ``"subgroup
    differences"``; ``name`` the study or subgroup.
    """

    scope: str
    name: str | None
    quantity: str
    ours: float
    revman: float
    tolerance: float

    @property
    def abs_diff(self) -> float:
        diff = abs(self.ours - self.revman)
        return math.inf if math.isnan(diff) else diff

    @property
    def rel_diff(self) -> float:
        scale = max(abs(self.ours), abs(self.revman))
        return self.abs_diff / scale if scale > 0 else self.abs_diff

    @property
    def ok(self) -> bool:
        return self.abs_diff <= self.tolerance


@attrs.frozen
class Largest:
    """The largest differences for one quantity of one scope (e.g. study estimates)."""

    scope: str
    quantity: str
    compared: int
    max_abs: float
    max_rel: float
    worst: str | None
    ok: bool


@attrs.frozen
class OutcomeCheck:
    """How closely metapool reproduced one outcome's stored RevMan results."""

    outcome: Outcome
    differences: tuple[Difference, ...] = ()
    error: str | None = None
    decimals: int | None = None

    @property
    def checked(self) -> bool:
        """Whether any stored value was compared."""
        return bool(self.differences)

    @property
    def passed(self) -> bool:
        """No error, and every compared value within tolerance."""
        return self.error is None and all(d.ok for d in self.differences)

    @property
    def failures(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.ok)

    def largest(self) -> tuple[Largest, ...]:
        """Per scope and quantity, the largest absolute and relative differences."""
        groups: dict[tuple[str, str], list[Difference]] = {}
        for d in self.differences:
            groups.setdefault((d.scope, d.quantity), []).append(d)
        out = []
        for (scope, quantity), diffs in groups.items():
            worst = max(diffs, key=lambda d: (not d.ok, d.abs_diff))
            out.append(
                Largest(
                    scope=scope,
                    quantity=quantity,
                    compared=len(diffs),
                    max_abs=max(d.abs_diff for d in diffs),
                    max_rel=max(d.rel_diff for d in diffs),
                    worst=worst.name,
                    ok=all(d.ok for d in diffs),
                )
            )
        return tuple(out)

    def __str__(self) -> str:
        head = f"{self.outcome.key} {self.outcome.name}"
        if self.error is not None:
            return f"{head}: ERROR {self.error}"
        if not self.checked:
            return f"{head}: nothing to compare (no stored RevMan results)"
        verdict = "OK" if self.passed else f"DIFFERS ({len(self.failures)} values beyond tolerance)"
        lines = [
            f"{head}: {verdict}; {len(self.differences)} values, {_precision(self.decimals)}",
            f"  {'':4} {'scope':<21} {'quantity':<9} {'n':>3}  {'max |diff|':>10}  "
            f"{'max rel':>9}  worst",
        ]
        for row in self.largest():
            flag = "    " if row.ok else "FAIL"
            lines.append(
                f"  {flag} {row.scope:<21} {row.quantity:<9} {row.compared:>3}  "
                f"{row.max_abs:>10.2e}  {row.max_rel:>9.2e}  {row.worst or ''}"
            )
        return "\n".join(lines)


@attrs.frozen
class ReviewCheck:
    """:meth:`Review.compare`'s result: one :class:`OutcomeCheck` per outcome."""

    source: str
    outcomes: tuple[OutcomeCheck, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def __str__(self) -> str:
        checked = sum(o.checked for o in self.outcomes)
        verdict = "all within tolerance" if self.passed else "DIFFERENCES FOUND"
        lines = [f"{self.source}: {checked} of {len(self.outcomes)} outcomes compared, {verdict}"]
        lines.extend(str(o) for o in self.outcomes)
        return "\n".join(lines)


def _precision(decimals: int | None) -> str:
    if decimals is None:
        return "full-precision values"
    return f"values rounded to {decimals} decimals"


_P_VALUES = frozenset({"p_z", "p_q", "p"})


@attrs.frozen
class _Rule:
    """The tolerance rules of :meth:`Review.compare`."""

    rtol: float
    p_atol: float

    def tolerance(self, quantity: str, revman: float, ours: float, decimals: int | None) -> float:
        half_unit = 0.0 if decimals is None else 0.5 * 10.0**-decimals
        if quantity == "df":
            return 0.0
        if quantity in _P_VALUES:
            return self.p_atol + half_unit
        if decimals is None:
            return self.rtol * max(abs(revman), abs(ours)) + 1e-14
        return half_unit + 1e-11 * abs(revman)


def check_outcome(outcome: Outcome, rule: _Rule) -> OutcomeCheck:
    """Compare one outcome's analysis with its stored RevMan results."""
    stored = outcome.revman
    decimals = None if stored is None else stored.decimals
    if outcome.error is not None:
        return OutcomeCheck(outcome, error=outcome.error, decimals=decimals)
    if stored is None or not outcome.studies:
        return OutcomeCheck(outcome, decimals=decimals)
    try:
        res = outcome.analyse()
    except InputError as exc:
        return OutcomeCheck(outcome, error=str(exc), decimals=decimals)
    # what RevMan shows is what it stored: with totals "none" only the studies'
    # own rows; with subtotals only, weights within subgroups and, as the
    # outcome's estimate, the IV pooling of the subgroup estimates
    show = shown(res)
    diffs = _Differ(rule, decimals)
    diffs.studies(res, stored, show.weights)
    ours_test, test = res.subgroup_differences, stored.subgroup_differences
    if stored.total is not None and show.total:
        diffs.pooled("total", None, res.total, res.heterogeneity, stored.total)
    elif stored.total is not None and show.subtotals and ours_test and ours_test.pooled:
        diffs.pooled("total", None, ours_test.pooled, res.heterogeneity, stored.total)
    for name, sub in stored.subgroups.items():
        if name in res.subgroups and show.subtotals:
            ours = res.subgroups[name]
            diffs.pooled("subgroup", name, ours.total, ours.heterogeneity, sub)
    # RevMan writes placeholder zeros where the test does not apply
    if ours_test is not None and test is not None and show.subgroup_test:
        diffs.add("subgroup differences", None, "q", ours_test.q, test.q)
        diffs.add("subgroup differences", None, "df", ours_test.df, test.df)
        if ours_test.df >= 1:
            diffs.add("subgroup differences", None, "p", ours_test.p_value, test.p_value)
            diffs.add("subgroup differences", None, "i2", ours_test.i2, test.i2)
    return OutcomeCheck(outcome, tuple(diffs.out), decimals=decimals)


class _Differ:
    """Collects :class:`Difference` rows for the values a file stores."""

    def __init__(self, rule: _Rule, decimals: int | None) -> None:
        self.rule = rule
        self.decimals = decimals
        self.out: list[Difference] = []

    def add(self, scope: str, name: str | None, quantity: str, ours: float, revman: float) -> None:
        if math.isnan(revman):  # not stored
            return
        tol = self.rule.tolerance(quantity, revman, ours, self.decimals)
        self.out.append(Difference(scope, name, quantity, ours, revman, tol))

    def _estimable(self, scope: str, name: str | None, ours: bool, revman: bool | None) -> bool:
        """False when RevMan says "not estimable" (a mismatch if metapool estimated it)."""
        if revman is False:
            if ours:
                self.out.append(Difference(scope, name, "estimable", 1.0, 0.0, 0.0))
            return False
        return True

    def studies(self, res: MetaAnalysis, stored: RevManResults, weights: tuple[float, ...]) -> None:
        """Each study's own row; its weight as shown (NaN: none shown, not compared)."""
        for row, revman, weight in zip(res.studies, stored.studies, weights, strict=True):
            name = row.study if row.subgroup is None else f"{row.study} [{row.subgroup}]"
            if not self._estimable("study", name, row.estimable, revman.estimable):
                continue
            self.add("study", name, "estimate", row.estimate, revman.estimate)
            self.add("study", name, "ci_lower", row.ci_lower, revman.ci_lower)
            self.add("study", name, "ci_upper", row.ci_upper, revman.ci_upper)
            self.add("study", name, "se", row.se, revman.se)
            if not math.isnan(weight):
                self.add("study", name, "weight", weight, revman.weight)

    def pooled(
        self,
        scope: str,
        name: str | None,
        total: Total,
        het: Heterogeneity,
        revman: StoredPooled,
    ) -> None:
        if not self._estimable(scope, name, total.estimable, revman.estimable):
            return
        self.add(scope, name, "estimate", total.estimate, revman.estimate)
        self.add(scope, name, "ci_lower", total.ci_lower, revman.ci_lower)
        self.add(scope, name, "ci_upper", total.ci_upper, revman.ci_upper)
        self.add(scope, name, "z", abs(total.z), revman.z)
        self.add(scope, name, "p_z", total.p_value, revman.p_value)
        self.add(scope, name, "q", het.q, revman.q)
        self.add(scope, name, "df", het.df, revman.df)
        self.add(scope, name, "tau2", het.tau2, revman.tau2)
        # with one study heterogeneity does not apply: RevMan stores placeholders
        if het.df >= 1:
            self.add(scope, name, "p_q", het.p_value, revman.p_q)
            self.add(scope, name, "i2", het.i2, revman.i2)
