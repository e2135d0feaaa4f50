"""Helpers of the RevMan file tests: the real example files, and synthetic .rm5 text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

HERE = Path(__file__).parent
SHARED = Path(__file__).parents[2] / "shared" / "data" / "revman"

RM5 = "Fleiss1993.rm5"
CSV = "Fleiss1993_CR.csv"
ZIP = "Fleiss1993_revmanweb_datapackage.zip"
#: the settings of outcome 1.1 (aspirin) of the Fleiss example, the same in every format
FLEISS_SETTINGS = {
    "measure": "OR",
    "method": "MH",
    "model": "fixed",
    "ci_level": 0.95,
    "study_ci_level": 0.95,
    "swap_events": False,
}


def example(name: str) -> Path:
    """A real RevMan file from the shared data directory (not vendored: it is GPL data)."""
    for folder in (SHARED,):
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"{name} is not in {SHARED}")


# -- synthetic .rm5 text ----------------------------------------------------------------

STUDIES = (
    ("STD-A", "Alpha", "2001"),
    ("STD-B", "Beta", "2002"),
    ("STD-C", "Gamma", "2003"),
    ("STD-D", "Delta", "2004"),
)


def element(tag: str, attrs: Mapping[str, object] | None = None, *children: str) -> str:
    text = "".join(f" {k}={quoteattr(str(v))}" for k, v in (attrs or {}).items())
    if not children:
        return f"<{tag}{text}/>"
    return f"<{tag}{text}>{''.join(children)}</{tag}>"


def named(tag: str, name: str) -> str:
    return f"<{tag}>{name}</{tag}>"


def outcome(
    kind: str,
    number: int,
    name: str,
    rows: Iterable[str],
    *,
    measure: str | None = None,
    labels: bool = True,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> str:
    """A ``{kind}_OUTCOME`` with ``attributes`` and ``attrs``; IV and IPD outcomes take the
    measure as a child element."""
    children = [named("NAME", name)]
    if measure is not None:
        children.append(named("EFFECT_MEASURE", measure))
    if labels:
        children += [
            named("GROUP_LABEL_1", "Treated"),
            named("GROUP_LABEL_2", "Untreated"),
            named("GRAPH_LABEL_1", "Favours treatment"),
            named("GRAPH_LABEL_2", "Favours none"),
        ]
    return element(
        f"{kind}_OUTCOME",
        {"NO": number, "ID": f"CMP-001.0{number}", **(attributes or {}), **attrs},
        *children,
        *rows,
    )


def subgroup(kind: str, number: int, name: str, rows: Iterable[str], **attrs: object) -> str:
    return element(f"{kind}_SUBGROUP", {"NO": number, **attrs}, named("NAME", name), *rows)


def data(kind: str, study_id: str, **attrs: object) -> str:
    return element(f"{kind}_DATA", {"STUDY_ID": study_id, **attrs})


def review(
    *outcomes: str,
    calculated: bool = False,
    studies: Iterable[tuple[str, str, str]] = STUDIES,
    filler: str = "",
) -> str:
    """A minimal RevMan 5 review with one comparison holding ``outcomes``."""
    included = "".join(
        element("STUDY", {"ID": i, "NAME": n, "YEAR": y, "DATA_SOURCE": "PUB"})
        for i, n, y in studies
    )
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>\n'
        '<COCHRANE_REVIEW REVMAN_VERSION="5" TYPE="INTERVENTION">\n'
        "<COVER_SHEET><TITLE>Synthetic review</TITLE></COVER_SHEET>\n"
        f"<MAIN_TEXT>{filler}</MAIN_TEXT>\n"
        "<STUDIES_AND_REFERENCES><STUDIES>"
        f"<INCLUDED_STUDIES>{included}</INCLUDED_STUDIES>"
        "</STUDIES></STUDIES_AND_REFERENCES>\n"
        f'<ANALYSES_AND_DATA CALCULATED_DATA="{"YES" if calculated else "NO"}">\n'
        + element(
            "COMPARISON", {"ID": "CMP-001", "NO": 1}, named("NAME", "Treatment vs none"), *outcomes
        )
        + "\n</ANALYSES_AND_DATA>\n</COCHRANE_REVIEW>\n"
    )


def write(tmp_path: Path, text: str, name: str = "review.rm5") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    return path


def large_review(outcomes: int, paragraphs: int) -> str:
    """A review of ``outcomes`` outcomes of 200 studies and ``paragraphs`` of text
    (~28 kB per outcome, ~73 bytes per paragraph)."""
    studies = [(f"STD-{i}", f"Study {i}", "2000") for i in range(200)]
    rows = [
        data(
            "DICH",
            f"STD-{i}",
            EVENTS_1=i % 17 + 1,
            TOTAL_1=100 + i,
            EVENTS_2=i % 13 + 2,
            TOTAL_2=110 + i,
            ORDER=i,
        )
        for i in range(200)
    ]
    return review(
        *(
            outcome("DICH", n, f"Outcome {n}", rows, EFFECT_MEASURE="OR")
            for n in range(1, outcomes + 1)
        ),
        studies=studies,
        filler="<P>Background text of the review, repeated to make the file large.</P>"
        * paragraphs,
    )
