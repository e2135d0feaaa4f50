"""RevMan files in, tables in and out.

- :func:`read_rm5` -- RevMan 5 review files (``.rm5``);
- :func:`read_revman_csv` -- RevMan 5 "Data and analyses" CSV exports;
- :func:`read_datapackage` -- Cochrane data packages exported by RevMan Web (``.zip``);
- :func:`read_review` -- any of the three, by file type;
- :func:`from_dataframe` / :func:`result_to_dataframe` -- pandas DataFrames.
"""

from __future__ import annotations

import os
from pathlib import Path

from metapool.errors import InputError
from metapool.io._source import file_name, open_file
from metapool.io.compare import Difference, Largest, OutcomeCheck, ReviewCheck
from metapool.io.dataframe import from_dataframe, result_rows, result_to_dataframe
from metapool.io.datapackage import read_datapackage
from metapool.io.review import (
    Comparison,
    Outcome,
    Review,
    RevManResults,
    StoredPooled,
    StoredStudy,
    StoredTest,
    StudyInfo,
)
from metapool.io.revman_csv import read_revman_csv
from metapool.io.rm5 import read_rm5

__all__ = [
    "Comparison",
    "Difference",
    "Largest",
    "Outcome",
    "OutcomeCheck",
    "RevManResults",
    "Review",
    "ReviewCheck",
    "StoredPooled",
    "StoredStudy",
    "StoredTest",
    "StudyInfo",
    "from_dataframe",
    "read_datapackage",
    "read_review",
    "read_revman_csv",
    "read_rm5",
    "result_rows",
    "result_to_dataframe",
]


def read_review(path: str | os.PathLike[str]) -> Review:
    """Read a RevMan review in any format metapool knows.

    ``.rm5`` files, RevMan 5 CSV exports and RevMan Web data packages (``.zip``,
    also inside the zip of RevMan Web's Export button) are told apart by their
    extension, else by their first bytes.

    Examples
    --------
    >>> from metapool import examples
    >>> review = read_review(examples.path("aspirin.csv"))
    >>> review.format, [o.key for o in review.outcomes]
    ('revman_csv', ['1.1', '1.2'])
    """
    source = file_name(path)
    suffix = Path(source).suffix.lower()
    readers = {".rm5": read_rm5, ".csv": read_revman_csv, ".zip": read_datapackage}
    if suffix in readers:
        return readers[suffix](source)
    with open_file(source) as file:
        try:
            head = file.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError as exc:
            raise InputError(f"{source}: cannot read the file ({exc.strerror or exc})") from exc
    if head.startswith(b"PK"):
        return read_datapackage(source)
    if head.startswith(b"<"):
        return read_rm5(source)
    return read_revman_csv(source)
