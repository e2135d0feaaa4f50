"""How closely metapool reproduces the results RevMan stored in a review.

:meth:`metapool.io.Review.compare` re-runs every outcome and measures, value
by value, the distance to RevMan's numbers (:class:`ReviewCheck`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from metapool.errors import InputError
from metapool.io.review import Outcome, RevManResults, StoredPooled
from metapool.io.tables import render
from metapool.table import shown

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import Heterogeneity, MetaAnalysis, Total

__all__ = ["Difference", "Largest", "OutcomeCheck", "ReviewCheck", "check_outcome"]


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

    def to_table(self, fmt: str = "text") -> str:
        """:meth:`largest` as ``"text"``, ``"csv"``, ``"markdown"`` or ``"html"``: per
        scope and quantity, the values compared, the largest differences, the study
        with the worst, and ``ok`` or ``FAIL``."""
        rows = [
            [
                row.scope,
                row.quantity,
                str(row.compared),
                f"{row.max_abs:.2e}",
                f"{row.max_rel:.2e}",
                row.worst or "",
                "ok" if row.ok else "FAIL",
            ]
            for row in self.largest()
        ]
        headers = ["Scope", "Quantity", "n", "max |diff|", "max rel", "worst", ""]
        return render(headers, rows, fmt, align="llrrrll")

    def __str__(self) -> str:
        head = f"{self.outcome.key} {self.outcome.name}"
        if self.error is not None:
            return f"{head}: ERROR {self.error}"
        if self.outcome.not_pooled is not None:
            return f"{head}: not analysed ({self.outcome.not_pooled})"
        if not self.checked:
            return f"{head}: nothing to compare (no stored RevMan results)"
        verdict = "OK" if self.passed else f"DIFFERS ({len(self.failures)} values beyond tolerance)"
        lines = [f"{head}: {verdict}; {len(self.differences)} values, {_precision(self.decimals)}"]
        lines += ["  " + line for line in self.to_table().split("\n")]
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
    if stored is None or not outcome.studies or outcome.not_pooled is not None:
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
