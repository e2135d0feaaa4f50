"""Tables in and out: study records from a DataFrame, results as tidy rows.

pandas is optional (``pip install 'metapool[pandas]'``) and imported only when
a DataFrame is made; :func:`result_rows` needs nothing beyond the standard
library (the command line writes its CSV from it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from metapool import prepare
from metapool._extras import pandas
from metapool._typing import BoolArray, FloatArray
from metapool.errors import InputError
from metapool.io._cells import data_type, number, record
from metapool.records import FIELDS, Study
from metapool.table import effect_text, shown
from metapool.vocabulary import DataType, Model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metapool.pooling.engine import PoolResult
    from metapool.results import Interval, MetaAnalysis, Subgroup

__all__ = [
    "CONVERSION_FIELDS",
    "RESULT_COLUMNS",
    "SETTINGS_COLUMNS",
    "from_dataframe",
    "pool_result_to_dataframe",
    "result_rows",
    "result_to_dataframe",
]

#: optional continuous columns a missing mean or SD is converted from, per arm
CONVERSION_FIELDS = tuple(
    f"{source}_{arm}"
    for arm in ("exp", "ctrl")
    for source in ("se", "ci_lower", "ci_upper", "median", "q1", "q3", "min", "max")
)

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
    footnote: str | None = None,
    mean_method: str = "Luo",
    sd_method: str = "Shi",
    **columns: str,
) -> list[Study]:
    """Study records from the rows of a DataFrame, converting what trials reported.

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
    footnote : str, optional
        Column with each study's footnote (empty cells: none).
    mean_method, sd_method : str
        How a mean and SD are estimated from a median (see
        :func:`metapool.prepare.mean_sd_from_quantiles`).
    **columns : str
        Column of each record field when it is not named like the field, e.g.
        ``events_exp="deaths_aspirin"``. Fields: ``events_exp``, ``total_exp``,
        ``events_ctrl``, ``total_ctrl`` (dichotomous); ``mean_exp``, ``sd_exp``,
        ``total_exp``, ``mean_ctrl``, ``sd_ctrl``, ``total_ctrl`` (continuous);
        ``o_minus_e``, ``variance``; ``estimate``, ``se`` (generic).

        Continuous data may also have, per arm (``_exp``, ``_ctrl``), the
        optional columns ``se_*`` (SE of the mean), ``ci_lower_*`` and
        ``ci_upper_*`` (95% CI of the mean), ``median_*``, ``q1_*``, ``q3_*``,
        ``min_*`` and ``max_*``, used where they exist (named like that or
        mapped here). Where a row's SD is empty it is computed from the SE
        (:func:`~metapool.prepare.sd_from_se`), else from the CI
        (:func:`~metapool.prepare.sd_from_ci`, t with n - 1 df), else from the
        median with the quartiles and/or range; an empty mean from the median
        (:func:`~metapool.prepare.mean_sd_from_quantiles`). Each converted
        value is footnoted (after the row's own footnote), e.g. ``"control: SD
        from SE, n = 20"``.

    Returns
    -------
    list
        :class:`~metapool.Dichotomous`, :class:`~metapool.Continuous`,
        :class:`~metapool.OMinusE` or :class:`~metapool.Generic` records. Empty
        cells (NaN, None) become None: the study is analysed as not estimable.

    Raises
    ------
    InputError
        A column is missing (the message lists the DataFrame's columns), a
        cell is not a number (the message names the row, study and column), or
        a conversion is impossible (e.g. quartiles out of order; the message
        names the row and study).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"author": ["MRC-1", "CDP"], "d1": [49, 44], "n1": [615, 758],
    ...                    "d0": [67, 64], "n0": [624, 771]})
    >>> studies = from_dataframe(df, study="author", events_exp="d1", total_exp="n1",
    ...                          events_ctrl="d0", total_ctrl="n0")
    >>> studies[1]  # doctest: +NORMALIZE_WHITESPACE
    Dichotomous(study='CDP', events_exp=44, total_exp=758, events_ctrl=64,
                total_ctrl=771, subgroup=None, footnote=None)

    A trial that reported medians and quartiles in the control arm:

    >>> df = pd.DataFrame({"study": ["Ito 2020"], "mean_exp": [12.1], "sd_exp": [3.2],
    ...                    "total_exp": [40], "mean_ctrl": [None], "sd_ctrl": [None],
    ...                    "total_ctrl": [40], "median_ctrl": [12.0], "q1_ctrl": [9.0],
    ...                    "q3_ctrl": [16.0]})
    >>> (rec,) = from_dataframe(df, "continuous")
    >>> round(rec.mean_ctrl, 4), round(rec.sd_ctrl, 4)
    (12.3549, 5.3722)
    >>> rec.footnote
    'control: mean (Luo 2018) and SD (Wan 2014) from median and quartiles, n = 40'
    """
    pd_ = pandas()
    dtype = _kind(kind)
    fields = FIELDS[dtype]
    allowed = fields + (CONVERSION_FIELDS if dtype is DataType.CONTINUOUS else ())
    unknown = sorted(set(columns) - set(allowed))
    if unknown:
        raise InputError(
            f"{', '.join(unknown)}: not a field of {dtype.value} data; fields: {', '.join(allowed)}"
        )
    extra = [f for f in allowed[len(fields) :] if f in columns or f in df.columns]
    mapping = {f: columns.get(f, f) for f in (*fields, *extra)}
    optional = [c for c in (subgroup, footnote) if c is not None]
    wanted = [study, *mapping.values(), *optional]
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
    rows: list[tuple[str, str, dict[str, float | None], str | None, list[str]]] = []
    for position, index in enumerate(df.index):
        name = cells[study][position]
        where = f"row {index!r}" if index != position else f"row {position}"
        if empty(name) or not str(name).strip():
            raise InputError(f"{where}: the study name (column {study!r}) is empty")
        where = f"{where} (study {str(name)!r})"
        values = {f: _cell(cells[c][position], f, c, where, empty) for f, c in mapping.items()}
        group = None if subgroup is None else cells[subgroup][position]
        label = None if group is None or empty(group) else str(group)
        note = None if footnote is None else cells[footnote][position]
        notes = [] if note is None or empty(note) or not str(note).strip() else [str(note)]
        rows.append((where, str(name), values, label, notes))
    if extra:
        _convert(rows, mean_method, sd_method)
    return [
        record(dtype, name, label, {f: values[f] for f in fields}, where, names,
               "; ".join(notes) or None)
        for where, name, values, label, notes in rows
    ]  # fmt: skip


_Rows = Sequence[tuple[str, str, dict[str, float | None], str | None, list[str]]]
# "mean (Luo 2018) and SD (Wan 2014) from median and quartiles, n = 40"
_MEAN_SD_NOTE = re.compile(r"mean \((.*?)\) and SD \((.*?)\) from (.*)")


def _convert(rows: _Rows, mean_method: str, sd_method: str) -> None:
    """Fill each arm's empty mean and SD from the conversion columns, footnoting each."""
    for arm, word in (("exp", "experimental"), ("ctrl", "control")):
        for i, (mean, sd, text) in _convert_arm(rows, arm, mean_method, sd_method).items():
            values = rows[i][2]
            values[f"mean_{arm}"], values[f"sd_{arm}"] = mean, sd
            rows[i][4].append(f"{word}: {text}")


def _convert_arm(
    rows: _Rows, arm: str, mean_method: str, sd_method: str
) -> dict[int, tuple[float | None, float | None, str]]:
    """Row -> (mean, SD, note) for the rows of one arm where something was converted."""

    def column(field: str) -> FloatArray:
        return np.array([math.nan if (v := r[2].get(field)) is None else v for r in rows])

    n, mean, sd = column(f"total_{arm}"), column(f"mean_{arm}"), column(f"sd_{arm}")
    se, lower, upper = column(f"se_{arm}"), column(f"ci_lower_{arm}"), column(f"ci_upper_{arm}")
    median, q1, q3 = column(f"median_{arm}"), column(f"q1_{arm}"), column(f"q3_{arm}")
    lo, hi = column(f"min_{arm}"), column(f"max_{arm}")
    known = ~np.isnan(n)
    notes: dict[int, str] = {}

    # an exact conversion first: SD from the SE, then from the CI of the mean
    for need, fn, args in (
        (~np.isnan(se), prepare.sd_from_se, {"se": se}),
        (~np.isnan(lower) & ~np.isnan(upper), prepare.sd_from_ci, {"lower": lower, "upper": upper}),
    ):
        need &= np.isnan(sd) & known
        if need.any():
            res = _apply(rows, need, fn, n=n, **args)
            sd[need] = res.sd
            notes.update(zip(_rows(need), map(str, np.atleast_1d(res.describe())), strict=True))
    quantiles = (~np.isnan(q1) & ~np.isnan(q3)) | (~np.isnan(lo) & ~np.isnan(hi))
    need = (np.isnan(mean) | np.isnan(sd)) & ~np.isnan(median) & known & quantiles
    if need.any():
        est = _apply(
            rows, need, prepare.mean_sd_from_quantiles, n=n, median=median, q1=q1, q3=q3,
            minimum=lo, maximum=hi, mean_method=mean_method, sd_method=sd_method,
        )  # fmt: skip
        texts = np.atleast_1d(est.describe())
        means, sds = np.atleast_1d(est.mean), np.atleast_1d(est.sd)
        for j, i in enumerate(_rows(need)):
            m = _MEAN_SD_NOTE.fullmatch(str(texts[j]))
            assert m is not None  # the text mean_sd_from_quantiles writes
            which = [what for what, a in (("mean", mean), ("SD", sd)) if math.isnan(a[i])]
            if "mean" in which:
                mean[i] = means[j]
            if "SD" in which:
                sd[i] = sds[j]
            by = {"mean": f"mean ({m[1]})", "SD": f"SD ({m[2]})"}
            notes[i] = f"{' and '.join(by[w] for w in which)} from {m[3]}"

    def value(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    return {i: (value(mean[i]), value(sd[i]), text) for i, text in notes.items()}


def _rows(at: BoolArray) -> list[int]:
    return [int(i) for i in np.flatnonzero(at)]


def _apply(rows: _Rows, at: BoolArray, fn: Callable[..., Any], **args: Any) -> Any:
    """``fn`` on the rows ``at`` at once; a bad row's error names the row."""
    arrays = {k: v[at] for k, v in args.items() if isinstance(v, np.ndarray)}
    options = {k: v for k, v in args.items() if not isinstance(v, np.ndarray)}
    try:
        return fn(**arrays, **options)
    except InputError:
        for j, i in enumerate(_rows(at)):
            try:
                fn(**{k: a[j] for k, a in arrays.items()}, **options)
            except InputError as exc:
                raise InputError(f"{rows[i][0]}: {exc}") from None
        raise  # pragma: no cover - a batch error is always some row's error


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
    of the overall analysis; a subgroup's is its share; with
    ``totals="subtotals"`` percent of the study's subgroup), ``k``, ``z``,
    ``p_value``, ``q``, ``df``, ``p_q``, ``i2``, ``tau2``, the Q-profile
    intervals ``tau2_ci_lower``/``tau2_ci_upper`` and ``i2_ci_lower``/``i2_ci_upper``,
    the prediction interval ``pi_lower``/``pi_upper`` (NaN unless computed),
    and ``text``, the effect as RevMan prints it (``0.72 [0.49, 1.06]``).
    The subgroup-differences row has ``q``, ``df``, ``p_q`` (its P-value) and
    ``i2``. Missing values are None or NaN. The rows follow the analysis'
    display options: no total row unless ``totals="all"``, no subgroup rows
    with ``totals="none"``, and then no weights; no subgroup-differences row
    when the test is not shown.

    Examples
    --------
    >>> import metapool
    >>> rows = result_rows(metapool.analyse(metapool.examples.aspirin(), measure="OR"))
    >>> [r["row"] for r in rows][-2:], round(rows[-1]["estimate"], 4), rows[-1]["text"]
    (['study', 'total'], 0.8969, '0.90 [0.84, 0.96]')
    """
    fields = FIELDS[res.settings.data_type]
    show = shown(res)
    blank = dict.fromkeys(_columns(res)) | _settings(res)
    rows: list[dict[str, Any]] = []
    for s, weight in zip(res.studies, show.weights, strict=True):
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
                "weight": weight,
                "text": effect_text(s.estimate, s.ci_lower, s.ci_upper),
            }
        )
    if show.subtotals:
        for name, part in res.subgroups.items():
            share = math.fsum(
                w
                for s, w in zip(res.studies, show.weights, strict=True)
                if s.subgroup == name and s.estimable
            )
            rows.append({**blank, **_pooled_row(part, "subgroup", name, share)})
    if show.total:
        total = math.fsum(s.weight for s in res.studies if s.estimable)
        rows.append({**blank, **_pooled_row(res, "total", None, total)})
    test = res.subgroup_differences
    if test is not None and show.subgroup_test:
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
    # the columns are named also when no row is shown (no studies, no totals)
    result: pd.DataFrame = pandas().DataFrame(result_rows(res), columns=list(_columns(res)))
    return result


def _columns(res: MetaAnalysis) -> tuple[str, ...]:
    fields = FIELDS[res.settings.data_type]
    return ("row", "subgroup", "study", *SETTINGS_COLUMNS, *fields, *RESULT_COLUMNS)


def pool_result_to_dataframe(res: PoolResult) -> pd.DataFrame:
    """:class:`~metapool.PoolResult` as a DataFrame: ``res.to_dataframe()``."""
    return res.to_dataframe()
