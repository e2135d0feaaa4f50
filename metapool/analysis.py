"""One RevMan analysis: study records -> effect sizes -> pooling engine -> result records.

The overall analysis and each subgroup go through the engine as one batch.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import attrs
import numpy as np

from metapool._typing import I2, FloatArray, Hksj, PoolMethod, Tau2Method, Totals
from metapool._typing import Model as ModelName
from metapool.effects import EffectSizes, compute
from metapool.errors import InputError
from metapool.pooling.engine import PoolResult, pool_segments, pool_with
from metapool.pooling.segments import Segments
from metapool.records import DATA_TYPE, FIELDS, Study
from metapool.results import (
    ArmTotals,
    MetaAnalysis,
    Subgroup,
    SubgroupDifferences,
    pooled_groups,
    study_results,
)
from metapool.vocabulary import DataType, Settings, flag, resolve

__all__ = ["REVMAN_WEB", "AnalyseOptions", "analyse"]

#: RevMan Web's random-effects methods (Cochrane, 2022-2025): REML τ² with a
#: Q-profile CI, Hartung-Knapp-Sidik-Jonkman CI, t-based prediction interval,
#: I² from τ². Use as ``analyse(studies, **REVMAN_WEB)`` or ``pool(yi, vi, **REVMAN_WEB)``;
#: read-only: change one option with ``analyse(studies, **{**REVMAN_WEB, "hksj": False})``.
REVMAN_WEB: Mapping[str, Any] = types.MappingProxyType(
    {
        "model": "random",
        "tau2": "REML",
        "hksj": True,
        "prediction": True,
        "i2": "tau2",
        "tau2_ci": True,
    }
)


class AnalyseOptions(TypedDict, total=False):
    """The options of :func:`analyse` after the studies, for ``Outcome.analyse`` to pass on."""

    measure: str | None
    method: PoolMethod | None
    model: ModelName
    ci_level: float
    study_ci_level: float | None
    swap_events: bool
    ratio: bool | None
    tau2: Tau2Method | None
    hksj: Hksj
    prediction: bool
    i2: I2
    tau2_ci: bool
    totals: Totals
    subgroup_test: bool
    number: str | None


def analyse(
    studies: Iterable[Study],
    measure: str | None = None,
    method: PoolMethod | None = None,
    model: ModelName = "fixed",
    ci_level: float = 0.95,
    study_ci_level: float | None = None,
    swap_events: bool = False,
    *,
    ratio: bool | None = None,
    tau2: Tau2Method | None = None,
    hksj: Hksj = False,
    prediction: bool = False,
    i2: I2 = "Q",
    tau2_ci: bool = False,
    totals: Totals = "all",
    subgroup_test: bool = True,
    number: str | None = None,
) -> MetaAnalysis:
    """Meta-analyse studies as RevMan 5.4 does.

    Parameters
    ----------
    studies : iterable of Dichotomous, Continuous, OMinusE or Generic
        One data type per analysis. Studies with a ``subgroup`` are also pooled
        per subgroup, with RevMan's test for subgroup differences.
    measure : str, optional
        ``"OR"``, ``"RR"``, ``"RD"``, ``"PETO_OR"`` (dichotomous; default OR),
        ``"MD"``, ``"SMD"`` (continuous; default MD), ``"PETO_OR"`` (O-E), or
        any label for generic data (then say ``ratio=True/False``).
    method : str, optional
        ``"MH"``, ``"IV"`` or ``"PETO"``; default the first RevMan offers for
        the measure (MH for OR/RR/RD, IV for MD/SMD/generic, Peto for PETO_OR).
    model : {"fixed", "random"}
        RevMan's random-effects model is DerSimonian-Laird with the method's Q.
    ci_level, study_ci_level : float
        Confidence level of the totals and of the study rows (default: the same).
    swap_events : bool
        Analyse non-events instead of events (dichotomous data).
    ratio : bool, optional
        Generic data only: pool on the log scale.
    tau2, hksj, prediction, i2, tau2_ci
        Beyond RevMan 5.4: τ² estimator (``"DL"``, ``"REML"``, ``"ML"``,
        ``"PM"``, ``"EB"``, ``"HE"``, ``"SJ"``, ``"HS"``; default DL),
        Hartung-Knapp-Sidik-Jonkman CI (True, or ``"adhoc"``: as
        :func:`metapool.pool`), prediction interval, I² from ``"Q"`` or
        ``"tau2"``, Q-profile CI for τ² and I². ``tau2``, ``hksj`` and
        ``prediction`` need ``model="random"``. :data:`REVMAN_WEB` bundles
        RevMan Web's.
    totals : {"all", "subtotals", "none"}
        RevMan's display option: show the total and subtotals, the subgroups'
        subtotals only (study weights within each subgroup, no overall total),
        or no pooled result. Printing, plots and tables follow it; every
        number is computed whatever it says.
    subgroup_test : bool
        Show the test for subgroup differences.
    number : str, optional
        RevMan's number of the analysis (``"1.1"``): subgroup headings are then
        numbered ``"1.1.1 Bone marrow"``, ``"1.1.2 ..."``.

    Raises
    ------
    InputError
        For studies of mixed types or with the same name, and for options that
        are unknown, do not fit the data or the model, or are not of their type
        (yes/no options take only ``True`` or ``False``; ``ci_level`` lies
        between 0 and 1).

    Returns
    -------
    MetaAnalysis

    Examples
    --------
    >>> import metapool
    >>> res = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    >>> round(res.total.estimate, 4), round(res.heterogeneity.i2, 2)
    (0.8969, 39.67)
    """
    if hasattr(studies, "columns") and hasattr(studies, "dtypes"):
        raise InputError(
            "analyse takes study records, not a DataFrame: convert it with "
            "metapool.from_dataframe(df, kind, ...) first"
        )
    options = {
        "measure": measure,
        "method": method,
        "model": model,
        "ci_level": ci_level,
        "study_ci_level": study_ci_level,
        "swap_events": swap_events,
        "ratio": ratio,
        "tau2": tau2,
        "hksj": hksj,
        "prediction": prediction,
        "i2": i2,
        "totals": totals,
        "subgroup_test": subgroup_test,
        "number": number,
    }
    records = list(studies)
    if not records:
        raise InputError("no studies to analyse")
    kind = type(records[0])
    if kind not in DATA_TYPE:
        raise InputError(
            f"studies must be Dichotomous, Continuous, OMinusE or Generic records, "
            f"got {kind.__name__}"
        )
    for record in records:
        if type(record) is not kind:
            raise InputError(
                f"study {getattr(record, 'study', record)!r}: is {type(record).__name__}, "
                f"but the analysis holds {kind.__name__} data; one data type per analysis"
            )
    names = [r.study for r in records]
    if len(set(names)) < len(names):
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise InputError(
            f"study {twice!r} is listed twice; an analysis holds each study once, as in RevMan"
        )
    return analyse_records(records, DATA_TYPE[kind], tau2_ci=tau2_ci, **options)


def analyse_records(
    records: list[Study], data_type: DataType, *, tau2_ci: bool = False, **options: Any
) -> MetaAnalysis:
    """:func:`analyse` of validated records of ``data_type``; no records give a
    result that is not estimable (a RevMan outcome with no study rows)."""
    fields = FIELDS[data_type]
    settings = resolve(data_type, **options)
    if flag("tau2_ci", tau2_ci):
        settings = attrs.evolve(settings, tau2_ci=True)
    names = [r.study for r in records]
    columns = {
        f: np.array([math.nan if (x := getattr(r, f)) is None else x for r in records], dtype=float)
        for f in fields
    }
    # records are validated: empty cells (None -> NaN) are the only non-finite values
    missing = np.isnan(np.array(list(columns.values()))).any(axis=0)
    es = compute(
        settings.measure, columns, missing=missing, study=names, swap_events=settings.swap_events
    )
    return _assemble(records, settings, es, columns)


def _subgroups(records: list[Study]) -> list[str]:
    labels = [r.subgroup for r in records]
    if all(label is None for label in labels):
        return []
    for r in records:
        if r.subgroup is None:
            raise InputError(f"study {r.study!r}: subgroup is missing while other studies have one")
    return list(dict.fromkeys(label for label in labels if label is not None))


def _assemble(
    records: list[Study],
    settings: Settings,
    es: EffectSizes,
    columns: dict[str, FloatArray],
) -> MetaAnalysis:
    subgroup_names = _subgroups(records)
    ok = np.flatnonzero(es.estimable)
    # group 0: all studies; groups 1..J: the subgroups
    if subgroup_names:
        index = {name: j + 1 for j, name in enumerate(subgroup_names)}
        sub_code = np.array([index[r.subgroup] for r in records], dtype=np.intp)  # type: ignore[index]
        rows = np.concatenate([ok, ok])
        codes = np.concatenate([np.zeros(ok.size, dtype=np.intp), sub_code[ok]])
        seg = Segments(codes, 1 + len(subgroup_names))
    else:
        sub_code = np.zeros(len(records), dtype=np.intp)
        rows, codes = ok, np.zeros(ok.size, dtype=np.intp)
        seg = Segments.single(ok.size)
    pooled = pool_with(settings, es.yi, es.vi, rows, seg, cells=es.cells, weights=True)
    assert pooled.weights is not None
    weight = np.zeros((seg.n, len(records)))
    weight[codes, rows] = pooled.weights
    weights = weight.tolist()
    overall = study_results(records, settings, es, weights[0])
    groups = pooled_groups(pooled, settings.ratio)
    arms = [f for f in ("total_exp", "total_ctrl", "events_exp", "events_ctrl") if f in columns]
    arm_matrix = np.array([columns[f] for f in arms]).reshape(len(arms), len(records))
    empty_cells = np.isnan(arm_matrix)
    if empty_cells.any():  # an empty cell adds nothing to RevMan's totals
        arm_matrix[empty_cells] = 0.0

    def part(g: int, name: str | None, members: list[int]) -> dict[str, Any]:
        arm_totals = None
        if arms:
            arm_totals = ArmTotals(*arm_matrix[:, members].sum(axis=1).tolist())
        w = weights[g]
        own = overall if g == 0 else [attrs.evolve(overall[i], weight=w[i]) for i in members]
        return {
            "name": name,
            "studies": tuple(own),
            "arm_totals": arm_totals,
            **attrs.asdict(groups[g], recurse=False),
        }

    subgroups = {
        name: Subgroup(**part(j + 1, name, np.flatnonzero(sub_code == j + 1).tolist()))
        for j, name in enumerate(subgroup_names)
    }
    return MetaAnalysis(
        **part(0, None, list(range(len(records)))),
        settings=settings,
        subgroups=subgroups,
        subgroup_differences=_differences(pooled, settings) if subgroup_names else None,
        effects=es,
    )


def _differences(p: PoolResult, settings: Settings) -> SubgroupDifferences:
    """RevMan's test for subgroup differences: fixed-effect IV over subgroup totals."""
    ok = np.flatnonzero(p.k[1:] > 0) + 1
    between = pool_segments(
        p.estimate[ok],
        p.se[ok] ** 2,
        Segments.single(ok.size),
        random=False,
        ci_level=settings.ci_level,
    )
    j = ok.size
    return SubgroupDifferences(
        q=float(between.q[0]) if j else math.nan,
        df=float(j - 1) if j else math.nan,
        p_value=float(between.p_q[0]),
        i2=float(between.i2[0]),
        pooled=pooled_groups(between, settings.ratio)[0].total,
    )
