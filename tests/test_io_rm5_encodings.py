"""read_rm5: file encodings, and duplicated IDs, numbers and names (synthetic files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from revman_files import data, outcome, review, subgroup, write

from metapool import Dichotomous, InputError
from metapool.io import read_rm5

# -- encodings and duplicates -------------------------------------------------------------------

ROWS_AB = [
    data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10),
    data("DICH", "STD-B", EVENTS_1=3, TOTAL_1=12, EVENTS_2=4, TOTAL_2=11),
]


def test_byte_order_mark_wins_over_the_declaration(tmp_path: Path) -> None:
    """The declaration says ISO-8859-1, the BOM UTF-8: "Müller", not "MÃ¼ller"."""
    studies = [("STD-A", "Müller", "1999"), ("STD-B", "Beta", "2000")]
    text = review(outcome("DICH", 1, "Décès", ROWS_AB, EFFECT_MEASURE="OR"), studies=studies)
    path = tmp_path / "bom.rm5"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    out = read_rm5(path).outcome("1.1")
    assert out.name == "Décès" and out.studies[0].study == "Müller"


@pytest.mark.parametrize("encoding", ["klingon", "base64", "rot13"])
def test_unknown_encoding(tmp_path: Path, encoding: str) -> None:
    text = review(outcome("DICH", 1, "D", ROWS_AB, EFFECT_MEASURE="OR"))
    path = write(tmp_path, text.replace("ISO-8859-1", encoding))
    with pytest.raises(InputError, match=f"names the encoding '{encoding}', which metapool"):
        read_rm5(path)


def test_bytes_that_are_not_the_declared_encoding(tmp_path: Path) -> None:
    text = review(outcome("DICH", 1, "D\xe9c\xe8s", ROWS_AB, EFFECT_MEASURE="OR"))
    path = write(tmp_path, text.replace("ISO-8859-1", "UTF-8"))  # Latin-1 bytes
    with pytest.raises(InputError, match=r"review\.rm5: byte \d+ is not valid UTF-8 text"):
        read_rm5(path)


def test_one_long_attribute(tmp_path: Path) -> None:
    """A 12 MB attribute (it parsed in quadratic time in 16 kB reads)."""
    rows = [
        data("DICH", "STD-A", EVENTS_1=1, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10, NOTE="x" * 12_000_000)
    ]
    path = write(tmp_path, review(outcome("DICH", 1, "D", rows, EFFECT_MEASURE="OR")))
    assert read_rm5(path).outcome("1.1").studies == (Dichotomous("Alpha", 1, 10, 2, 10),)


def test_duplicate_study_ids_outcome_numbers_and_rows(tmp_path: Path) -> None:
    studies = [*STUDIES_AB, ("STD-C", "Gamma", "2003"), ("STD-C", "Gamma again", "2004")]
    gamma = data("DICH", "STD-C", EVENTS_1=5, TOTAL_1=50, EVENTS_2=6, TOTAL_2=50)
    text = review(
        outcome("DICH", 1, "Clean", ROWS_AB, EFFECT_MEASURE="OR"),
        outcome("DICH", 2, "Uses the twice-listed ID", [*ROWS_AB, gamma], EFFECT_MEASURE="OR"),
        outcome("DICH", 3, "Listed twice", [*ROWS_AB, ROWS_AB[0]], EFFECT_MEASURE="OR"),
        outcome("DICH", 4, "Numbered 4", ROWS_AB, EFFECT_MEASURE="OR"),
        outcome("DICH", 4, "Numbered 4 again", ROWS_AB, EFFECT_MEASURE="RR"),
        outcome(
            "DICH",
            5,
            "Two doses",  # one study in two subgroups: RevMan allows it
            [subgroup("DICH", 1, "Low", ROWS_AB[:1]), subgroup("DICH", 2, "High", ROWS_AB[:1])],
            EFFECT_MEASURE="OR",
        ),
        studies=studies,
    )
    rv = read_rm5(write(tmp_path, text))
    clean, uses, listed, four, four_again, doses = rv.outcomes
    assert clean.error is None and doses.error is None and len(doses.studies) == 2
    assert uses.error is not None and "study ID 'STD-C' belongs to two included" in uses.error
    assert listed.error is not None and "study 'STD-A' is listed twice" in listed.error
    for out in (four, four_again):
        assert out.error is not None and "2 outcomes are numbered 1.4" in out.error


STUDIES_AB = [("STD-A", "Alpha", "2001"), ("STD-B", "Beta", "2002")]


def test_counts_read_as_columns_are_ints_and_errors_name_the_study(tmp_path: Path) -> None:
    rows = [*ROWS_AB, data("DICH", "STD-C", EVENTS_1=11, TOTAL_1=10, EVENTS_2=2, TOTAL_2=10)]
    text = review(
        outcome("DICH", 1, "Good", ROWS_AB, EFFECT_MEASURE="OR"),
        outcome("DICH", 2, "Bad", rows, EFFECT_MEASURE="OR"),
        outcome(
            "DICH",
            3,
            "Blank",
            [data("DICH", "STD-A", EVENTS_1="", TOTAL_1="", EVENTS_2=2, TOTAL_2=10)],
            EFFECT_MEASURE="OR",
        ),
        studies=[*STUDIES_AB, ("STD-C", "Gamma", "2003")],
    )
    good, bad, blank = read_rm5(write(tmp_path, text)).outcomes
    assert [type(getattr(good.studies[0], f)) for f in ("events_exp", "total_ctrl")] == [int, int]
    assert repr(good.studies[0]) == repr(Dichotomous("Alpha", 1, 10, 2, 10))
    assert bad.error is not None
    assert (
        "study 'Gamma': events_exp = 11 is greater than total_exp = 10 (events_exp is" in bad.error
    )
    assert blank.studies == (Dichotomous("Alpha", None, None, 2, 10),)
