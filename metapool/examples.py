"""Bundled example data sets, as study records and as RevMan files."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from metapool.errors import InputError
from metapool.records import Continuous, Dichotomous

__all__ = ["aspirin", "files", "path", "stem_cell_oa_pain"]


def aspirin() -> list[Dichotomous]:
    """Aspirin after myocardial infarction: deaths in seven trials (Fleiss 1993).

    The counts of Fleiss (1993), Table 1: deaths and patients randomised to
    aspirin (``_exp``) and to placebo (``_ctrl``). Also as review files: see
    :func:`path`.

    References
    ----------
    .. [1] Fleiss JL. The statistical basis of meta-analysis. Statistical
       Methods in Medical Research 1993;2:121-145.
    """
    rows = [
        ("MRC-1", 49, 615, 67, 624),
        ("CDP", 44, 758, 64, 771),
        ("MRC-2", 102, 832, 126, 850),
        ("GASP", 32, 317, 38, 309),
        ("PARIS", 85, 810, 52, 406),
        ("AMIS", 246, 2267, 219, 2257),
        ("ISIS-2", 1570, 8587, 1720, 8600),
    ]
    return [Dichotomous(*row) for row in rows]


def stem_cell_oa_pain() -> list[Continuous]:
    """Pain in knee osteoarthritis after mesenchymal stem cells vs control, by cell source.

    Invented data, for examples only: ten made-up trials ("Trial A 2015" to
    "Trial J 2021") in three subgroups by the source of the cells, with pain on
    a visual analogue scale (lower is better), in the style of recent reviews
    of mesenchymal stem cells. No real trial reported these numbers.
    """
    rows = [
        ("Trial A 2015", 2.9, 1.8, 15, 4.6, 2.0, 15, "Bone marrow"),
        ("Trial B 2018", 3.4, 2.1, 19, 4.5, 2.3, 24, "Bone marrow"),
        ("Trial C 2016", 2.7, 1.6, 20, 4.0, 1.9, 10, "Bone marrow"),
        ("Trial D 2016", 3.8, 2.2, 40, 4.4, 2.1, 20, "Bone marrow"),
        ("Trial E 2019", 2.5, 1.9, 18, 4.3, 2.2, 8, "Umbilical cord"),
        ("Trial F 2021", 3.1, 1.7, 29, 4.2, 1.8, 28, "Umbilical cord"),
        ("Trial G 2019", 2.6, 1.5, 12, 4.9, 1.7, 12, "Adipose tissue"),
        ("Trial H 2019", 3.0, 1.9, 20, 5.0, 2.1, 10, "Adipose tissue"),
        ("Trial I 2019", 3.5, 2.0, 26, 4.1, 2.0, 26, "Adipose tissue"),
        ("Trial J 2021", 3.9, 2.4, 29, 4.3, 2.3, 28, "Adipose tissue"),
    ]
    return [Continuous(*row) for row in rows]


def path(name: str) -> Path:
    """The path of an example review file that ships with metapool.

    Each data set above comes as a RevMan 5 review (``aspirin.rm5``,
    ``stem_cell.rm5``), a RevMan 5 CSV export (``aspirin.csv``,
    ``stem_cell.csv``) and a RevMan Web data package (``aspirin.zip``,
    ``stem_cell.zip``). The files are metapool's own, with the results RevMan
    would store computed by metapool; ``aspirin`` holds the odds ratio
    (Mantel-Haenszel, fixed effect) and the risk ratio (Mantel-Haenszel,
    random effects) of death, ``stem_cell`` the SMD (random effects) by cell
    source.

    Parameters
    ----------
    name : str
        A file name, as listed by :func:`files`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        For a name that is not one of the files.

    Examples
    --------
    >>> import metapool
    >>> review = metapool.read_review(metapool.examples.path("aspirin.rm5"))
    >>> [o.key for o in review.outcomes]
    ['1.1', '1.2']
    """
    resource = _DATA / name
    if name not in files():
        raise InputError(f"no example file {name!r}; the examples are {', '.join(files())}")
    return Path(str(resource))


def files() -> list[str]:
    """The names of the example review files, sorted.

    Examples
    --------
    >>> files()
    ['aspirin.csv', 'aspirin.rm5', 'aspirin.zip', 'stem_cell.csv', 'stem_cell.rm5', 'stem_cell.zip']
    """
    return sorted(
        entry.name for entry in _DATA.iterdir() if entry.is_file() and entry.name[0] != "."
    )


_DATA = importlib.resources.files("metapool") / "data"
