"""Bundled example data sets."""

from __future__ import annotations

from metapool.records import Continuous, Dichotomous

__all__ = ["aspirin", "stem_cell_oa_pain"]


def aspirin() -> list[Dichotomous]:
    """Aspirin after myocardial infarction: deaths in seven trials (Fleiss 1993).

    The first outcome of RevMan's ``Fleiss1993.rm5`` example review.
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

    Illustrative data in the style of a 2025 review of mesenchymal stem cells
    (VAS pain, lower is better); not the review's real numbers.
    """
    rows = [
        ("Vega 2015", 2.9, 1.8, 15, 4.6, 2.0, 15, "Bone marrow"),
        ("Emadedin 2018", 3.4, 2.1, 19, 4.5, 2.3, 24, "Bone marrow"),
        ("Lamo-Espinosa 2016", 2.7, 1.6, 20, 4.0, 1.9, 10, "Bone marrow"),
        ("Gupta 2016", 3.8, 2.2, 40, 4.4, 2.1, 20, "Bone marrow"),
        ("Matas 2019", 2.5, 1.9, 18, 4.3, 2.2, 8, "Umbilical cord"),
        ("Dilogo 2021", 3.1, 1.7, 29, 4.2, 1.8, 28, "Umbilical cord"),
        ("Lee 2019", 2.6, 1.5, 12, 4.9, 1.7, 12, "Adipose tissue"),
        ("Freitag 2019", 3.0, 1.9, 20, 5.0, 2.1, 10, "Adipose tissue"),
        ("Lu 2019", 3.5, 2.0, 26, 4.1, 2.0, 26, "Adipose tissue"),
        ("Chen 2021", 3.9, 2.4, 29, 4.3, 2.3, 28, "Adipose tissue"),
    ]
    return [Continuous(*row) for row in rows]
