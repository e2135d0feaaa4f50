"""Cochrane data packages as RevMan Web exports them (version 1 layout).

A zip with ``<id>-analysis-data/`` holding ``<id>-overall-estimates-and-settings.csv``
(one row per analysis: settings and RevMan's pooled results),
``<id>-data-rows.csv`` (one row per study and analysis: data and RevMan's
study results) and ``<id>-subgroup-estimates.csv``, and ``<id>-study-data/``
with ``<id>-study-information.csv``. Files are UTF-8 with a byte order mark;
results carry 6 decimals. Ratio analyses keep generic data (``GIV Mean``) on
the log scale and results (``Mean``, ``CI start``, ``CI end``) on the natural scale.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import attrs

from metapool.errors import InputError
from metapool.io._cells import Table, decimals, decode, normalise
from metapool.io._draft import Draft, duplicate_numbers, stored_pooled
from metapool.io._source import Archive, file_name
from metapool.io.review import Comparison, Review, StoredPooled, StoredTest, StudyInfo
from metapool.io.risk_of_bias import from_table

__all__ = ["read_datapackage"]

_OVERALL = "-overall-estimates-and-settings.csv"
_DATA_ROWS = "-data-rows.csv"
_SUBGROUPS = "-subgroup-estimates.csv"
_STUDIES = "-study-information.csv"
_RISK_OF_BIAS = "-risk-of-bias.csv"

# record field -> column of the data rows
_COLUMNS = {
    "events_exp": "Experimental cases",
    "total_exp": "Experimental N",
    "events_ctrl": "Control cases",
    "total_ctrl": "Control N",
    "mean_exp": "Experimental mean",
    "sd_exp": "Experimental SD",
    "mean_ctrl": "Control mean",
    "sd_ctrl": "Control SD",
    "o_minus_e": "O-E",
    "variance": "Variance",
    "estimate": "GIV Mean",
    "se": "GIV SE",
}
_POOLED = (
    ("estimate", "Mean"),
    ("ci_lower", "CI start"),
    ("ci_upper", "CI end"),
    ("z", "Effect Z"),
    ("p_value", "Effect P"),
    ("q", "Heterogeneity Chi²"),
    ("df", "Heterogeneity df"),
    ("p_q", "Heterogeneity P"),
    ("i2", "Heterogeneity I²"),
    ("tau2", "Heterogeneity Tau²"),
)
_TEST = (
    ("q", "Subgroup Chi²"),
    ("df", "Subgroup df"),
    ("p_value", "Subgroup P"),
    ("i2", "Subgroup I²"),
)
_STUDY = ("Mean", "CI start", "CI end", "SE", "Weight")  # the data rows carry no SE: NaN
# setting (as Draft.setting reads it) -> column
_SETTINGS = {
    "model": "Analysis model",
    "ci_study": "Study CI",
    "ci_total": "Estimate CI",
    "swap_events": "Swap event and non-event",
    "ratio": "Log-scale data",
    "totals": "Overall estimates",
    "subtotals": "Subgroup estimates",
    "subgroup_test": "Test for subgroup differences",
}
_NESTED = re.compile(r"(?:^|/)([^/]+)-files/\1-data\.zip$")  # in RevMan Web's Export zip
_BOTH = "SUBGROUP_AND_OVERALL"  # a row in its subgroup and in the total


def read_datapackage(path: str | os.PathLike[str]) -> Review:
    """Read a Cochrane data package exported by RevMan Web.

    Parameters
    ----------
    path : str or path-like
        The ``.zip`` file: the data package, or the zip RevMan Web's Export
        button writes, which nests it as ``<id>-files/<id>-data.zip`` beside
        the review's PDF and forest plots.

    Returns
    -------
    Review
        As :func:`~metapool.io.rm5.read_rm5`. Results RevMan Web did not
        compute (written as zeros) are not stored (``outcome.revman`` is None).
        An outcome whose study rows do not add up to the participants its
        overall row states (rows missing), or that lists a study twice, or
        shares its number with another, carries an ``error``.

    Raises
    ------
    InputError
        The file is not a readable zip or data package: damaged, encrypted, with
        unsafe member names or a member that inflates beyond 64 MiB.

    Examples
    --------
    >>> from metapool import examples
    >>> review = read_datapackage(examples.path("aspirin.zip"))
    >>> [(o.key, o.settings["measure"], o.settings["model"]) for o in review.outcomes]
    [('1.1', 'OR', 'fixed'), ('1.2', 'RR', 'random')]
    >>> review.outcome("1.1").revman.decimals   # RevMan Web keeps 6 decimals
    6
    """
    source = file_name(path)
    archive = _package(Archive(source))
    tables = {
        suffix: _table(archive, suffix)
        for suffix in (_OVERALL, _DATA_ROWS, _SUBGROUPS, _STUDIES, _RISK_OF_BIAS)
    }
    overall, rows = tables[_OVERALL], tables[_DATA_ROWS]
    if overall is None or rows is None:
        missing = _OVERALL if overall is None else _DATA_ROWS
        raise InputError(f"{source}: not a RevMan data package: no file '*{missing}' in the zip")
    overall.require("Analysis group", "Analysis number", "Data type", "Effect measure")
    rows.require("Analysis group", "Analysis number", "Study")
    review = _Reader(source, overall, rows, tables[_SUBGROUPS], tables[_STUDIES]).review()
    rob = tables[_RISK_OF_BIAS]
    return review if rob is None else attrs.evolve(review, risk_of_bias=from_table(rob))


def _package(archive: Archive) -> Archive:
    """The data package: the zip itself, or the one RevMan Web's Export zip nests as
    ``<id>-files/<id>-data.zip`` beside the review's PDF and forest plots."""
    if any(name.endswith(_OVERALL) for name in archive.names):
        return archive
    found = [n for n in archive.names if _NESTED.search(n)]
    nested = _one(archive, found, "data packages", "metapool reads one")
    if nested is None:
        return archive
    inner = Archive(f"{archive.source}:{nested}", archive.read(nested))
    if any(_NESTED.search(name) for name in inner.names):
        raise InputError(f"{inner.source}: a data package nested in a data package")
    return inner


def _table(archive: Archive, suffix: str) -> Table | None:
    found = [n for n in archive.names if n.endswith(suffix)]
    name = _one(archive, found, f"files '*{suffix}'", "a data package has one")
    if name is None:
        return None
    where = f"{archive.source}:{name}"
    return Table.parse(decode(archive.read(name), where), where)


def _one(archive: Archive, names: list[str], what: str, rule: str) -> str | None:
    """The one of ``names`` (None: there is none); more than one breaks ``rule``."""
    if len(names) > 1:
        raise InputError(
            f"{archive.source}: the zip holds {len(names)} {what} ({', '.join(names[:3])}); {rule}"
        )
    return names[0] if names else None


def _key(cells: dict[str, str], table: Table, line: int) -> tuple[int, int]:
    try:
        return int(cells.get("analysisgroup", "")), int(cells.get("analysisnumber", ""))
    except ValueError:
        raise InputError(
            f"{table.source}: "
            + table.misfits.get(
                line, f"line {line}: Analysis group and Analysis number must be whole numbers"
            )
        ) from None


class _Reader:
    def __init__(
        self,
        source: str,
        overall: Table,
        rows: Table,
        subgroups: Table | None,
        studies: Table | None,
    ) -> None:
        self.source = source
        self.overall = overall
        self.rows = rows
        self.subgroups = subgroups
        self.studies = studies
        self.years: dict[str, str | None] = {}
        texts = [
            cells.get(normalise(column), "")
            for table, columns in (
                (overall, [c for _, c in _POOLED + _TEST]),
                (rows, _STUDY),
                (subgroups, [c for _, c in _POOLED]),
            )
            if table is not None
            for _, cells in table.rows
            for column in columns
        ]
        self.decimals = decimals(t for t in texts if t.strip())

    def review(self) -> Review:
        comparisons: dict[int, tuple[str, list[Draft]]] = {}
        drafts: dict[tuple[int, int], Draft] = {}
        for line, cells in self.overall.rows:
            group, number = _key(cells, self.overall, line)
            name = cells.get("analysisgroupname", "").strip()
            draft = self._outcome(group, number, cells)
            # a second row of the same number keeps the first's study rows: both are marked
            drafts.setdefault((group, number), draft)
            comparisons.setdefault(group, (name, []))[1].append(draft)
            if line in self.overall.misfits:
                draft.fail(self.overall.misfits[line])
        duplicate_numbers(d for _, outcomes in comparisons.values() for d in outcomes)
        subtotals = self._subtotals()
        for line, cells in self.rows.rows:
            key = _key(cells, self.rows, line)
            if key not in drafts:
                raise InputError(
                    f"{self.rows.source}: line {line}: analysis {key[0]}.{key[1]} is not "
                    "listed in the overall estimates and settings"
                )
            if line in self.rows.misfits:
                drafts[key].fail(f"{Path(self.rows.source).name}: {self.rows.misfits[line]}")
            else:
                self._study(drafts[key], cells, subtotals)
        return Review(
            title=Path(self.source).stem,
            studies=self._study_information(),
            comparisons=tuple(
                Comparison(number, name, tuple(d.finish(str, self.years.get) for d in outcomes))
                for number, (name, outcomes) in comparisons.items()
            ),
            source=self.source,
            format="datapackage",
        )

    def _outcome(self, group: int, number: int, cells: dict[str, str]) -> Draft:
        draft = Draft(
            source=self.source,
            comparison=group,
            number=number,
            name=cells.get("analysisname", "").strip(),
            id=cells.get("id", "").strip() or cells.get("analysisid", "").strip() or None,
            decimals=self.decimals,
        )
        draft.read_type(cells, "Effect measure")
        for key, column in _SETTINGS.items():
            draft.setting(key, column, cells.get(normalise(column)))
        for index, column in enumerate(("Experimental group label", "Control group label")):
            draft.group_labels[index] = (
                cells.get(normalise(column), "").strip() or draft.group_labels[index]
            )
        draft.stored_total = _pooled(draft, cells)
        draft.stored_test = StoredTest(
            **{key: draft.value("", c, cells.get(normalise(c))) for key, c in _TEST}
        )
        draft.state(_COLUMNS, lambda c: cells.get(normalise(c)))
        return draft

    def _subtotals(self) -> dict[tuple[int, int, str], dict[str, str]]:
        found: dict[tuple[int, int, str], dict[str, str]] = {}
        if self.subgroups is not None:
            for line, cells in self.subgroups.rows:
                group, number = _key(cells, self.subgroups, line)
                found[(group, number, cells.get("subgroup", "").strip())] = cells
        return found

    def _study(
        self,
        draft: Draft,
        cells: dict[str, str],
        subtotals: dict[tuple[int, int, str], dict[str, str]],
    ) -> None:
        study = cells.get("study", "").strip()
        applicability = cells.get("applicability", "").strip()
        if applicability not in ("", _BOTH):
            draft.fail(
                f"study {study!r}: Applicability {applicability!r} (a row in the total or in "
                f"its subgroup only) is not supported; metapool analyses {_BOTH} rows"
            )
        name = cells.get("subgroup", "").strip()
        subgroup = None
        if name:
            if name not in draft.subgroup_names:
                subtotal = subtotals.get((draft.comparison, draft.number, name))
                draft.add_subgroup(name, None if subtotal is None else _pooled(draft, subtotal))
            subgroup = draft.subgroup_names.index(name)
        draft.add_study_row(
            study,
            subgroup,
            self.rows,
            _COLUMNS,
            cell=lambda c: cells.get(normalise(c)),
            result=lambda where, c: draft.value(where, c, cells.get(normalise(c))),
            results=_STUDY,
            footnote=cells.get("footnotes", "").strip(),
        )
        self.years.setdefault(study, cells.get("studyyear", "").strip() or None)

    def _study_information(self) -> tuple[StudyInfo, ...]:
        if self.studies is None:
            return ()
        return tuple(
            StudyInfo(name, name, cells.get("year", "").strip() or None)
            for _, cells in self.studies.rows
            if (name := cells.get("study", "").strip())
        )


def _pooled(draft: Draft, cells: dict[str, str]) -> StoredPooled:
    return stored_pooled({key: draft.value("", c, cells.get(normalise(c))) for key, c in _POOLED})
