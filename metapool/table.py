"""The RevMan table of an analysis: what every row of its printed table and forest plot says.

:func:`revman_table` computes it once from a :class:`~metapool.MetaAnalysis`
and its display options (``totals``, ``subgroup_test``, ``number``) and the
choices of the moment (study order, confidence-interval style):
the columns, one typed :class:`Row` per line (studies, subgroup headings,
(sub)totals, total events, prediction intervals, the heterogeneity,
overall-effect and subgroup-difference lines) with the mark the graph panel
draws on it, and the footnotes. :mod:`metapool.report` prints it,
:func:`metapool.plots.forest` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from metapool.errors import InputError
from metapool.records import DATA_TYPE, FIELDS, Generic
from metapool.vocabulary import DataType, Model

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
    "SORTS",
    "Footnotes",
    "Mark",
    "Row",
    "Shown",
    "Table",
    "count_text",
    "data_cells",
    "effect_text",
    "format_p",
    "heterogeneity_line",
    "label_lines",
    "overall_effect_line",
    "revman_table",
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
    """The data columns of a study row, as RevMan shows them (the record's fields in
    the registry's order)."""
    d = s.data
    form = "{:.4f}" if isinstance(d, Generic) else "{:g}"
    fields = FIELDS[DATA_TYPE[type(d)]]
    return ["" if (v := getattr(d, f)) is None else form.format(v) for f in fields]


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


def label_lines(label: str) -> tuple[str, str]:
    """RevMan's two header lines of an effect column, from :attr:`Settings.label`.

    Examples
    --------
    >>> label_lines("Odds Ratio M-H, Fixed, 95% CI")
    ('Odds Ratio', 'M-H, Fixed, 95% CI')
    """
    head, rest = label.split(", ", 1)
    name, method = head.rsplit(" ", 1)
    return name, f"{method}, {rest}"


#: The study orders of :func:`revman_table` (within each subgroup), non-estimable studies last.
SORTS: dict[str, Callable[[StudyResult], tuple[int, Any]]] = {
    "study": lambda s: (0, s.study.casefold()),
    "effect": lambda s: (0, s.estimate) if s.estimable else (1, 0.0),
    "weight": lambda s: (0, -s.weight) if s.estimable else (1, 0.0),
}


@attrs.frozen
class Mark:
    """What the graph panel shows on a row, on the natural scale: a ``"square"``
    (a study, with its shown weight), a ``"diamond"`` (a pooled estimate) or an
    ``"interval"`` (a prediction interval)."""

    shape: str
    estimate: float
    lower: float
    upper: float
    weight: float = math.nan


@attrs.frozen
class Row:
    """One line of the table: a label and one string per column.

    ``kind`` is one of study, heading, subtotal, total, prediction, events,
    footer (the heterogeneity, overall-effect and subgroup-difference lines)
    and blank (and footnote, for the plot's footnote lines). Headings, footers
    and footnotes (:attr:`span`) have a label only, which runs on across the
    columns. ``printed`` is False for the rows only RevMan's
    plot has: the space above the total and the subgroup-difference line of an
    analysis without subgroups. ``study`` is a study row's study name (its
    label may carry a footnote letter).
    """

    kind: str
    cells: tuple[str, ...]
    bold: bool = False
    mark: Mark | None = None
    printed: bool = True
    study: str = ""

    @property
    def span(self) -> bool:
        return self.kind in ("heading", "footer", "footnote")


@attrs.frozen
class Table:
    """The RevMan table of an analysis (see :func:`revman_table`).

    ``headers`` are the column names under the arm groups as the plot shows
    them (label, data, weight, the effect's second line); ``printed`` the same
    columns' headers in the printed table; ``groups`` the top-line headers over
    runs of columns ``(text, first, last)``; ``effect`` the effect column's
    two header lines; ``footnotes`` the notes listed under the table.
    """

    rows: tuple[Row, ...]
    headers: tuple[str, ...]
    printed: tuple[str, ...]
    groups: tuple[tuple[str, int, int], ...]
    effect: tuple[str, str]
    footnotes: tuple[str, ...]


def _columns(res: MetaAnalysis) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Data column headers (plot, printed), and how many of them belong to each arm."""
    data_type = res.settings.data_type
    if data_type is DataType.DICHOTOMOUS:
        return ("Events", "Total") * 2, ("Exp events", "Exp total", "Ctrl events", "Ctrl total"), 2
    if data_type is DataType.CONTINUOUS:
        arm = ("Mean", "SD", "Total")
        return (
            arm * 2,
            tuple(f"{g} {h if h == 'SD' else h.lower()}" for g in ("Exp", "Ctrl") for h in arm),
            3,
        )
    if data_type is DataType.O_MINUS_E:
        return ("O-E", "Variance"), ("O-E", "Variance"), 0
    name, label = label_lines(res.settings.label)[0], res.settings.measure_name
    if res.settings.ratio:
        name, label = f"log[{name}]", f"log[{label}]"
    return (name, "SE"), (label, "SE"), 0


def revman_table(
    res: MetaAnalysis,
    *,
    sort: str | Sequence[Any] | None = None,
    ci_style: str = "revman5",
    group_labels: tuple[str, str] = ("Experimental", "Control"),
) -> Table:
    """The RevMan table of ``res`` as its display options show it (:func:`shown`).

    Parameters
    ----------
    res : MetaAnalysis
    sort : {None, "study", "effect", "weight"} or sequence
        Study order within each subgroup (:data:`SORTS`), or one sort key per
        study of ``res.studies``; as entered by default.
    ci_style : {"revman5", "web"}
        How confidence intervals are written (:func:`effect_text`).
    group_labels : (str, str)
        Headers of the experimental and control arms' columns.

    Examples
    --------
    >>> import metapool
    >>> table = revman_table(metapool.analyse(metapool.examples.aspirin(), measure="OR"))
    >>> [row.kind for row in table.rows][-6:]
    ['blank', 'total', 'events', 'footer', 'footer', 'footer']
    >>> table.rows[-5].cells
    ('Total (95% CI)', '', '14186', '', '13817', '100.0%', '0.90 [0.84, 0.96]')
    """
    if isinstance(sort, str) and sort not in SORTS:
        raise InputError(f"unknown sort {sort!r}; allowed: None, {', '.join(map(repr, SORTS))}")
    if sort is not None and not isinstance(sort, str) and len(sort) != len(res.studies):
        raise InputError(f"sort has {len(sort)} keys; the analysis has {len(res.studies)} studies")
    if ci_style not in CI_STYLES:
        raise InputError(f"unknown ci_style {ci_style!r}; allowed: {', '.join(CI_STYLES)}")
    headers, printed, per_arm = _columns(res)
    show = shown(res)
    weight_of = dict(zip(map(id, res.studies), show.weights, strict=True))
    n_data = len(headers)
    effect = label_lines(res.settings.label)
    random = res.settings.model is Model.RANDOM
    ci = f"({res.settings.ci_level * 100:g}% CI)"
    notes = Footnotes()

    def arm_cells(header: str, values: Sequence[float | None]) -> list[str]:
        """Values under the columns called ``header``, one per arm."""
        cells = [""] * n_data
        where = [i for i, h in enumerate(headers) if h == header]
        for i, v in zip(where, values, strict=True):
            cells[i] = "" if v is None else count_text(v)
        return cells

    def effect_cell(estimate: float, lower: float, upper: float) -> str:
        return effect_text(estimate, lower, upper, ci_style)

    def study_row(s: StudyResult) -> Row:
        w = weight_of[id(s)]
        mark = Mark("square", s.estimate, s.ci_lower, s.ci_upper, w) if s.estimable else None
        weight = f"{w:.1f}%" if s.estimable and math.isfinite(w) else ""
        cell = effect_cell(s.estimate, s.ci_lower, s.ci_upper)
        cells = (notes.label(s), *data_cells(s), weight, cell)
        return Row("study", cells, mark=mark, study=s.study)

    def total_block(part: Subgroup, kind: str, label: str, share: float) -> list[Row]:
        t = part.total
        arms = part.arm_totals
        data = arm_cells("Total", (arms.total_exp, arms.total_ctrl)) if arms else [""] * n_data
        mark = Mark("diamond", t.estimate, t.ci_lower, t.ci_upper) if t.estimable else None
        cells = (label, *data, f"{share:.1f}%", effect_cell(t.estimate, t.ci_lower, t.ci_upper))
        block = [Row(kind, cells, bold=True, mark=mark)]
        p = part.prediction
        if p is not None and math.isfinite(p.lower):
            cells = ("Prediction interval", *[""] * n_data, "", f"[{p.lower:.2f}, {p.upper:.2f}]")
            block.append(
                Row("prediction", cells, mark=Mark("interval", math.nan, p.lower, p.upper))
            )
        if arms is not None and arms.events_exp is not None:
            events = arm_cells("Events", (arms.events_exp, arms.events_ctrl))
            block.append(Row("events", ("Total events", *events, "", "")))
        statistic = "t" if res.settings.hksj else "Z"
        block += [
            Row("footer", (heterogeneity_line(part.heterogeneity, random),)),
            Row("footer", (overall_effect_line(t, statistic),)),
        ]
        return block

    if sort is None or isinstance(sort, str):
        by = SORTS[sort] if sort else None
    else:  # one key per study; stable, so equal keys keep the order entered
        keys = dict(zip(map(id, res.studies), sort, strict=True))
        by = lambda s: keys[id(s)]  # noqa: E731

    def ordered(studies: Sequence[StudyResult]) -> list[StudyResult]:
        return sorted(studies, key=by) if by else list(studies)

    rows: list[Row] = []
    blank = Row("blank", ("",))
    if res.subgroups:
        for j, (name, sub) in enumerate(res.subgroups.items(), start=1):
            # rows show each study's share of the whole analysis, as RevMan's do
            # (of its subgroup when only subtotals are shown)
            members = [s for s in res.studies if s.subgroup == name]
            rows.append(Row("heading", (subgroup_heading(res, j, name),), bold=True))
            rows += [study_row(s) for s in ordered(members)]
            if show.subtotals:
                share = math.fsum(weight_of[id(s)] for s in members if s.estimable)
                rows += total_block(sub, "subtotal", f"Subtotal {ci}", share)
            rows.append(blank)
    else:
        rows += [study_row(s) for s in ordered(res.studies)]
        rows.append(Row("blank", ("",), printed=False))
    if show.total:
        rows += total_block(res, "total", f"Total {ci}", 100.0 if res.estimable else 0.0)
    if res.settings.subgroup_test and (show.total or show.subtotals):
        # RevMan's plot has the line also without subgroups ("Not applicable")
        line = subgroup_differences_line(res.subgroup_differences)
        rows.append(Row("footer", (line,), printed=show.subgroup_test))
    while rows and rows[-1].kind == "blank":
        rows.pop()

    groups: list[tuple[str, int, int]] = []
    if per_arm:
        groups += [(group_labels[0], 1, per_arm), (group_labels[1], per_arm + 1, 2 * per_arm)]
    groups.append((effect[0], n_data + 2, n_data + 2))
    return Table(
        rows=tuple(rows),
        headers=("Study or Subgroup", *headers, "Weight", effect[1]),
        printed=("Study or Subgroup", *printed, "Weight", res.settings.label),
        groups=tuple(groups),
        effect=effect,
        footnotes=tuple(notes.lines()),
    )
