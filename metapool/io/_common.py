"""What the three RevMan readers share: cells to numbers, RevMan's names, outcome assembly.

A reader fills one :class:`Draft` per outcome with the text of the file's
cells; :meth:`Draft.finish` turns it into an :class:`~metapool.io.review.Outcome`,
so that parsing numbers, resolving settings, building study records and the
error messages are the same for ``.rm5``, CSV exports and data packages.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from metapool._typing import FloatArray
from metapool.errors import InputError
from metapool.io.review import Outcome, RevManResults, StoredPooled, StoredStudy, StoredTest
from metapool.records import (
    Continuous,
    Dichotomous,
    Generic,
    OMinusE,
    Study,
    accepted,
    unchecked,
)
from metapool.vocabulary import DataType, resolve

__all__ = [
    "COUNTS",
    "FIELDS",
    "RECORDS",
    "Draft",
    "Row",
    "Table",
    "data_type",
    "decimals",
    "decode",
    "duplicate_numbers",
    "flag",
    "level",
    "model_is_random",
    "normalise",
    "number",
    "record",
    "stored",
    "stored_pooled",
    "stored_study",
    "yes_no",
]

NAN = math.nan

#: the record fields each data type reads from a file
FIELDS: dict[DataType, tuple[str, ...]] = {
    DataType.DICHOTOMOUS: ("events_exp", "total_exp", "events_ctrl", "total_ctrl"),
    DataType.CONTINUOUS: ("mean_exp", "sd_exp", "total_exp", "mean_ctrl", "sd_ctrl", "total_ctrl"),
    DataType.O_MINUS_E: ("o_minus_e", "variance"),
    DataType.GENERIC: ("estimate", "se"),
}
RECORDS: dict[DataType, type[Study]] = {
    DataType.DICHOTOMOUS: Dichotomous,
    DataType.CONTINUOUS: Continuous,
    DataType.O_MINUS_E: OMinusE,
    DataType.GENERIC: Generic,
}
COUNTS = frozenset({"events_exp", "total_exp", "events_ctrl", "total_ctrl"})
_POOLED_FIELDS = tuple(f.name for f in attrs.fields(StoredPooled) if f.name != "estimable")

# RevMan's names for data types: rm5 element prefixes, CSV codes, data-package names
_DATA_TYPES = {
    "dich": DataType.DICHOTOMOUS,
    "dic": DataType.DICHOTOMOUS,
    "dichotomous": DataType.DICHOTOMOUS,
    "cont": DataType.CONTINUOUS,
    "con": DataType.CONTINUOUS,
    "continuous": DataType.CONTINUOUS,
    "iv": DataType.GENERIC,
    "giv": DataType.GENERIC,
    "genericinversevariance": DataType.GENERIC,
    "ipd": DataType.O_MINUS_E,
    "oe": DataType.O_MINUS_E,
    "oeandvariance": DataType.O_MINUS_E,
}
# names RevMan writes that metapool's vocabulary does not know
_MEASURES = {"HAZARD RATIO": "HR"}
_O_MINUS_E_MEASURES = {"OR": "PETO_OR", "ODDS RATIO": "PETO_OR"}  # Peto's O-E odds ratio
_METHODS = {"EXP_O_E_VAR": "PETO"}  # O-E data: exp[(O-E)/V], Peto's pooling

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")  # 1,570 in a quoted CSV cell
# cells joined by line ends, each empty or a plain number (no grouping, no "nan")
_PLAIN_COLUMN = re.compile(
    r"[ \t]*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?[ \t]*"
    r"(?:\n[ \t]*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)?[ \t]*)*"
)
_NOT_FINITE = frozenset({"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_NOT_ESTIMABLE = "notestimable"


def normalise(text: str) -> str:
    """Lower-case letters and digits only: ``"I²(Q)"`` -> ``"i2q"``."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("²", "2"))


def number(text: str | None) -> float | None:
    """A data cell: None when empty; ValueError for text that is not a number.

    Examples
    --------
    >>> number("1,570"), number(""), number("2.5E-3")
    (1570.0, None, 0.0025)
    """
    if text is None or not text.strip():
        return None
    cell = text.strip()
    if _GROUPED.fullmatch(cell):
        cell = cell.replace(",", "")
    if not _NUMBER.fullmatch(cell):
        raise ValueError(cell)
    return float(cell)


def stored(text: str | None) -> float:
    """A stored result: NaN when empty, not finite or "Not estimable"; ValueError for text."""
    if text is not None and _NUMBER.fullmatch(text):  # the common case, first
        return float(text)
    if text is not None and (
        text.strip().lower() in _NOT_FINITE or normalise(text) == _NOT_ESTIMABLE
    ):
        return NAN
    value = number(text)
    return NAN if value is None else value


def flag(text: str | None, default: bool) -> bool:
    """RevMan's YES/NO, true/false and Yes/No cells; ``default`` when empty."""
    if text is None or not text.strip():
        return default
    key = text.strip().lower()
    if key in ("yes", "true", "y"):
        return True
    if key in ("no", "false", "n"):
        return False
    raise ValueError(text)


def yes_no(default: bool) -> Callable[[str], bool]:
    """:func:`flag` as a one-argument parser."""
    return lambda text: flag(text, default)


def level(text: str | None) -> float | None:
    """A confidence level: ``"95"`` or ``"95%"`` -> 95.0 (None when empty)."""
    return number(None if text is None else text.replace("%", ""))


def model_is_random(text: str) -> bool:
    """``Fixed``/``Random`` (CSV), ``Fixed effect``/``Random effects`` (data package)."""
    key = normalise(text)
    if key.startswith("random"):
        return True
    if key.startswith("fixed"):
        return False
    raise ValueError(text)


def data_type(text: str) -> DataType | None:
    """RevMan's name or code of a data type; None when unknown."""
    return _DATA_TYPES.get(normalise(text))


def decimals(texts: Iterable[str]) -> int | None:
    """The decimals a file keeps, from its stored results; None for full doubles."""
    most = 0
    for text in texts:
        cell = text.strip()
        if "e" in cell.lower() and _NUMBER.fullmatch(cell):
            return None
        if "." in cell:
            most = max(most, len(cell) - cell.index(".") - 1)
    return None if most >= 15 or most == 0 else most


def decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without byte order mark), else Windows-1252 as RevMan 5 writes.

    A byte order mark says UTF-8: text after it that is not UTF-8 is an error.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data.startswith(codecs.BOM_UTF8):
            raise InputError(
                f"{source}: byte {exc.start} is not valid UTF-8, which its byte order mark "
                "announces"
            ) from None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: byte {exc.start} is neither UTF-8 nor Windows-1252 text"
        ) from None


def record(
    data_type: DataType,
    study: str,
    subgroup: str | None,
    values: Mapping[str, float | None],
    where: str,
    names: Mapping[str, str],
    footnote: str | None = None,
) -> Study:
    """A study record from its field values (whole counts become ints).

    A validation error is prefixed with ``where`` and says under which ``names``
    the file or table holds the fields it mentions.
    """
    fields = {
        f: int(v) if f in COUNTS and v is not None and v.is_integer() else v
        for f, v in values.items()
    }
    try:
        return RECORDS[data_type](study=study, subgroup=subgroup, footnote=footnote, **fields)
    except InputError as exc:
        found = [f"{f} is {n}" for f, n in names.items() if f != n and f in str(exc)]
        hint = f" ({', '.join(found)})" if found else ""
        raise InputError(f"{where}: {exc}{hint}") from None


def _column(texts: Sequence[str | None]) -> FloatArray | None:
    """Cells as floats (NaN where empty) when every one is a plain number, else None
    (:func:`number` then reads them one by one, and names the one that is not)."""
    cells = ["" if t is None else t for t in texts]
    joined = "\n".join(cells)
    if joined.count("\n") != len(cells) - 1 or not _PLAIN_COLUMN.fullmatch(joined):
        return None
    return np.array([c if c.strip() else "nan" for c in cells], dtype=np.float64)


def stored_study(values: Sequence[float], estimable: bool | None = None) -> StoredStudy:
    """A stored study row from (estimate, CI start, CI end, SE, weight).

    All zeros with no weight is how exports mark a study "not estimable".
    """
    estimate, ci_lower, ci_upper, se, weight = values
    if estimable is None and estimate == ci_lower == ci_upper == weight == 0:
        estimable = False
    return StoredStudy(estimable, estimate, ci_lower, ci_upper, se, weight)


def stored_pooled(values: Mapping[str, float], estimable: bool | None = None) -> StoredPooled:
    """A stored pooled result from its values by field name (NaN for those not given)."""
    return StoredPooled(estimable, *(values.get(f, NAN) for f in _POOLED_FIELDS))


@attrs.frozen
class Table:
    """A CSV table: rows as dicts keyed by :func:`normalise`-d header, with line numbers.

    A row that does not fit the header (another number of cells, or a quoted cell
    running over line ends: a truncated file, an unbalanced quote) is kept with
    what it has; :meth:`misfit` says what is wrong with it, for the reader to
    report as an error of the outcome it belongs to.
    """

    source: str
    rows: tuple[tuple[int, dict[str, str]], ...]
    headers: Mapping[str, str]  # normalised key -> the header as written
    misfits: Mapping[int, str] = attrs.Factory(dict)  # line -> what is wrong

    @classmethod
    def parse(cls, text: str, source: str, delimiter: str = ",") -> Table:
        # strict: a quote left open at the end of the file is an error, not a last cell
        lines = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows = []
        misfits = {}
        try:
            header = next(lines, None)
            if header is None:
                raise InputError(f"{source}: the file is empty")
            keys = [normalise(h) for h in header]
            while (cells := next(lines, None)) is not None:
                # rows are numbered by their first line
                line = lines.line_num - sum(c.count("\n") for c in cells)
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(keys):
                    misfits[line] = (
                        f"line {line} has {len(cells)} cells where the header has "
                        f"{len(keys)} (a truncated file, or an unbalanced quote?)"
                    )
                elif line != lines.line_num:
                    misfits[line] = (
                        f"lines {line}-{lines.line_num}: a quoted cell runs over line ends "
                        "(an unbalanced quote?)"
                    )
                rows.append((line, dict(zip(keys, cells, strict=False))))
        except csv.Error as exc:
            raise InputError(f"{source}: line {lines.line_num}: {exc}") from exc
        return cls(source, tuple(rows), dict(zip(keys, header, strict=True)), misfits)

    def missing(self, *headers: str) -> list[str]:
        """Those of ``headers`` the table lacks."""
        return [h for h in headers if normalise(h) not in self.headers]

    def require(self, *headers: str) -> None:
        missing = self.missing(*headers)
        if missing:
            raise InputError(f"{self.source}: no column {', '.join(map(repr, missing))}")


def duplicate_numbers(drafts: Iterable[Draft]) -> None:
    """Mark broken every outcome whose number another outcome of the file has too."""
    found: dict[tuple[int, int], list[Draft]] = {}
    for draft in drafts:
        found.setdefault((draft.comparison, draft.number), []).append(draft)
    for (comparison, number), same in found.items():
        if len(same) > 1:
            for draft in same:
                draft.fail(f"{len(same)} outcomes are numbered {comparison}.{number}")


@attrs.frozen
class Row:
    """One study row of a draft outcome: the text of its data cells, its stored results."""

    study_id: str
    subgroup: int | None
    # record field -> (the file's name for the cell, its text; None when absent)
    cells: Mapping[str, tuple[str, str | None]]
    stored: StoredStudy = attrs.Factory(StoredStudy)
    order: float = NAN  # RevMan's user-defined order of the row
    footnote: str = ""


@attrs.define
class Draft:
    """An outcome as a reader collects it from a file, before validation."""

    source: str
    comparison: int
    number: int
    name: str = ""
    id: str | None = None
    kind: str = ""
    data_type: DataType | None = None
    measure: str | None = None
    method: str | None = None
    random: bool = False
    ci_study: float | None = None
    ci_total: float | None = None
    swap_events: bool = False
    ratio: bool | None = None
    # RevMan 5 stores generic ratio estimates exponentiated (SE on the log scale)
    exponentiated: bool = False
    subgroups: bool = False
    totals: bool = True
    subtotals: bool = True
    subgroup_test: bool = True
    group_labels: list[str] = attrs.Factory(lambda: ["Experimental", "Control"])
    graph_labels: list[str] = attrs.Factory(lambda: ["Favours experimental", "Favours control"])
    scale: float | None = None
    sort_by: str | None = None
    rows: list[Row] = attrs.Factory(list)
    subgroup_names: list[str] = attrs.Factory(list)
    stored_subgroups: list[StoredPooled | None] = attrs.Factory(list)
    stored_total: StoredPooled | None = None
    stored_test: StoredTest | None = None
    decimals: int | None = None
    error: str | None = None
    # participants the outcome's own row states (field -> the file's name, value), to
    # tell study rows that are missing (a truncated file)
    stated: dict[str, tuple[str, float]] = attrs.Factory(dict)

    @property
    def context(self) -> str:
        where = f" ({self.id})" if self.id else ""
        return f"{self.source}: outcome {self.comparison}.{self.number} {self.name!r}{where}"

    def fail(self, message: str) -> None:
        """Mark the outcome broken (the first problem is the one reported)."""
        if self.error is None:
            self.error = message

    def setting(
        self, attribute: str, parse: Callable[[str], object], name: str, text: str | None
    ) -> None:
        """Set a setting from the file's text; an empty cell keeps the default."""
        if text is None or not text.strip():
            return
        try:
            setattr(self, attribute, parse(text.strip()))
        except ValueError:
            self.fail(f"{name} = {text!r} is not understood")

    def columns(self, table: Table, names: Mapping[str, str]) -> dict[str, str]:
        """The columns of ``table`` holding this outcome's data fields (``names``: field ->
        header); a missing one marks the outcome broken."""
        if self.data_type is None:
            return {}
        wanted = {f: names[f] for f in FIELDS[self.data_type]}
        missing = table.missing(*wanted.values())
        if missing:
            self.fail(f"no column {', '.join(map(repr, missing))} for its {self.kind} data")
        return wanted

    def value(self, where: str, name: str, text: str | None) -> float:
        """A stored result, or NaN after marking the outcome broken."""
        try:
            return stored(text)
        except ValueError:
            self.fail(f"{where}{name} = {text!r} is not a number")
            return NAN

    def add_subgroup(self, name: str, results: StoredPooled | None) -> int:
        """Register a subgroup; returns its index for the rows that belong to it."""
        self.subgroup_names.append("")
        self.stored_subgroups.append(results)
        index = len(self.subgroup_names) - 1
        self.name_subgroup(index, name)
        return index

    def name_subgroup(self, index: int, name: str) -> None:
        name = name.strip() or f"Subgroup {index + 1}"
        others = self.subgroup_names[:index] + self.subgroup_names[index + 1 :]
        if name in others:  # records are grouped by name: keep the subgroups apart
            name = f"{name} ({index + 1})"
        self.subgroup_names[index] = name

    def finish(
        self,
        label: Callable[[str], str] = str,
        year: Callable[[str], str | None] = lambda study_id: None,
    ) -> Outcome:
        """Validate and build the outcome; ``label`` maps study ids to names, ``year``
        to their years."""
        outcome = Outcome(
            comparison=self.comparison,
            number=self.number,
            name=self.name,
            data_type=self.data_type,
            id=self.id,
            subgroups=self.subgroups or bool(self.subgroup_names),
            totals=self.totals,
            subtotals=self.subtotals,
            subgroup_test=self.subgroup_test,
            group_labels=(self.group_labels[0], self.group_labels[1]),
            graph_labels=(self.graph_labels[0], self.graph_labels[1]),
            scale=self.scale,
            sort_by=self.sort_by,
        )
        self._twice()
        if self.error is None:
            try:
                settings = self._settings()
                studies = self._records(label, settings)
                self._missing_rows(studies)
            except InputError as exc:
                self.error = str(exc)
            else:
                return attrs.evolve(
                    outcome,
                    studies=studies,
                    settings=settings,
                    study_ids=tuple(row.study_id for row in self.rows),
                    study_order=tuple(row.order for row in self.rows),
                    study_years=tuple(year(row.study_id) for row in self.rows),
                    footnotes=tuple(row.footnote for row in self.rows),
                    revman=self._revman(),
                )
        return attrs.evolve(outcome, error=f"{self.context}: {self.error}")

    def state(self, field: str, name: str, text: str | None) -> None:
        """Note the participants (``total_exp``, ``total_ctrl``) the outcome's row states,
        for the data types whose study records count them."""
        if self.data_type not in (DataType.DICHOTOMOUS, DataType.CONTINUOUS):
            return
        value = self.value("", name, text)
        if value > 0:
            self.stated[field] = (name, value)

    def _twice(self) -> None:
        seen = set()
        for row in self.rows:
            key = (row.study_id, row.subgroup)
            if key in seen:
                where = (
                    ""
                    if row.subgroup is None
                    else f" in subgroup {self.subgroup_names[row.subgroup]!r}"
                )
                self.fail(f"study {row.study_id!r} is listed twice{where}")
            seen.add(key)

    def _missing_rows(self, studies: Sequence[Study]) -> None:
        for field, (name, value) in self.stated.items():
            found = sum(getattr(s, field, None) or 0 for s in studies)
            if found < value:
                raise InputError(
                    f"its {name} is {value:g} but its {len(studies)} study rows add up to "
                    f"{found:g}: study rows are missing (a truncated file?)"
                )

    def _settings(self) -> dict[str, Any]:
        if self.data_type is None:
            raise InputError(
                f"outcome type {self.kind!r} is not one metapool analyses "
                "(dichotomous, continuous, O-E and variance, generic inverse variance)"
            )
        names = _MEASURES
        if self.data_type is DataType.O_MINUS_E:
            names = {**_MEASURES, **_O_MINUS_E_MEASURES}
        measure = self.measure and names.get(self.measure.strip().upper(), self.measure)
        method = self.method and _METHODS.get(self.method.strip().upper(), self.method)
        kwargs: dict[str, Any] = {
            "measure": measure,
            "method": method,
            "model": "random" if self.random else "fixed",
            # RevMan stores levels in percent
            "ci_level": 0.95 if self.ci_total is None else self.ci_total / 100,
            "study_ci_level": None if self.ci_study is None else self.ci_study / 100,
        }
        if self.data_type is DataType.DICHOTOMOUS:
            kwargs["swap_events"] = self.swap_events
        if self.data_type is DataType.GENERIC:
            kwargs["ratio"] = self.ratio
        s = resolve(self.data_type, **kwargs)
        out: dict[str, Any] = {
            "measure": s.measure,
            "method": s.method.value,
            "model": s.model.value,
            "ci_level": s.ci_level,
            "study_ci_level": s.study_ci_level,
        }
        if self.data_type is DataType.DICHOTOMOUS:
            out["swap_events"] = s.swap_events
        if self.data_type is DataType.GENERIC:
            out["ratio"] = s.ratio
        return out

    def _records(
        self, label: Callable[[str], str], settings: Mapping[str, Any]
    ) -> tuple[Study, ...]:
        """The study records: cells parsed and validated as columns, each record built
        alone (:meth:`_record`) only where that finds a problem, to name it."""
        assert self.data_type is not None
        kind, fields = RECORDS[self.data_type], FIELDS[self.data_type]
        parsed = [_column([row.cells[f][1] for row in self.rows]) for f in fields]
        columns = {f: c for f, c in zip(fields, parsed, strict=True) if c is not None}
        if len(columns) < len(fields) or not self.rows:  # text the slow path names
            return tuple(self._record(row, label(row.study_id), settings) for row in self.rows)
        ok = accepted(columns)
        if self.exponentiated and settings.get("ratio"):
            estimate = columns["estimate"]
            ok &= estimate > 0
            columns["estimate"] = np.log(np.where(ok, estimate, 1.0))
        values = [
            (np.where(ok, c, 0).astype(np.int64) if f in COUNTS else c).tolist()
            for f, c in columns.items()
        ]
        names = self.subgroup_names
        studies = [label(row.study_id) for row in self.rows]
        subgroups = [None if row.subgroup is None else names[row.subgroup] for row in self.rows]
        ok &= np.array([bool(s.strip()) for s in studies])
        fast = iter(
            unchecked(
                kind,
                ("study", "subgroup", *columns),
                (
                    t
                    for t, good in zip(
                        zip(studies, subgroups, *values, strict=True), ok, strict=True
                    )
                    if good
                ),
            )
        )
        return tuple(
            next(fast) if good else self._record(row, study, settings)
            for row, study, good in zip(self.rows, studies, ok, strict=True)
        )

    def _record(self, row: Row, study: str, settings: Mapping[str, Any]) -> Study:
        assert self.data_type is not None
        where = f"study {row.study_id!r}"
        values: dict[str, float | None] = {}
        for field, (name, text) in row.cells.items():
            try:
                values[field] = number(text)
            except ValueError:
                raise InputError(f"{where}: {name} = {text!r} is not a number") from None
        estimate = values.get("estimate")
        if self.exponentiated and settings.get("ratio") and estimate is not None:
            if estimate <= 0:
                name = row.cells["estimate"][0]
                raise InputError(
                    f"{where}: {name} = {estimate!r} must be positive: the file stores "
                    f"{settings['measure']} estimates as ratios"
                )
            values["estimate"] = math.log(estimate)
        subgroup = None if row.subgroup is None else self.subgroup_names[row.subgroup]
        names = {field: name for field, (name, _) in row.cells.items()}
        return record(self.data_type, study, subgroup, values, where, names)

    def _revman(self) -> RevManResults | None:
        studies = tuple(row.stored for row in self.rows)
        subgroups = {
            name: results
            for name, results in zip(self.subgroup_names, self.stored_subgroups, strict=True)
            if results is not None
        }
        pooled = [p for p in (self.stored_total, *subgroups.values()) if p is not None]
        values = itertools.chain(
            (
                v
                for p in pooled
                for v in (p.estimate, p.ci_lower, p.ci_upper, p.z, p.p_value, p.q, p.i2, p.tau2)
            ),
            (v for s in studies for v in (s.estimate, s.ci_lower, s.ci_upper, s.se, s.weight)),
        )
        # RevMan Web writes zeros for results it did not compute: nothing stored
        if not any(math.isfinite(v) and v != 0 for v in values):
            return None
        return RevManResults(
            decimals=self.decimals,
            total=self.stored_total,
            studies=studies,
            subgroups=subgroups,
            subgroup_differences=self.stored_test,
        )
