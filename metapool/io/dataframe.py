"""Tables in and out: study records from a DataFrame, results as tidy rows.

pandas is optional (``pip install metapool[pandas]``) and imported only when
a DataFrame is made; :func:`result_rows` needs nothing beyond the standard
library (the command line writes its CSV from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import TYPE_CHECKING, Any

from metapool.errors import InputError
from metapool.io._common import FIELDS, data_type, number, record
from metapool.records import Study
from metapool.report import effect_text
from metapool.vocabulary import DataType, Model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metapool.pooling.engine import PoolResult
    from metapool.results import Interval, MetaAnalysis, Subgroup

__all__ = [
    "RESULT_COLUMNS",
    "SETTINGS_COLUMNS",
    "from_dataframe",
    "pool_result_to_dataframe",
    "result_rows",
    "result_to_dataframe",
]

#: the result columns of :func:`result_rows`, after the study data fields
RESULT_COLUMNS = (
    "estimable", "estimate", "ci_lower", "ci_upper", "se", "weight",
    "k", "z", "p_value", "q", "df", "p_q", "i2", "tau2",
    "tau2_ci_lower", "tau2_ci_upper", "i2_ci_lower", "i2_ci_upper", "pi_lower", "pi_upper",
    "text",
)  # fmt: skip

#: the analysis settings :func:`result_rows` repeats on every row, before the data fields
SETTINGS_COLUMNS = (
    "measure", "method", "model", "tau2_method", "ci_level", "study_ci_level", "hksj",
)  # fmt: skip


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is installed in the test environment
        raise InputError(
            "DataFrames need pandas: install it with  pip install metapool[pandas]"
        ) from None
    return pandas


def _kind(kind: str | DataType) -> DataType:
    if isinstance(kind, DataType):
        return kind
    found = data_type(kind) or next((t for t in DataType if t.value == kind.strip().lower()), None)
    if found is None:
        raise InputError(f"unknown kind {kind!r}; allowed: {', '.join(t.value for t in DataType)}")
    return found


def from_dataframe(
    df: pd.DataFrame,
    kind: str | DataType = "dichotomous",
    *,
    study: str = "study",
    subgroup: str | None = None,
    **columns: str,
) -> list[Study]:
    """Study records from the rows of a DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per study.
    kind : {"dichotomous", "continuous", "o_minus_e", "generic"}
        The record type (RevMan's short names ``"DIC"``, ``"CON"``, ``"IV"``,
        ``"OE"`` work too).
    study : str
        Column with the study names.
    subgroup : str, optional
        Column with the subgroup names (empty cells: no subgroup).
    **columns : str
        Column of each record field when it is not named like the field, e.g.
        ``events_exp="deaths_aspirin"``. Fields: ``events_exp``, ``total_exp``,
        ``events_ctrl``, ``total_ctrl`` (dichotomous); ``mean_exp``, ``sd_exp``,
        ``total_exp``, ``mean_ctrl``, ``sd_ctrl``, ``total_ctrl`` (continuous);
        ``o_minus_e``, ``variance``; ``estimate``, ``se`` (generic).

    Returns
    -------
    list
        :class:`~metapool.Dichotomous`, :class:`~metapool.Continuous`,
        :class:`~metapool.OMinusE` or :class:`~metapool.Generic` records. Empty
        cells (NaN, None) become None: the study is analysed as not estimable.

    Raises
    ------
    InputError
        A column is missing (the message lists the DataFrame's columns), or a
        cell is not a number (the message names the row, study and column).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"author": ["MRC-1", "CDP"], "d1": [49, 44], "n1": [615, 758],
    ...                    "d0": [67, 64], "n0": [624, 771]})
    >>> studies = from_dataframe(df, study="author", events_exp="d1", total_exp="n1",
    ...                          events_ctrl="d0", total_ctrl="n0")
    >>> studies[1]  # doctest: +NORMALIZE_WHITESPACE
    Dichotomous(study='CDP', events_exp=44, total_exp=758, events_ctrl=64,
                total_ctrl=771, subgroup=None)
    """
    pd_ = _pandas()
    dtype = _kind(kind)
    fields = FIELDS[dtype]
    unknown = sorted(set(columns) - set(fields))
    if unknown:
        raise InputError(
            f"{', '.join(unknown)}: not a field of {dtype.value} data; fields: {', '.join(fields)}"
        )
    mapping = {f: columns.get(f, f) for f in fields}
    wanted = [study, *mapping.values(), *([subgroup] if subgroup is not None else [])]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InputError(
            f"no column {', '.join(map(repr, missing))} in the DataFrame; its columns: "
            f"{', '.join(map(str, df.columns))}"
        )

    def empty(value: Any) -> bool:
        return value is None or bool(pd_.api.types.is_scalar(value) and pd_.isna(value))

    names = {f: f"column {c!r}" for f, c in mapping.items() if f != c}
    # column by column keeps each column's type (iterrows would turn 1 into 1.0)
    cells = {c: df[c].tolist() for c in dict.fromkeys(wanted)}
    records: list[Study] = []
    for position, index in enumerate(df.index):
        name = cells[study][position]
        where = f"row {index!r}" if index != position else f"row {position}"
        if empty(name) or not str(name).strip():
            raise InputError(f"{where}: the study name (column {study!r}) is empty")
        where = f"{where} (study {str(name)!r})"
        values = {f: _cell(cells[c][position], f, c, where, empty) for f, c in mapping.items()}
        group = None if subgroup is None else cells[subgroup][position]
        label = None if group is None or empty(group) else str(group)
        records.append(record(dtype, str(name), label, values, where, names))
    return records


def _cell(
    value: Any, field: str, column: str, where: str, empty: Callable[[Any], bool]
) -> float | None:
    if empty(value):
        return None
    problem = f"{where}: column {column!r} ({field}) = {value!r} is not a number"
    if isinstance(value, str):  # e.g. a column read from a file without a numeric dtype
        try:
            return number(value)
        except ValueError:
            raise InputError(problem) from None
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise InputError(problem)


def _interval(interval: Interval | None) -> tuple[float, float]:
    return (math.nan, math.nan) if interval is None else (interval.lower, interval.upper)


def _pooled_row(part: Subgroup, row: str, name: str | None, weight: float) -> dict[str, Any]:
    t, h = part.total, part.heterogeneity
    tau2_ci, i2_ci, pi = _interval(h.tau2_ci), _interval(h.i2_ci), _interval(part.prediction)
    return {
        "row": row,
        "subgroup": name,
        "study": None,
        "estimable": part.estimable,
        "estimate": t.estimate,
        "ci_lower": t.ci_lower,
        "ci_upper": t.ci_upper,
        "se": t.se,
        "weight": weight,
        "k": part.k,
        "z": t.z,
        "p_value": t.p_value,
        "q": h.q,
        "df": h.df,
        "p_q": h.p_value,
        "i2": h.i2,
        "tau2": h.tau2,
        "tau2_ci_lower": tau2_ci[0],
        "tau2_ci_upper": tau2_ci[1],
        "i2_ci_lower": i2_ci[0],
        "i2_ci_upper": i2_ci[1],
        "pi_lower": pi[0],
        "pi_upper": pi[1],
        "text": effect_text(t.estimate, t.ci_lower, t.ci_upper),
    }


def _settings(res: MetaAnalysis) -> dict[str, Any]:
    s = res.settings
    random = s.model is Model.RANDOM
    return {
        "measure": s.measure,
        "method": s.method.value,
        "model": s.model.value,
        "tau2_method": s.tau2 if random else None,
        "ci_level": s.ci_level,
        "study_ci_level": s.study_ci_level,
        "hksj": s.hksj,
    }


def result_rows(res: MetaAnalysis) -> list[dict[str, Any]]:
    """A result as tidy rows: each study, each subgroup total, the overall total.

    Columns: ``row`` (``"study"``, ``"subgroup"``, ``"total"``, and
    ``"subgroup differences"`` for the test for subgroup differences when
    there are subgroups), ``subgroup``, ``study``, the settings
    (:data:`SETTINGS_COLUMNS`: ``measure``, ``method``, ``model``,
    ``tau2_method``, ``ci_level``, ``study_ci_level``, ``hksj``), the
    study's data fields, then ``estimable``, ``estimate``, ``ci_lower``,
    ``ci_upper`` (natural scale), ``se`` (analysis scale), ``weight`` (percent
    of the overall analysis; a subgroup's is its share), ``k``, ``z``,
    ``p_value``, ``q``, ``df``, ``p_q``, ``i2``, ``tau2``, the Q-profile
    intervals ``tau2_ci_lower``/``tau2_ci_upper`` and ``i2_ci_lower``/``i2_ci_upper``,
    the prediction interval ``pi_lower``/``pi_upper`` (NaN unless computed),
    and ``text``, the effect as RevMan prints it (``0.72 [0.49, 1.06]``).
    The subgroup-differences row has ``q``, ``df``, ``p_q`` (its P-value) and
    ``i2``. Missing values are None or NaN.

    Examples
    --------
    >>> import metapool
    >>> rows = result_rows(metapool.analyse(metapool.examples.aspirin(), measure="OR"))
    >>> [r["row"] for r in rows][-2:], round(rows[-1]["estimate"], 4), rows[-1]["text"]
    (['study', 'total'], 0.8969, '0.90 [0.84, 0.96]')
    """
    fields = FIELDS[res.settings.data_type]
    settings = _settings(res)
    blank = {
        **dict.fromkeys(("row", "subgroup", "study")),
        **settings,
        **dict.fromkeys((*fields, *RESULT_COLUMNS)),
    }
    rows: list[dict[str, Any]] = []
    for s in res.studies:
        rows.append(
            {
                **blank,
                "row": "study",
                "subgroup": s.subgroup,
                "study": s.study,
                **{f: getattr(s.data, f) for f in fields},
                "estimable": s.estimable,
                "estimate": s.estimate,
                "ci_lower": s.ci_lower,
                "ci_upper": s.ci_upper,
                "se": s.se,
                "weight": s.weight,
                "text": effect_text(s.estimate, s.ci_lower, s.ci_upper),
            }
        )
    for name, part in res.subgroups.items():
        share = math.fsum(s.weight for s in res.studies if s.subgroup == name and s.estimable)
        rows.append({**blank, **_pooled_row(part, "subgroup", name, share)})
    total = math.fsum(s.weight for s in res.studies if s.estimable)
    rows.append({**blank, **_pooled_row(res, "total", None, total)})
    test = res.subgroup_differences
    if test is not None:
        rows.append(
            {
                **blank,
                "row": "subgroup differences",
                "q": test.q,
                "df": test.df,
                "p_q": test.p_value,
                "i2": test.i2,
            }
        )
    return rows


def result_to_dataframe(res: MetaAnalysis) -> pd.DataFrame:
    """:func:`result_rows` as a pandas DataFrame (``MetaAnalysis.to_dataframe()``).

    Examples
    --------
    >>> import metapool
    >>> df = metapool.analyse(metapool.examples.aspirin(), measure="OR").to_dataframe()
    >>> df.shape, list(df["row"].unique())
    ((8, 35), ['study', 'total'])
    >>> df["text"].iloc[-1]
    '0.90 [0.84, 0.96]'
    """
    result: pd.DataFrame = _pandas().DataFrame(result_rows(res))
    return result


def pool_result_to_dataframe(res: PoolResult) -> pd.DataFrame:
    """:class:`~metapool.PoolResult` as a DataFrame, one row per analysis.

    What ``PoolResult.to_dataframe()`` returns.

    Columns: ``group`` (the label), ``k``, ``estimate``, ``se``, ``ci_lower``,
    ``ci_upper``, ``z``, ``p_value``, ``q``, ``df``, ``p_q``, ``i2``, ``h2``,
    ``i2_tau2``, ``h2_tau2``, ``tau2``, ``converged``, and the intervals that
    were asked for (``pi_lower``, ``pi_upper``, ``tau2_ci_lower``, ...). Values
    are on the analysis scale (log for ratios), as in the record.

    Examples
    --------
    >>> import metapool
    >>> res = metapool.pool([0.1, 0.3, 0.2, -0.1, 0.4], [0.01, 0.02, 0.015, 0.02, 0.03],
    ...                     groups=["a", "a", "a", "b", "b"])
    >>> res.to_dataframe()[["group", "k", "estimate"]].round(4)
      group    k  estimate
    0     a  3.0    0.1769
    1     b  2.0    0.1400
    """
    columns = [
        "k", "estimate", "se", "ci_lower", "ci_upper", "z", "p_value", "q", "df", "p_q",
        "i2", "h2", "i2_tau2", "h2_tau2", "tau2", "converged",
    ]  # fmt: skip
    optional = [
        "pi_lower", "pi_upper", "tau2_ci_lower", "tau2_ci_upper",
        "i2_ci_lower", "i2_ci_upper", "h2_ci_lower", "h2_ci_upper",
    ]  # fmt: skip
    data: dict[str, Any] = {"group": res.groups}
    data.update({c: getattr(res, c) for c in columns})
    data.update({c: v for c in optional if (v := getattr(res, c)) is not None})
    frame: pd.DataFrame = _pandas().DataFrame(data)
    return frame
