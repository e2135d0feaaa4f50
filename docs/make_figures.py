"""Draw the example figures of the documentation into ``docs/_static``.

Run from the repository root after changing a plot::

    python docs/make_figures.py

Every figure is drawn from the bundled example data, headless (Agg).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import metapool
from metapool.plots import baujat, labbe

STATIC = Path(__file__).resolve().parent / "_static"
DPI = 150


def main() -> None:
    """Write the forest, funnel, Baujat, L'Abbé, bubble and GOSH plots of the user guide."""
    STATIC.mkdir(exist_ok=True)
    aspirin = metapool.analyse(metapool.examples.aspirin(), measure="OR", method="MH")
    stem_cells = metapool.analyse(
        metapool.examples.stem_cell_oa_pain(), measure="SMD", model="random"
    )
    figures = {
        "forest_aspirin.png": aspirin.forest(group_labels=("Aspirin", "Control")),
        "forest_stem_cells.png": stem_cells.forest(
            group_labels=("Stem cells", "Control"),
            left_label="Favours stem cells",
            right_label="Favours control",
        ),
        "funnel_aspirin.png": aspirin.funnel(trimfill=aspirin.trimfill()),
        "baujat_stem_cells.png": baujat(stem_cells),
        "labbe_aspirin.png": labbe(aspirin),
        "bubble_stem_cells.png": stem_cells.metareg(
            {"year": [int(s.study.split()[-1]) for s in stem_cells.studies]}
        ).bubble("year", ylabel="SMD"),
        "gosh_stem_cells.png": stem_cells.gosh().plot(),
    }
    for name, fig in figures.items():
        fig.savefig(STATIC / name, dpi=DPI, facecolor="white")
        plt.close(fig)
        print(STATIC / name)


if __name__ == "__main__":
    main()
