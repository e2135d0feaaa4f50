"""Write the example review files that ship in ``metapool/data``.

Run from the repository root after changing an example data set::

    python docs/make_examples.py

Each example of :mod:`metapool.examples` is written as a RevMan 5 review
(``.rm5``), a RevMan 5 "Data and analyses" CSV export (``.csv``) and a RevMan
Web data package (``.zip``), in the layouts metapool's readers read. The files
are metapool's own: the study data come from :mod:`metapool.examples`, and the
results stored in them, where RevMan would store its own, are metapool's
analyses, so ``python -m metapool FILE --check`` passes on each. The output is
byte for byte the same on every run (``tests/test_examples.py`` checks that the
shipped files are what this script writes).
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

import metapool
from metapool.io import datapackage, revman_csv
from metapool.records import FIELDS, Continuous, Dichotomous
from metapool.results import MetaAnalysis, Subgroup
from metapool.vocabulary import DataType

# the readers' own column names, for the arm data the examples hold
_ARM_FIELDS = FIELDS[DataType.DICHOTOMOUS] + FIELDS[DataType.CONTINUOUS]

DATA = Path(__file__).resolve().parent.parent / "metapool" / "data"


@attrs.frozen
class Outcome:
    """One analysis of an example review, with the words RevMan shows around it."""

    name: str
    studies: Sequence[Dichotomous | Continuous]
    options: dict[str, str]
    group_labels: tuple[str, str]
    graph_labels: tuple[str, str]
    subgroup_by: str = ""

    @property
    def dichotomous(self) -> bool:
        return isinstance(self.studies[0], Dichotomous)

    def analyse(self) -> MetaAnalysis:
        return metapool.analyse(self.studies, **self.options)


@attrs.frozen
class Example:
    """An example review: one comparison of one or more outcomes."""

    stem: str
    title: str
    comparison: str
    outcomes: Sequence[Outcome]
    years: dict[str, str]


def examples() -> list[Example]:
    """The example reviews, from the data sets of :mod:`metapool.examples`."""
    aspirin = metapool.examples.aspirin()
    pain = metapool.examples.stem_cell_oa_pain()
    return [
        Example(
            stem="aspirin",
            title="Aspirin after myocardial infarction (metapool example)",
            comparison="Aspirin versus placebo",
            outcomes=[
                Outcome(
                    "All-cause death",
                    aspirin,
                    {"measure": "OR", "method": "MH", "model": "fixed"},
                    ("Aspirin", "Placebo"),
                    ("Favours aspirin", "Favours placebo"),
                ),
                Outcome(
                    "All-cause death, risk ratio",
                    aspirin,
                    {"measure": "RR", "method": "MH", "model": "random"},
                    ("Aspirin", "Placebo"),
                    ("Favours aspirin", "Favours placebo"),
                ),
            ],
            # the trials' years of publication (Fleiss 1993)
            years=dict(
                zip(
                    [s.study for s in aspirin],
                    (1974, 1976, 1979, 1979, 1980, 1980, 1988),
                    strict=True,
                )
            ),
        ),
        Example(
            stem="stem_cell",
            title="Mesenchymal stem cells for knee osteoarthritis (invented example data)",
            comparison="Mesenchymal stem cells versus control",
            outcomes=[
                Outcome(
                    "Pain (VAS), by cell source",
                    pain,
                    {"measure": "SMD", "method": "IV", "model": "random"},
                    ("Stem cells", "Control"),
                    ("Favours stem cells", "Favours control"),
                    subgroup_by="Cell source",
                ),
            ],
            years={s.study: s.study.rsplit(" ", 1)[1] for s in pain},
        ),
    ]


# -- numbers as text -------------------------------------------------------------------


def full(x: float) -> str:
    """A full double, as RevMan 5 writes its ``.rm5`` files."""
    return repr(float(x))


def rounded(decimals: int) -> Callable[[float], str]:
    """Rounded to ``decimals``, trailing zeros dropped, as RevMan's exports write numbers."""

    def text(x: float) -> str:
        if math.isnan(x):
            return ""
        cell = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if cell in ("-0", "") else cell

    return text


def count(x: float | None) -> str:
    """A data cell: whole numbers without a decimal point."""
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() and not isinstance(x, float) else repr(x)


def data_cells(study: Dichotomous | Continuous) -> dict[str, str]:
    if isinstance(study, Dichotomous):
        return {
            "events_exp": count(study.events_exp),
            "total_exp": count(study.total_exp),
            "events_ctrl": count(study.events_ctrl),
            "total_ctrl": count(study.total_ctrl),
        }
    return {
        "mean_exp": count(study.mean_exp),
        "sd_exp": count(study.sd_exp),
        "total_exp": count(study.total_exp),
        "mean_ctrl": count(study.mean_ctrl),
        "sd_ctrl": count(study.sd_ctrl),
        "total_ctrl": count(study.total_ctrl),
    }


def arm_totals(part: Subgroup) -> dict[str, str]:
    t = part.arm_totals
    assert t is not None
    cells = {"total_exp": count(int(t.total_exp)), "total_ctrl": count(int(t.total_ctrl))}
    if t.events_exp is not None and t.events_ctrl is not None:
        cells |= {"events_exp": count(int(t.events_exp)), "events_ctrl": count(int(t.events_ctrl))}
    return cells


def subgroups(res: MetaAnalysis) -> list[tuple[str, Subgroup]]:
    return list(res.subgroups.items())


# -- RevMan 5 review (.rm5) ------------------------------------------------------------

_RM5_DATA = {
    "events_exp": "EVENTS_1",
    "total_exp": "TOTAL_1",
    "events_ctrl": "EVENTS_2",
    "total_ctrl": "TOTAL_2",
    "mean_exp": "MEAN_1",
    "sd_exp": "SD_1",
    "mean_ctrl": "MEAN_2",
    "sd_ctrl": "SD_2",
}


def study_id(name: str) -> str:
    """RevMan's study identifier: ``STD-`` and the name, other characters as ``_xHHHH_``."""
    return "STD-" + re.sub(r"[^A-Za-z0-9]", lambda m: f"_x{ord(m.group()):04x}_", name)


def rm5_pooled(part: Subgroup) -> dict[str, str]:
    t, h = part.total, part.heterogeneity
    return {
        "EFFECT_SIZE": full(t.estimate),
        "CI_START": full(t.ci_lower),
        "CI_END": full(t.ci_upper),
        "Z": full(abs(t.z)),
        "P_Z": full(t.p_value),
        "CHI2": full(h.q),
        "DF": str(int(h.df)),
        "P_CHI2": full(h.p_value),
        "I2": full(h.i2),
        "TAU2": full(h.tau2),
        "ESTIMABLE": "YES" if part.estimable else "NO",
        "STUDIES": str(len(part.studies)),
        **{_RM5_DATA[k]: v for k, v in arm_totals(part).items()},
    }


def rm5(example: Example) -> bytes:
    root = ET.Element("COCHRANE_REVIEW", {"REVMAN_VERSION": "5", "TYPE": "INTERVENTION"})
    cover = ET.SubElement(root, "COVER_SHEET")
    ET.SubElement(cover, "TITLE").text = example.title
    included = ET.SubElement(
        ET.SubElement(ET.SubElement(root, "STUDIES_AND_REFERENCES"), "STUDIES"),
        "INCLUDED_STUDIES",
    )
    for name, year in example.years.items():
        ET.SubElement(
            included, "STUDY", {"DATA_SOURCE": "PUB", "ID": study_id(name), "NAME": name,
                                "YEAR": str(year)}
        )  # fmt: skip
    analyses = ET.SubElement(root, "ANALYSES_AND_DATA", {"CALCULATED_DATA": "YES"})
    comparison = ET.SubElement(analyses, "COMPARISON", {"ID": "CMP-001", "NO": "1"})
    ET.SubElement(comparison, "NAME").text = example.comparison
    for number, outcome in enumerate(example.outcomes, 1):
        res = outcome.analyse()
        s = res.settings
        prefix = "DICH" if outcome.dichotomous else "CONT"
        attributes = {
            "ID": f"CMP-001.{number:02d}",
            "NO": str(number),
            "EFFECT_MEASURE": s.measure,
            "METHOD": s.method.value,
            "RANDOM": "YES" if s.model.value == "random" else "NO",
            "CI_STUDY": f"{s.study_ci_level * 100:g}",
            "CI_TOTAL": f"{s.ci_level * 100:g}",
            "SWAP_EVENTS": "NO",
            "SUBGROUPS": "YES" if res.subgroups else "NO",
            "SUBGROUP_TEST": "YES",
            "TOTALS": "YES",
            **rm5_pooled(res),
        }
        if res.subgroup_differences is not None:
            d = res.subgroup_differences
            attributes |= {"Q": full(d.q), "P_Q": full(d.p_value), "I2_Q": full(d.i2)}
        element = ET.SubElement(comparison, f"{prefix}_OUTCOME", attributes)
        ET.SubElement(element, "NAME").text = outcome.name
        for tag, text in zip(
            ("GROUP_LABEL_1", "GROUP_LABEL_2", "GRAPH_LABEL_1", "GRAPH_LABEL_2"),
            (*outcome.group_labels, *outcome.graph_labels),
            strict=True,
        ):
            ET.SubElement(element, tag).text = text
        order = {row.study: i for i, row in enumerate(res.studies, 1)}
        parts: list[tuple[ET.Element, Subgroup]] = [(element, res)]
        if res.subgroups:
            parts = []
            for j, (name, sub) in enumerate(subgroups(res), 1):
                child = ET.SubElement(
                    element, f"{prefix}_SUBGROUP", {"NO": str(j), **rm5_pooled(sub)}
                )
                ET.SubElement(child, "NAME").text = name
                parts.append((child, sub))
        weights = {row.study: row.weight for row in res.studies}
        for parent, part in parts:
            for row in part.studies:
                ET.SubElement(
                    parent,
                    f"{prefix}_DATA",
                    {
                        "STUDY_ID": study_id(row.study),
                        "ORDER": str(order[row.study]),
                        **{_RM5_DATA[k]: v for k, v in data_cells(row.data).items()},
                        "ESTIMABLE": "YES" if row.estimable else "NO",
                        "EFFECT_SIZE": full(row.estimate),
                        "CI_START": full(row.ci_lower),
                        "CI_END": full(row.ci_upper),
                        "SE": full(row.se),
                        "WEIGHT": full(weights[row.study]),
                    },
                )
    ET.indent(root)
    out = io.BytesIO()
    ET.ElementTree(root).write(out, encoding="ISO-8859-1", xml_declaration=True)
    return out.getvalue() + b"\n"


# -- RevMan 5 "Data and analyses" CSV export -------------------------------------------

_CSV_HEADER = (
    "Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type",
    "Statistical Method", "Effect Measure", "Analysis Model", "Events 1", "Mean 1", "SD 1",
    "Total 1", "Events 2", "Mean 2", "SD 2", "Total 2", "Effect Estimate", "SE", "CI Start",
    "CI End", "Weight", "Q", "P(Q)", "I²(Q)", "Tau²", "Z", "P(Z)", "Qint", "P(Qint)",
    "I²(Qint)", "df", "Group Label 1", "Group Label 2", "Left Graph Label",
    "Right Graph Label", "Year of study", "User defined order",
)  # fmt: skip
_CSV_DATA = {f: c for f, c in revman_csv._COLUMNS.items() if f in _ARM_FIELDS}
_CSV_NUMBER = rounded(8)  # RevMan 5's exports keep 8 decimals


def csv_pooled(part: Subgroup) -> dict[str, str]:
    t, h, n = part.total, part.heterogeneity, _CSV_NUMBER
    return {
        "Effect Estimate": n(t.estimate),
        "CI Start": n(t.ci_lower),
        "CI End": n(t.ci_upper),
        "Weight": "100",
        "Q": n(h.q),
        "P(Q)": n(h.p_value),
        "I²(Q)": n(h.i2),
        "Tau²": n(h.tau2),
        "Z": n(abs(t.z)),
        "P(Z)": n(t.p_value),
        "df": str(int(h.df)),
        **{_CSV_DATA[k]: v for k, v in arm_totals(part).items()},
    }


def revman_csv(example: Example) -> bytes:
    rows: list[dict[str, str]] = [
        {"Comparison Number": "1", "Outcome Number": "0", "Subgroup Number": "0",
         "Name": example.comparison}
    ]  # fmt: skip
    for number, outcome in enumerate(example.outcomes, 1):
        res = outcome.analyse()
        s = res.settings
        key = {"Comparison Number": "1", "Outcome Number": str(number)}
        row = {
            **key,
            "Subgroup Number": "0",
            "Name": outcome.name,
            "Data Type": "DIC" if outcome.dichotomous else "CON",
            "Statistical Method": s.method.value,
            "Effect Measure": s.measure,
            "Analysis Model": "Random" if s.model.value == "random" else "Fixed",
            **csv_pooled(res),
            "Group Label 1": outcome.group_labels[0],
            "Group Label 2": outcome.group_labels[1],
            "Left Graph Label": outcome.graph_labels[0],
            "Right Graph Label": outcome.graph_labels[1],
        }
        if res.subgroup_differences is not None:
            d = res.subgroup_differences
            n = _CSV_NUMBER
            row |= {"Qint": n(d.q), "P(Qint)": n(d.p_value), "I²(Qint)": n(d.i2)}
        rows.append(row)
        # cells of the other data type hold 0, as RevMan writes them
        unused = {c: "0" for c in _CSV_DATA.values()}
        order = {r.study: i for i, r in enumerate(res.studies, 1)}
        weights = {r.study: r.weight for r in res.studies}
        parts = [("0", None, res)]
        if res.subgroups:
            parts = [(str(j), name, sub) for j, (name, sub) in enumerate(subgroups(res), 1)]
        for j, name, part in parts:
            if name is not None:
                rows.append({**key, "Subgroup Number": j, "Name": name, **csv_pooled(part)})
            for study in part.studies:
                rows.append(
                    {
                        **key,
                        "Subgroup Number": j,
                        "Name": study.study,
                        **unused,
                        **{_CSV_DATA[k]: v for k, v in data_cells(study.data).items()},
                        "Effect Estimate": _CSV_NUMBER(study.estimate),
                        "SE": _CSV_NUMBER(study.se),
                        "CI Start": _CSV_NUMBER(study.ci_lower),
                        "CI End": _CSV_NUMBER(study.ci_upper),
                        "Weight": _CSV_NUMBER(weights[study.study]),
                        "Year of study": str(example.years[study.study]),
                        "User defined order": str(order[study.study]),
                    }
                )
    return table(_CSV_HEADER, rows, "\n").encode("utf-8")


def table(header: Sequence[str], rows: list[dict[str, str]], newline: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator=newline, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- RevMan Web data package (.zip) ----------------------------------------------------

_OVERALL_HEADER = (
    "Analysis group", "Analysis number", "Analysis name", "Analysis group name", "Data source",
    "Data type", "Log-scale data", "Subgroup by", "Experimental group label",
    "Control group label", "Statistical method", "Effect measure", "Analysis model",
    "Subgroup estimates", "Overall estimates", "Test for subgroup differences",
    "Swap event and non-event", "Study CI", "Estimate CI", "Experimental cases",
    "Experimental N", "Control cases", "Control N", "Mean", "CI start", "CI end",
    "Heterogeneity Tau²", "Heterogeneity Chi²", "Heterogeneity df", "Heterogeneity P",
    "Heterogeneity I²", "Effect Z", "Effect P", "Subgroup Chi²", "Subgroup df", "Subgroup P",
    "Subgroup I²", "ID",
)  # fmt: skip
_ROWS_HEADER = (
    "Analysis group", "Analysis number", "Analysis name", "Subgroup", "Applicability", "Study",
    "Study year", "GIV Mean", "GIV SE", "Experimental mean", "Experimental SD",
    "Experimental cases", "Experimental N", "Control mean", "Control SD", "Control cases",
    "Control N", "O-E", "Variance", "Weight", "Mean", "CI start", "CI end", "Footnotes",
)  # fmt: skip
_SUBGROUP_HEADER = (
    "Analysis group", "Analysis number", "Subgroup", "Subgroup number", "Experimental cases",
    "Experimental N", "Control cases", "Control N", "Weight", "Mean", "CI start", "CI end",
    "Heterogeneity Tau²", "Heterogeneity Chi²", "Heterogeneity df", "Heterogeneity P",
    "Heterogeneity I²", "Effect Z", "Effect P", "ID",
)  # fmt: skip
_STUDY_HEADER = ("Study", "Year", "Data source")
_WEB_DATA = {f: c for f, c in datapackage._COLUMNS.items() if f in _ARM_FIELDS}
_WEB_NUMBER = rounded(6)  # RevMan Web keeps 6 decimals
_WEB_MEASURES = {"OR": "Odds Ratio", "RR": "Risk Ratio", "SMD": "Standardized Mean Difference"}


def web_pooled(part: Subgroup, random: bool) -> dict[str, str]:
    t, h, n = part.total, part.heterogeneity, _WEB_NUMBER
    return {
        "Mean": n(t.estimate),
        "CI start": n(t.ci_lower),
        "CI end": n(t.ci_upper),
        "Heterogeneity Tau²": n(h.tau2) if random else "",
        "Heterogeneity Chi²": n(h.q),
        "Heterogeneity df": str(int(h.df)),
        "Heterogeneity P": n(h.p_value),
        "Heterogeneity I²": n(h.i2),
        "Effect Z": n(abs(t.z)),
        "Effect P": n(t.p_value),
        **{_WEB_DATA[k]: v for k, v in arm_totals(part).items()},
    }


def datapackage(example: Example) -> bytes:
    overall: list[dict[str, str]] = []
    data_rows: list[dict[str, str]] = []
    subtotals: list[dict[str, str]] = []
    for number, outcome in enumerate(example.outcomes, 1):
        res = outcome.analyse()
        s = res.settings
        random = s.model.value == "random"
        key = {"Analysis group": "1", "Analysis number": str(number)}
        row = {
            **key,
            "Analysis name": outcome.name,
            "Analysis group name": example.comparison,
            "Data source": "Custom input",
            "Data type": "Dichotomous" if outcome.dichotomous else "Continuous",
            "Log-scale data": "true" if s.ratio else "false",
            "Subgroup by": outcome.subgroup_by,
            "Experimental group label": outcome.group_labels[0],
            "Control group label": outcome.group_labels[1],
            "Statistical method": s.method.value,
            "Effect measure": _WEB_MEASURES[s.measure],
            "Analysis model": "Random effects" if random else "Fixed effect",
            "Subgroup estimates": "true",
            "Overall estimates": "true",
            "Test for subgroup differences": "true",
            "Swap event and non-event": "false",
            "Study CI": f"{s.study_ci_level * 100:g}%",
            "Estimate CI": f"{s.ci_level * 100:g}%",
            **web_pooled(res, random),
            "ID": f"analysis:{example.stem}-{number}",
        }
        if res.subgroup_differences is not None:
            d = res.subgroup_differences
            row |= {
                "Subgroup Chi²": _WEB_NUMBER(d.q),
                "Subgroup df": str(int(d.df)),
                "Subgroup P": _WEB_NUMBER(d.p_value),
                "Subgroup I²": _WEB_NUMBER(d.i2),
            }
        overall.append(row)
        for j, (name, sub) in enumerate(subgroups(res), 1):
            subtotals.append(
                {**key, "Subgroup": name, "Subgroup number": str(j), "Weight": "100",
                 **web_pooled(sub, random), "ID": f"subgroup:{example.stem}-{number}-{j}"}
            )  # fmt: skip
        # cells of the other data type hold 0.0, as RevMan Web writes them
        unused = {c: "0.0" for c in (*_WEB_DATA.values(), "GIV Mean", "GIV SE", "O-E", "Variance")}
        for study in res.studies:
            data_rows.append(
                {
                    **key,
                    "Analysis name": outcome.name,
                    "Subgroup": study.subgroup or "",
                    "Applicability": "SUBGROUP_AND_OVERALL",
                    "Study": study.study,
                    "Study year": str(example.years[study.study]),
                    **unused,
                    **{_WEB_DATA[k]: v for k, v in data_cells(study.data).items()},
                    "Weight": _WEB_NUMBER(study.weight),
                    "Mean": _WEB_NUMBER(study.estimate),
                    "CI start": _WEB_NUMBER(study.ci_lower),
                    "CI end": _WEB_NUMBER(study.ci_upper),
                }
            )
    studies = [
        {"Study": name, "Year": str(year), "Data source": "PUB"}
        for name, year in example.years.items()
    ]
    review = example.stem
    members = {
        f"{review}-analysis-data/{review}-overall-estimates-and-settings.csv": (
            _OVERALL_HEADER, overall),
        f"{review}-analysis-data/{review}-data-rows.csv": (_ROWS_HEADER, data_rows),
        f"{review}-analysis-data/{review}-subgroup-estimates.csv": (_SUBGROUP_HEADER, subtotals),
        f"{review}-study-data/{review}-study-information.csv": (_STUDY_HEADER, studies),
    }  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, (header, rows) in members.items():
            # a fixed time stamp: the same bytes on every run
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            text = "\ufeff" + table(header, rows, "\r\n")  # RevMan Web writes a BOM
            archive.writestr(info, text.encode("utf-8"))
    return out.getvalue()


WRITERS: dict[str, Callable[[Example], bytes]] = {
    ".rm5": rm5,
    ".csv": revman_csv,
    ".zip": datapackage,
}


def files() -> dict[str, bytes]:
    """File name -> contents of every example file."""
    return {
        f"{example.stem}{suffix}": write(example)
        for example in examples()
        for suffix, write in WRITERS.items()
    }


def main(argv: Sequence[str] | None = None) -> Any:
    """Write the files into ``metapool/data`` (or the directory given)."""
    args = sys.argv[1:] if argv is None else list(argv)
    target = Path(args[0]) if args else DATA
    target.mkdir(parents=True, exist_ok=True)
    for name, content in files().items():
        (target / name).write_bytes(content)
        print(target / name)


if __name__ == "__main__":
    main()
