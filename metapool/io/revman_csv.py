"""RevMan 5's "Data and analyses" CSV export.

One row per comparison (outcome number 0), per outcome (its settings, totals
and RevMan's pooled results), per subgroup (its first row: name and subtotal)
and per study (data cells and RevMan's study results). Columns the export
wizard left out are simply absent; cells of columns that do not apply to the
data type hold 0 and are ignored.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from metapool.errors import InputError
from metapool.io._cells import Table, decimals, decode, normalise, number
from metapool.io._draft import Draft, stored_pooled
from metapool.io._source import file_name, read_file
from metapool.io.review import Comparison, Review, StoredPooled, StoredTest, StudyInfo

__all__ = ["read_revman_csv"]

# record field -> column, as RevMan names it
_COLUMNS = {
    "events_exp": "Events 1",
    "total_exp": "Total 1",
    "events_ctrl": "Events 2",
    "total_ctrl": "Total 2",
    "mean_exp": "Mean 1",
    "sd_exp": "SD 1",
    "mean_ctrl": "Mean 2",
    "sd_ctrl": "SD 2",
    "o_minus_e": "O-E",
    "variance": "Var",
    "estimate": "Effect Estimate",
    "se": "SE",
}
_POOLED = (
    ("estimate", "effectestimate"),
    ("ci_lower", "cistart"),
    ("ci_upper", "ciend"),
    ("z", "z"),
    ("p_value", "pz"),
    ("q", "q"),
    ("df", "df"),
    ("p_q", "pq"),
    ("i2", "i2q"),
    ("tau2", "tau2"),
)
_STUDY = ("effectestimate", "cistart", "ciend", "se", "weight")
_TEST = (("q", "qint"), ("p_value", "pqint"), ("i2", "i2qint"))
# setting (as Draft.setting reads it) -> column (normalised header) an export may hold
_SETTINGS = {
    "model": "analysismodel",
    "ci_study": "studyconfidenceinterval",
    "ci_total": "totalconfidenceinterval",
    "swap_events": "swapeventandnonevent",
    "subgroup_test": "testforsubgroupdifferences",
}
_LOG_SCALE = "entereddataareonlogscale"  # "Entered data are on log scale (Generic ...)"
_HEADER = "Comparison Number"
_NUMBERS = ("comparisonnumber", "outcomenumber", "subgroupnumber")
_DELIMITERS = frozenset(",;\t|")
# columns of numbers besides the data fields: for telling the decimal mark
_NUMERIC = (
    "Effect Estimate",
    "SE",
    "CI Start",
    "CI End",
    "Weight",
    "Q",
    "P(Q)",
    "I²(Q)",
    "Tau²",
    "Z",
    "P(Z)",
    "Qint",
    "P(Qint)",
    "I²(Qint)",
    "df",
)
_MARKED = re.compile(r"[+-]?[\d.,]*\d[\d.,]*(?:[eE][+-]?\d+)?")  # a number, perhaps with marks
_POINT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+|\d{1,3}(?:,\d{3})+(?:\.\d*)?)(?:[eE][+-]?\d+)?")
_COMMA = re.compile(r"[+-]?(?:\d+,?\d*|,\d+|\d{1,3}(?:\.\d{3})+(?:,\d*)?)(?:[eE][+-]?\d+)?")


def read_revman_csv(path: str | os.PathLike[str]) -> Review:
    """Read RevMan 5's "Data and analyses" CSV export.

    Parameters
    ----------
    path : str or path-like
        The exported file. Its header begins ``Comparison Number,Outcome
        Number,Subgroup Number,...``; exports separated by semicolons, tabs
        or ``|`` are read too, with decimal points or decimal commas as their
        numbers show (a file whose numbers fit neither reading alone is refused).

    Returns
    -------
    Review
        As :func:`~metapool.io.rm5.read_rm5`; the title is the file name (the
        export does not carry it) and study identifiers are the names. A row
        that does not fit the header (a truncated file, an unbalanced quote),
        study rows that do not add up to the participants the outcome's row
        states, a study listed twice and a second outcome of the same number
        are errors of their outcome.

    Raises
    ------
    InputError
        The file cannot be read, is not a RevMan export, has only its header,
        or a quote left open at its end.

    Examples
    --------
    >>> from metapool import examples
    >>> review = read_revman_csv(examples.path("stem_cell.csv"))
    >>> outcome = review.outcome("1.1")
    >>> outcome.settings["measure"], outcome.settings["model"], len(outcome.studies)
    ('SMD', 'random', 10)
    >>> outcome.studies[0].subgroup, outcome.revman.decimals
    ('Bone marrow', 8)
    """
    source = file_name(path)
    text = decode(read_file(source), source)
    start = text.find(_HEADER)
    if start < 0 or text[:start].strip():
        raise InputError(f"{source}: not a RevMan CSV export (the header must begin {_HEADER!r})")
    delimiter = text[start + len(_HEADER) : start + len(_HEADER) + 1]
    if delimiter not in _DELIMITERS:
        raise InputError(
            f"{source}: the header's cells are separated by {delimiter!r}; a RevMan CSV "
            "export uses a comma, semicolon, tab or '|'"
        )
    table = Table.parse(text[start:], source, delimiter)
    table.require(_HEADER, "Outcome Number", "Subgroup Number", "Name")
    if not table.rows:
        raise InputError(f"{source}: the file has a header but no rows")
    return _Reader(table, Path(source).stem, _decimal_comma(table, delimiter)).review()


def _decimal_comma(table: Table, delimiter: str) -> bool:
    """Whether numbers have decimal commas, judged from every numeric cell.

    Comma-separated files have decimal points; otherwise the marks the cells use
    decide, and a file whose cells fit neither reading alone is refused rather
    than read wrong (``4.7`` must not become 47).
    """
    if delimiter == ",":
        return False
    keys = [normalise(c) for c in (*_COLUMNS.values(), *_NUMERIC)]
    marked = {
        text
        for _, cells in table.rows
        for key in keys
        if _MARKED.fullmatch(text := cells.get(key, "").strip())
    }
    point = all(_POINT.fullmatch(t) for t in marked)
    comma = all(_COMMA.fullmatch(t) for t in marked)
    if point != comma:
        return comma
    if not marked:
        return False
    examples = ", ".join(repr(t) for t in sorted(marked)[:3])
    raise InputError(
        f"{table.source}: cannot tell the decimal mark: numbers such as {examples} read "
        f"{'either way' if point else 'neither way'} with a decimal point or a decimal comma"
    )


class _Reader:
    def __init__(self, table: Table, title: str, decimal_comma: bool) -> None:
        self.table = table
        self.title = title
        self.decimal_comma = decimal_comma
        self.comparisons: dict[int, tuple[str, list[Draft]]] = {}
        self.studies: dict[str, StudyInfo] = {}
        numbers = [
            self._text(cells, key)
            for _, cells in table.rows
            for key in (*_STUDY, *(k for _, k in _POOLED), *(k for _, k in _TEST))
        ]
        self.decimals = decimals(t for t in numbers if t)

    def _text(self, cells: dict[str, str], key: str) -> str:
        text = cells.get(key, "").strip()
        if self.decimal_comma:
            text = text.replace(".", "").replace(",", ".")
        return text

    def _stored(self, draft: Draft, where: str, cells: dict[str, str], key: str) -> float:
        """A stored result (NaN where empty), named as the header names it in messages."""
        return draft.value(where, self.table.headers.get(key, key), self._text(cells, key))

    def review(self) -> Review:
        drafts: dict[tuple[int, int], Draft] = {}
        subgroups: dict[tuple[int, int, int], int] = {}
        for line, cells in self.table.rows:
            misfit = self.table.misfits.get(line)
            try:
                comparison, outcome, subgroup = (int(cells.get(k, "")) for k in _NUMBERS)
            except ValueError:
                raise InputError(
                    f"{self.table.source}: "
                    + (
                        misfit
                        or f"line {line}: comparison, outcome and subgroup numbers "
                        "must be whole numbers"
                    )
                ) from None
            name = cells.get("name", "").strip()
            if outcome == 0:
                if misfit:  # belongs to no outcome
                    raise InputError(f"{self.table.source}: {misfit}")
                self.comparisons[comparison] = (name, self.comparisons.get(comparison, ("", []))[1])
                continue
            draft = drafts.get((comparison, outcome))
            if draft is None:
                draft = drafts[(comparison, outcome)] = self._outcome(comparison, outcome, cells)
                self.comparisons.setdefault(comparison, ("", []))[1].append(draft)
            elif misfit:  # its cells cannot be trusted: the outcome is marked broken below
                pass
            elif not subgroup and cells.get("datatype", "").strip():
                # only an outcome's own row has a data type (subgroup number 0)
                draft.fail(f"line {line}: a second outcome numbered {comparison}.{outcome}")
            elif subgroup and (comparison, outcome, subgroup) not in subgroups:
                # a subgroup's first row: its name and subtotal
                results = self._pooled(draft, cells)
                subgroups[(comparison, outcome, subgroup)] = draft.add_subgroup(name, results)
            else:
                self._study(draft, cells, subgroups.get((comparison, outcome, subgroup)))
            if misfit:
                draft.fail(misfit)
        return Review(
            title=self.title,
            studies=tuple(self.studies.values()),
            comparisons=tuple(
                Comparison(number, name, tuple(d.finish(str, self._year) for d in outcomes))
                for number, (name, outcomes) in self.comparisons.items()
            ),
            source=self.table.source,
            format="revman_csv",
        )

    def _year(self, study: str) -> str | None:
        info = self.studies.get(study)
        return None if info is None else info.year

    def _outcome(self, comparison: int, number: int, cells: dict[str, str]) -> Draft:
        draft = Draft(
            source=self.table.source,
            comparison=comparison,
            number=number,
            name=cells.get("name", "").strip(),
            exponentiated=True,
            decimals=self.decimals,
        )
        draft.read_type(cells, "Effect Measure")
        log_scale = next((k for k in cells if k.startswith(_LOG_SCALE)), _LOG_SCALE)
        for setting, key in (*_SETTINGS.items(), ("ratio", log_scale)):
            header = self.table.headers.get(key, key)
            draft.setting(setting, f"column {header!r}", cells.get(key))
        totals = normalise(cells.get("totals", ""))
        draft.totals = totals in ("", "yes", "totalsandsubtotals")
        draft.subtotals = draft.totals or "sub" in totals
        for label, key in ((0, "grouplabel1"), (1, "grouplabel2")):
            draft.group_labels[label] = cells.get(key, "").strip() or draft.group_labels[label]
        for label, key in ((0, "leftgraphlabel"), (1, "rightgraphlabel")):
            draft.graph_labels[label] = cells.get(key, "").strip() or draft.graph_labels[label]
        draft.stored_total = self._pooled(draft, cells)
        draft.stored_test = StoredTest(
            **{key: self._stored(draft, "", cells, column) for key, column in _TEST}
        )
        draft.state(_COLUMNS, lambda c: self._text(cells, normalise(c)))
        return draft

    def _pooled(self, draft: Draft, cells: dict[str, str]) -> StoredPooled:
        return stored_pooled(
            {key: self._stored(draft, "", cells, column) for key, column in _POOLED}
        )

    def _study(self, draft: Draft, cells: dict[str, str], subgroup: int | None) -> None:
        name = cells.get("name", "").strip()
        year = cells.get("yearofstudy", "").strip() or None
        self.studies.setdefault(name, StudyInfo(name, name, year))
        draft.add_study_row(
            name,
            subgroup,
            self.table,
            _COLUMNS,
            cell=lambda c: self._text(cells, normalise(c)) or None,
            result=lambda where, key: self._stored(draft, where, cells, key),
            results=_STUDY,
            order=_order(self._text(cells, "userdefinedorder")),
            footnote=cells.get("footnotes", "").strip(),
        )


def _order(text: str) -> float:
    """The "User defined order" cell (NaN where empty or not a number: it only
    orders the forest plot)."""
    try:
        value = number(text)
    except ValueError:
        return math.nan
    return math.nan if value is None else value
