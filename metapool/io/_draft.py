"""One outcome as a reader assembles it, shared by the three RevMan readers.

A reader fills one :class:`Draft` per outcome with the text of the file's
cells; :meth:`Draft.finish` turns it into an :class:`~metapool.io.review.Outcome`,
so that parsing numbers, resolving settings, building study records and the
error messages are the same for ``.rm5``, CSV exports and data packages.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from metapool.errors import InputError
from metapool.io._cells import (
    Table,
    column,
    data_type,
    level,
    model_is_random,
    number,
    record,
    stored,
    yes_no,
)
from metapool.io.review import Outcome, RevManResults, StoredPooled, StoredStudy, StoredTest
from metapool.records import COUNTS, FIELDS, RECORD, Study, accepted, unchecked
from metapool.vocabulary import DataType, resolve

__all__ = ["Draft", "Row", "duplicate_numbers", "stored_pooled", "stored_study"]

NAN = math.nan

_POOLED_FIELDS = tuple(f.name for f in attrs.fields(StoredPooled) if f.name != "estimable")

# setting -> (the Draft attribute it sets, how its text reads), the same in every format;
# the readers say where each stands. "model" is the exports' spelling of "random": the
# model by name ("Random effects", "Fixed") where RevMan 5 has a YES/NO flag.
_SETTINGS: dict[str, tuple[str, Callable[[str], object]]] = {
    "random": ("random", yes_no),
    "model": ("random", model_is_random),
    "ci_study": ("ci_study", level),
    "ci_total": ("ci_total", level),
    "swap_events": ("swap_events", yes_no),
    "ratio": ("ratio", yes_no),
    "subgroups": ("subgroups", yes_no),
    "totals": ("totals", yes_no),
    "subtotals": ("subtotals", yes_no),
    "subgroup_test": ("subgroup_test", yes_no),
    "scale": ("scale", number),  # the forest plot's axis
    "sort_by": ("sort_by", str.upper),
}

# names RevMan writes that metapool's vocabulary does not know
_MEASURES = {"HAZARD RATIO": "HR"}
_O_MINUS_E_MEASURES = {"OR": "PETO_OR", "ODDS RATIO": "PETO_OR"}  # Peto's O-E odds ratio
_METHODS = {"EXP_O_E_VAR": "PETO"}  # O-E data: exp[(O-E)/V], Peto's pooling


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


def duplicate_numbers(drafts: Iterable[Draft]) -> None:
    """Mark broken every outcome whose number another outcome of the file has too."""
    found: dict[tuple[int, int], list[Draft]] = {}
    for draft in drafts:
        found.setdefault((draft.comparison, draft.number), []).append(draft)
    for (comparison, numbered), same in found.items():
        if len(same) > 1:
            for draft in same:
                draft.fail(f"{len(same)} outcomes are numbered {comparison}.{numbered}")


@attrs.frozen
class Row:
    """One study row of a draft outcome: the text of its data cells, its stored results."""

    study_id: str
    subgroup: int | None
    # record field -> (the file's name for the cell, its text; None when absent)
    cells: Mapping[str, tuple[str, str | None]]
    stored: StoredStudy = attrs.Factory(StoredStudy)
    order: float = NAN  # RevMan's user-defined order of the row
    footnote: str = ""  # the study's footnotes, joined; the record's footnote where not empty


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

    def read_type(self, cells: Mapping[str, str], measure: str) -> None:
        """The data type, effect measure and statistical method from the outcome's row
        of a table export (``cells`` by normalised header); an empty ``measure`` cell
        (the header as the file names it) marks the outcome broken."""
        self.kind = cells.get("datatype", "").strip()
        self.data_type = data_type(self.kind)
        self.measure = cells.get("effectmeasure", "").strip() or None
        self.method = cells.get("statisticalmethod", "").strip() or None
        if self.measure is None:
            self.fail(f"the {measure} cell is empty")

    def setting(self, key: str, name: str, text: str | None) -> None:
        """Set the setting ``key`` (``name``: where the file holds it, for messages) from
        the file's text; an empty cell keeps the default."""
        if text is None or not text.strip():
            return
        attribute, parse = _SETTINGS[key]
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

    def add_study_row(
        self,
        study: str,
        subgroup: int | None,
        table: Table,
        names: Mapping[str, str],
        cell: Callable[[str], str | None],
        result: Callable[[str, str], float],
        results: Sequence[str],
        *,
        order: float = NAN,
        footnote: str = "",
    ) -> None:
        """Append a study row of a table export.

        ``names`` maps data fields to headers (see :meth:`columns`), ``cell`` gives the
        text under a header (None when absent), ``result(where, key)`` a stored value
        of ``results`` (estimate, CI start, CI end, SE, weight).
        """
        columns = self.columns(table, names)
        where = f"study {study!r}: "
        self.rows.append(
            Row(
                study_id=study,
                subgroup=subgroup,
                cells={f: (c, cell(c)) for f, c in columns.items()},
                stored=stored_study([result(where, key) for key in results]),
                order=order,
                footnote=footnote,
            )
        )

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
        if self.error is None and self.kind == "OTHER_OUTCOME":
            return attrs.evolve(outcome, not_pooled="it holds other data, which RevMan never pools")
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

    def state(self, names: Mapping[str, str], cell: Callable[[str], str | None]) -> None:
        """Note the participants (``total_exp``, ``total_ctrl``) the outcome's row of a
        table export states, for the data types whose study records count them
        (``names`` and ``cell`` as for :meth:`add_study_row`)."""
        if self.data_type not in (DataType.DICHOTOMOUS, DataType.CONTINUOUS):
            return
        for field in ("total_exp", "total_ctrl"):
            name = names[field]
            value = self.value("", name, cell(name))
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
        kind, fields = RECORD[self.data_type], FIELDS[self.data_type]
        parsed = [column([row.cells[f][1] for row in self.rows]) for f in fields]
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
        footnotes = [row.footnote or None for row in self.rows]
        fast = iter(
            unchecked(
                kind,
                ("study", "subgroup", "footnote", *columns),
                (
                    t
                    for t, good in zip(
                        zip(studies, subgroups, footnotes, *values, strict=True), ok, strict=True
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
        return record(self.data_type, study, subgroup, values, where, names, row.footnote or None)

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
