"""Plain-text RevMan tables: what a reviewer reads under a forest plot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from metapool.records import Continuous, Dichotomous, Generic, OMinusE

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
    "analysis_table",
    "count_text",
    "data_cells",
    "effect_text",
    "format_analysis",
    "format_p",
    "heterogeneity_line",
    "overall_effect_line",
    "subgroup_differences_line",
]


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


def effect_text(estimate: float, lower: float, upper: float) -> str:
    """``0.72 [0.49, 1.06]``, or ``Not estimable``."""
    if not math.isfinite(estimate):
        return "Not estimable"
    return f"{_fixed(estimate)} [{_fixed(lower)}, {_fixed(upper)}]"


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


def _headers(res: MetaAnalysis) -> list[str]:
    d = res.studies[0].data
    if isinstance(d, Dichotomous):
        return ["Exp events", "Exp total", "Ctrl events", "Ctrl total"]
    if isinstance(d, Continuous):
        return ["Exp mean", "Exp SD", "Exp total", "Ctrl mean", "Ctrl SD", "Ctrl total"]
    if isinstance(d, OMinusE):
        return ["O-E", "Variance"]
    label = res.settings.measure
    return [f"log[{label}]" if res.settings.ratio else label, "SE"]


def format_analysis(res: MetaAnalysis) -> str:
    """The whole RevMan table of an analysis, subgroups included."""
    from metapool.io.tables import render

    return render(*analysis_table(res))


def analysis_table(res: MetaAnalysis) -> tuple[list[str], list[list[str] | str]]:
    """The headers and rows of :func:`format_analysis` (a str: a line across the table)."""
    pct = f"{res.settings.ci_level * 100:g}%"
    random = res.settings.model.value == "random"
    headers = ["Study or Subgroup", *_headers(res), "Weight", res.settings.label]
    rows: list[list[str] | str] = []
    n_data = len(headers) - 3

    def study_row(s: StudyResult, weight: float) -> list[str]:
        w = f"{weight:.1f}%" if s.estimable else ""
        return [s.study, *data_cells(s), w, effect_text(s.estimate, s.ci_lower, s.ci_upper)]

    def total_block(part: Subgroup, label: str, share: float) -> None:
        t = part.total
        arms = part.totals
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
        overall = {(s.study, s.subgroup): s.weight for s in res.studies}
        for j, (name, sub) in enumerate(res.subgroups.items(), start=1):
            rows.append(f"{j} {name}")
            share = 0.0
            for s in sub.studies:
                w = overall[(s.study, s.subgroup)]
                share += w
                rows.append(study_row(s, w))
            total_block(sub, "Subtotal", share)
            rows.append("")
    else:
        for s in res.studies:
            rows.append(study_row(s, s.weight))
    total_block(res, "Total", 100.0 if res.estimable else 0.0)
    if res.subgroup_differences is not None:
        rows.append(subgroup_differences_line(res.subgroup_differences))
    return headers, rows
