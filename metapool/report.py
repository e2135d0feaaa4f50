"""Plain-text RevMan tables: what a reviewer reads under a forest plot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from metapool.records import Continuous, Dichotomous, Generic, OMinusE
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from metapool.results import (
        Heterogeneity,
        MetaAnalysis,
        StudyResult,
        Subgroup,
        SubgroupDifferences,
        Total,
    )

__all__ = [
    "CI_STYLES",
    "Footnotes",
    "Shown",
    "analysis_table",
    "count_text",
    "data_cells",
    "effect_text",
    "format_analysis",
    "format_p",
    "heterogeneity_line",
    "overall_effect_line",
    "shown",
    "subgroup_differences_line",
    "subgroup_heading",
]

#: How a confidence interval is written: RevMan 5's ``0.72 [0.49, 1.06]`` or
#: RevMan Web's ``0.72 [0.49 , 1.06]``.
CI_STYLES = ("revman5", "web")


@attrs.frozen
class Shown:
    """What RevMan shows of an analysis under its display options.

    ``weights`` has one entry per row of :attr:`MetaAnalysis.studies`: the
    percentage shown (of the whole analysis, or of the study's subgroup when
    subtotals only are shown), NaN where no weight is shown.
    """

    total: bool
    subtotals: bool
    subgroup_test: bool
    weights: tuple[float, ...]


def shown(res: MetaAnalysis) -> Shown:
    """The pooled rows and weights that ``res.settings.totals`` and
    ``subgroup_test`` show (computed values are all there regardless).

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), totals="none")
    >>> shown(res).total, shown(res).weights[0]
    (False, nan)
    """
    option = res.settings.totals
    subtotals = bool(res.subgroups) and option in ("all", "subtotals")
    if option == "all":
        weights = [s.weight for s in res.studies]
    elif subtotals:  # each subgroup's studies add up to 100
        weights = [math.nan] * len(res.studies)
        for name, sub in res.subgroups.items():
            rows = [i for i, s in enumerate(res.studies) if s.subgroup == name]
            for i, row in zip(rows, sub.studies, strict=True):
                weights[i] = row.weight
    else:
        weights = [math.nan] * len(res.studies)
    return Shown(
        total=option == "all",
        subtotals=subtotals,
        subgroup_test=subtotals and res.settings.subgroup_test,
        weights=tuple(weights),
    )


def subgroup_heading(res: MetaAnalysis, j: int, name: str) -> str:
    """Subgroup ``j``'s heading (1-based): ``"1.1.1 Bone marrow"`` in an analysis
    numbered ``"1.1"``, else the name alone."""
    number = res.settings.number
    return f"{number}.{j} {name}" if number else name


def format_p(p: float) -> str:
    """RevMan's P-value text: ``P = 0.13``, ``P = 0.001``, ``P < 0.00001``."""
    if not math.isfinite(p):
        return "P not applicable"
    if p < 0.00001:
        return "P < 0.00001"
    for decimals in (2, 3, 4, 5):
        if p >= 10.0**-decimals or decimals == 5:
            return f"P = {p:.{decimals}f}"
    raise AssertionError  # pragma: no cover


def _num(x: float, decimals: int = 2) -> str:
    return f"{x:.{decimals}f}" if math.isfinite(x) else ""


def heterogeneity_line(h: Heterogeneity, random: bool) -> str:
    """``Heterogeneity: Tau² = 0.01; Chi² = 9.95, df = 6 (P = 0.13); I² = 40%``."""
    if not math.isfinite(h.df) or h.df < 1:
        return "Heterogeneity: Not applicable"
    tau = f"Tau² = {_num(h.tau2)}; " if random else ""
    return (
        f"Heterogeneity: {tau}Chi² = {_num(h.q)}, df = {h.df:.0f} ({format_p(h.p_value)}); "
        f"I² = {h.i2:.0f}%"
    )


def overall_effect_line(t: Total, statistic: str = "Z") -> str:
    """``Test for overall effect: Z = 3.29 (P = 0.001)`` (``t = ...`` under HKSJ)."""
    if not t.estimable:
        return "Test for overall effect: Not applicable"
    return f"Test for overall effect: {statistic} = {abs(t.z):.2f} ({format_p(t.p_value)})"


def _fixed(x: float, decimals: int = 2) -> str:
    text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.00"


def effect_text(estimate: float, lower: float, upper: float, style: str = "revman5") -> str:
    """``0.72 [0.49, 1.06]`` (RevMan 5), ``0.72 [0.49 , 1.06]`` (``style="web"``,
    RevMan Web), or ``Not estimable``."""
    if not math.isfinite(estimate):
        return "Not estimable"
    comma = " , " if style == "web" else ", "
    return f"{_fixed(estimate)} [{_fixed(lower)}{comma}{_fixed(upper)}]"


def subgroup_differences_line(diff: SubgroupDifferences | None) -> str:
    """``Test for subgroup differences: Chi² = 0.34, df = 2 (P = 0.84), I² = 0.0%``."""
    if diff is None or not math.isfinite(diff.p_value):
        return "Test for subgroup differences: Not applicable"
    return (
        f"Test for subgroup differences: Chi² = {diff.q:.2f}, df = {diff.df:.0f} "
        f"({format_p(diff.p_value)}), I² = {diff.i2:.1f}%"
    )


def count_text(x: float) -> str:
    """A participant or event count (``14186``), blank when missing."""
    return f"{x:.0f}" if math.isfinite(x) else ""


def data_cells(s: StudyResult) -> list[str]:
    """The data columns of a study row, as RevMan shows them."""
    d = s.data
    if isinstance(d, Dichotomous):
        vals = [d.events_exp, d.total_exp, d.events_ctrl, d.total_ctrl]
        return ["" if v is None else f"{v:g}" for v in vals]
    if isinstance(d, Continuous):
        vals = [d.mean_exp, d.sd_exp, d.total_exp, d.mean_ctrl, d.sd_ctrl, d.total_ctrl]
        return ["" if v is None else f"{v:g}" for v in vals]
    if isinstance(d, OMinusE):
        return ["" if v is None else f"{v:g}" for v in (d.o_minus_e, d.variance)]
    assert isinstance(d, Generic)
    return ["" if v is None else f"{v:.4f}" for v in (d.estimate, d.se)]


# letters with a superscript form in Unicode and in the plots' fonts (not i, q)
_SUPERSCRIPTS = dict(zip("abcdefghjklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))
_LETTERS = tuple(_SUPERSCRIPTS)


class Footnotes:
    """Footnote letters for the studies, in the order they are shown (as RevMan does).

    :meth:`label` gives a study's name with the superscript letter of its
    record's ``footnote`` (studies with the same note share a letter);
    :meth:`lines` the notes to list under the table or plot.
    """

    def __init__(self) -> None:
        self._letters: dict[str, str] = {}

    def label(self, s: StudyResult) -> str:
        note = s.data.footnote
        if note is None:
            return s.study
        k = len(self._letters)
        letter = _LETTERS[k] if k < len(_LETTERS) else _LETTERS[k // 24 - 1] + _LETTERS[k % 24]
        letter = self._letters.setdefault(note, letter)
        return s.study + "".join(_SUPERSCRIPTS[c] for c in letter)

    def lines(self) -> list[str]:
        if not self._letters:
            return []
        return ["Footnotes", *(f"({letter}) {note}" for note, letter in self._letters.items())]


def _headers(res: MetaAnalysis) -> list[str]:
    data_type = res.settings.data_type
    if data_type is DataType.DICHOTOMOUS:
        return ["Exp events", "Exp total", "Ctrl events", "Ctrl total"]
    if data_type is DataType.CONTINUOUS:
        return ["Exp mean", "Exp SD", "Exp total", "Ctrl mean", "Ctrl SD", "Ctrl total"]
    if data_type is DataType.O_MINUS_E:
        return ["O-E", "Variance"]
    label = res.settings.measure_name
    return [f"log[{label}]" if res.settings.ratio else label, "SE"]


def format_analysis(res: MetaAnalysis) -> str:
    """The whole RevMan table of an analysis, subgroups included, as its display
    options show it (:func:`shown`)."""
    from metapool.io.tables import render

    return render(*analysis_table(res))


def analysis_table(res: MetaAnalysis) -> tuple[list[str], list[list[str] | str]]:
    """The headers and rows of :func:`format_analysis` (a str: a line across the table),
    footnotes last."""
    show = shown(res)
    pct = f"{res.settings.ci_level * 100:g}%"
    random = res.settings.model.value == "random"
    headers = ["Study or Subgroup", *_headers(res), "Weight", res.settings.label]
    rows: list[list[str] | str] = []
    n_data = len(headers) - 3
    notes = Footnotes()

    def study_row(s: StudyResult, weight: float) -> list[str]:
        w = f"{weight:.1f}%" if s.estimable and math.isfinite(weight) else ""
        effect = effect_text(s.estimate, s.ci_lower, s.ci_upper)
        return [notes.label(s), *data_cells(s), w, effect]

    def total_block(part: Subgroup, label: str, share: float) -> None:
        t = part.total
        arms = part.arm_totals
        cells = [""] * n_data
        if arms is not None:
            if n_data == 4:
                cells = ["", count_text(arms.total_exp), "", count_text(arms.total_ctrl)]
            elif n_data == 6:
                cells = ["", "", count_text(arms.total_exp), "", "", count_text(arms.total_ctrl)]
        rows.append(
            [
                f"{label} ({pct} CI)",
                *cells,
                f"{share:.1f}%",
                effect_text(t.estimate, t.ci_lower, t.ci_upper),
            ]
        )
        if arms is not None and arms.events_exp is not None:
            rows.append(
                [
                    "Total events",
                    count_text(arms.events_exp),
                    "",
                    count_text(arms.events_ctrl or 0.0),
                    "",
                    "",
                    "",
                ]
            )
        rows.append(heterogeneity_line(part.heterogeneity, random))
        rows.append(overall_effect_line(t, "t" if res.settings.hksj else "Z"))
        if part.prediction is not None and math.isfinite(part.prediction.lower):
            p = part.prediction
            rows.append(f"Prediction interval: [{p.lower:.2f}, {p.upper:.2f}]")

    if res.subgroups:
        for j, (name, sub) in enumerate(res.subgroups.items(), start=1):
            rows.append(subgroup_heading(res, j, name))
            share = 0.0
            for i, s in enumerate(res.studies):
                if s.subgroup == name:
                    w = show.weights[i]
                    share += w if s.estimable else 0.0
                    rows.append(study_row(s, w))
            if show.subtotals:
                total_block(sub, "Subtotal", share)
            rows.append("")
    else:
        for s, w in zip(res.studies, show.weights, strict=True):
            rows.append(study_row(s, w))
    if show.total:
        total_block(res, "Total", 100.0 if res.estimable else 0.0)
    if show.subgroup_test:
        rows.append(subgroup_differences_line(res.subgroup_differences))
    while rows and rows[-1] == "":
        rows.pop()
    if notes.lines():
        rows += ["", *notes.lines()]
    return headers, rows
