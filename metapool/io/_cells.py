"""Cell text to values, as the readers read it: numbers, flags, levels, data types,
the file's text encoding, CSV tables, and a study record from its cells' values.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs
import numpy as np

from metapool._typing import FloatArray
from metapool.errors import InputError
from metapool.records import COUNTS, RECORD, Study
from metapool.vocabulary import DataType

__all__ = [
    "Table",
    "column",
    "data_type",
    "decimals",
    "decode",
    "level",
    "model_is_random",
    "normalise",
    "number",
    "record",
    "stored",
    "yes_no",
]

NAN = math.nan

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


def yes_no(text: str) -> bool:
    """RevMan's YES/NO, true/false and Yes/No cells (an empty one keeps a setting's
    default: :meth:`~metapool.io._draft.Draft.setting` does not read it)."""
    key = text.strip().lower()
    if key in ("yes", "true", "y"):
        return True
    if key in ("no", "false", "n"):
        return False
    raise ValueError(text)


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


def column(texts: Sequence[str | None]) -> FloatArray | None:
    """Cells as floats (NaN where empty) when every one is a plain number, else None
    (:func:`number` then reads them one by one, and names the one that is not)."""
    cells = ["" if t is None else t for t in texts]
    joined = "\n".join(cells)
    if joined.count("\n") != len(cells) - 1 or not _PLAIN_COLUMN.fullmatch(joined):
        return None
    return np.array([c if c.strip() else "nan" for c in cells], dtype=np.float64)


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
        return RECORD[data_type](study=study, subgroup=subgroup, footnote=footnote, **fields)
    except InputError as exc:
        found = [f"{f} is {n}" for f, n in names.items() if f != n and f in str(exc)]
        hint = f" ({', '.join(found)})" if found else ""
        raise InputError(f"{where}: {exc}{hint}") from None


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
