"""What every metapool plot shares: the optional matplotlib import and RevMan's look."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from metapool._extras import extra
from metapool.errors import MetapoolWarning
from metapool.vocabulary import DataType

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "COLOURS",
    "choose_family",
    "figure",
    "font_family",
    "require_matplotlib",
    "text_width",
]

#: Square colours by data type. Blue (dichotomous) and green (continuous) are
#: RevMan Web's own (its exported SVGs); O-E data are event data and take the
#: dichotomous blue, generic inverse-variance data the continuous green.
COLOURS: dict[DataType, str] = {
    DataType.DICHOTOMOUS: "#0000cc",
    DataType.O_MINUS_E: "#0000cc",
    DataType.CONTINUOUS: "#00cc00",
    DataType.GENERIC: "#00cc00",
}

# RevMan draws in Arial; Liberation Sans and Arimo have Arial's metrics, so
# column widths come out as RevMan's where Arial itself is not installed.
_ARIAL = ("Arial", "Liberation Sans", "Arimo")
_FALLBACKS = ("Helvetica", "DejaVu Sans")


def require_matplotlib() -> None:
    """Fail with the install command when the optional ``plot`` extra is missing."""
    with extra("plot", "metapool's plots need matplotlib"):
        import matplotlib  # noqa: F401


@functools.cache
def font_family() -> str:
    """The first of Arial and its metric twins that is installed (else DejaVu Sans).

    Asking matplotlib for a missing family logs a warning on every text, so
    the choice is made once, here (and a fallback is reported once).
    """
    from matplotlib import font_manager

    return choose_family(font.name for font in font_manager.fontManager.ttflist)


def choose_family(installed: Iterable[str]) -> str:
    """Arial or a font with its metrics from the ``installed`` families; else a
    fallback, with a :class:`~metapool.MetapoolWarning` that says how to get one.

    Examples
    --------
    >>> choose_family(["DejaVu Sans", "Liberation Sans"])
    'Liberation Sans'
    """
    names = set(installed)
    found = next((name for name in _ARIAL if name in names), None)
    if found is not None:
        return found
    fallback = next((name for name in _FALLBACKS if name in names), "DejaVu Sans")
    warnings.warn(
        f"neither Arial nor Liberation Sans is installed: plots use {fallback}, so their "
        "columns are not RevMan's widths. Install Liberation Sans (Debian/Ubuntu: "
        "apt-get install fonts-liberation), then delete matplotlib's font cache "
        "(the fontlist-*.json files in matplotlib.get_cachedir()) and restart Python",
        MetapoolWarning,
        stacklevel=3,
    )
    return fallback


def figure(**kwargs: Any) -> Figure:
    """A new matplotlib Figure that pyplot does not know about, whose SVG output keeps
    text as text (as RevMan Web's SVGs do), whatever ``svg.fonttype`` says.

    pyplot keeps every figure it makes until it is closed; a figure of its own
    (with an Agg canvas, so that it draws and saves under any backend) is
    freed with its last reference, so loops over many plots leak nothing.
    Jupyter still displays it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig: Figure = _text_figure()(**kwargs)
    FigureCanvasAgg(fig)
    return fig


@functools.cache
def _text_figure() -> type[Figure]:
    import matplotlib
    from matplotlib.figure import Figure

    class TextFigure(Figure):
        def savefig(self, *args: Any, **kwargs: Any) -> None:
            with matplotlib.rc_context({"svg.fonttype": "none"}):
                super().savefig(*args, **kwargs)

    return TextFigure


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` in points, measured from the font (no figure needed).

    Examples
    --------
    >>> text_width("Total", 9) < text_width("Total", 9, bold=True) < text_width("Total", 18)
    True
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=font_family(), size=size, weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return float(width)
