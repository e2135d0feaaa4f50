"""Risk of bias: RevMan's judgements per study and domain, from files or from Python.

RevMan 5 keeps them in ``.rm5`` files under ``QUALITY_ITEMS``: one
``QUALITY_ITEM`` per domain (its ``NAME``), with one
``QUALITY_ITEM_DATA_ENTRY`` per study whose ``RESULT`` is ``YES`` (low risk of
bias: the item's question, e.g. "Adequate sequence generation?", is answered
yes), ``NO`` (high risk) or ``UNKNOWN`` (unclear), and whose ``DESCRIPTION`` is
the support for the judgement. Domains judged per outcome group
(``LEVEL="GROUP"``, e.g. blinding) name the group after the domain.
RevMan Web's data packages hold ``risk-of-bias.csv``: a ``Study`` column and,
per domain, ``Domain (judgement): <domain>`` and ``Domain (support): <domain>``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from metapool._extras import pandas
from metapool.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from metapool.io._cells import Table

__all__ = ["JUDGEMENTS", "Judgement", "RiskOfBias", "read_risk_of_bias_csv"]

#: the judgements, from best to worst
JUDGEMENTS = ("low", "unclear", "high")

# RevMan 5's RESULT attribute; RevMan Web's judgement cells (lower case)
_RM5 = {"YES": "low", "NO": "high", "UNKNOWN": "unclear"}
_TEXT = {
    "low": "low",
    "low risk": "low",
    "low risk of bias": "low",
    "high": "high",
    "high risk": "high",
    "high risk of bias": "high",
    "unclear": "unclear",
    "unclear risk": "unclear",
    "unclear risk of bias": "unclear",
}
# cells that carry no judgement: RevMan leaves the study out of the domain's figures
_NONE = frozenset({"", "not applicable", "n/a", "na", "not assessed"})


@attrs.frozen
class Judgement:
    """One study's risk of bias in one domain: ``"low"``, ``"unclear"`` or ``"high"``."""

    study: str
    domain: str
    judgement: str = attrs.field()
    support: str = ""

    @judgement.validator
    def _check(self, _: Any, value: str) -> None:
        if value not in JUDGEMENTS:
            raise InputError(
                f"study {self.study!r}, domain {self.domain!r}: judgement {value!r} is not "
                f"one of {', '.join(map(repr, JUDGEMENTS))}"
            )


@attrs.frozen
class RiskOfBias:
    """Risk-of-bias judgements of a review (``review.risk_of_bias``).

    Attributes
    ----------
    judgements : tuple of Judgement
        One per study and domain judged (``study``, ``domain``, ``judgement``,
        ``support``), in the file's order.
    domains, studies : tuple of str
        In the order the file lists them.

    Examples
    --------
    >>> rob = RiskOfBias.from_records([
    ...     ("MRC-1", "Random sequence generation", "low"),
    ...     ("MRC-1", "Allocation concealment", "unclear", "Not described"),
    ...     ("CDP", "Random sequence generation", "high"),
    ... ])
    >>> rob.domains, rob.judgement("MRC-1", "Allocation concealment")
    (('Random sequence generation', 'Allocation concealment'), 'unclear')
    >>> rob.percentages()["Random sequence generation"]
    {'low': 50.0, 'unclear': 0.0, 'high': 50.0}
    """

    judgements: tuple[Judgement, ...]
    domains: tuple[str, ...] = attrs.field()
    studies: tuple[str, ...] = attrs.field()

    @domains.default
    def _domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(j.domain for j in self.judgements))

    @studies.default
    def _studies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(j.study for j in self.judgements))

    def __attrs_post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        domains, studies = set(self.domains), set(self.studies)
        for j in self.judgements:
            if j.domain not in domains or j.study not in studies:
                what = f"domain {j.domain!r}" if j.domain not in domains else f"study {j.study!r}"
                raise InputError(f"a judgement of {what}, which is not in the listed ones")
            if (j.study, j.domain) in seen:
                raise InputError(f"study {j.study!r} is judged twice in domain {j.domain!r}")
            seen.add((j.study, j.domain))

    @classmethod
    def from_records(cls, records: Iterable[Any]) -> RiskOfBias:
        """From :class:`Judgement` records, mappings or tuples.

        A mapping has keys ``study``, ``domain``, ``judgement`` and optionally
        ``support``; a tuple has them in that order. Judgements are ``"low"``,
        ``"unclear"`` or ``"high"`` (``"Low risk"`` and the like are accepted).
        """
        out = []
        for i, record in enumerate(records):
            if isinstance(record, Judgement):
                out.append(record)
                continue
            if isinstance(record, Mapping):
                fields = {k: record[k] for k in ("study", "domain", "judgement") if k in record}
                fields["support"] = record.get("support", "")
            elif isinstance(record, (tuple, list)) and len(record) in (3, 4):
                fields = dict(
                    zip(("study", "domain", "judgement", "support"), record, strict=False)
                )
            else:
                raise InputError(
                    f"risk-of-bias record {i}: {record!r} is not a Judgement, a mapping or a "
                    "(study, domain, judgement[, support]) tuple"
                )
            missing = [k for k in ("study", "domain", "judgement") if k not in fields]
            if missing:
                raise InputError(f"risk-of-bias record {i}: no {', '.join(missing)}")
            text = str(fields["judgement"]).strip().lower()
            out.append(
                Judgement(
                    str(fields["study"]),
                    str(fields["domain"]),
                    _TEXT.get(text, text),
                    str(fields.get("support") or ""),
                )
            )
        return cls(tuple(out))

    def judgement(self, study: str, domain: str) -> str | None:
        """The judgement of ``study`` in ``domain``, None when it was not judged."""
        return next(
            (j.judgement for j in self.judgements if j.study == study and j.domain == domain),
            None,
        )

    def percentages(self) -> dict[str, dict[str, float]]:
        """Per domain, the percent of its judged studies at low, unclear and high risk."""
        out = {}
        for domain in self.domains:
            found = [j.judgement for j in self.judgements if j.domain == domain]
            n = max(len(found), 1)  # a domain no study was judged in: 0% everywhere
            out[domain] = {k: 100.0 * found.count(k) / n for k in JUDGEMENTS}
        return out

    def graph(self, *, bar_width: float = 4.5) -> Figure:
        """RevMan's risk of bias graph: percent of studies per judgement, per domain."""
        from metapool.plots.risk_of_bias import risk_of_bias_graph

        return risk_of_bias_graph(self, bar_width=bar_width)

    def summary(self) -> Figure:
        """RevMan's risk of bias summary: a traffic light per study and domain."""
        from metapool.plots.risk_of_bias import risk_of_bias_summary

        return risk_of_bias_summary(self)

    def to_table(self, fmt: str = "text") -> str:
        """A row per study, a column per domain (``low``, ``unclear``, ``high``, blank:
        not judged), as ``"text"``, ``"csv"``, ``"markdown"`` or ``"html"``.

        Examples
        --------
        >>> rob = RiskOfBias.from_records([("A", "Blinding", "low"), ("B", "Blinding", "high")])
        >>> print(rob.to_table())
        Study  Blinding
        ---------------
        A           low
        B          high
        """
        from metapool.io.tables import render

        judged = {(j.study, j.domain): j.judgement for j in self.judgements}
        rows = [[s, *(judged.get((s, d), "") for d in self.domains)] for s in self.studies]
        return render(["Study", *self.domains], rows, fmt)

    def _repr_html_(self) -> str:
        return self.to_table("html")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per judgement: ``study``, ``domain``, ``judgement``, ``support``."""
        frame: pd.DataFrame = pandas().DataFrame(
            [attrs.asdict(j) for j in self.judgements],
            columns=["study", "domain", "judgement", "support"],
        )
        return frame


# -- RevMan 5 (.rm5) ------------------------------------------------------------------


def _text(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _paragraphs(element: ET.Element | None) -> str:
    """RevMan's rich text as plain text, a line per paragraph."""
    if element is None:
        return ""
    paragraphs = [_text(p) for p in element.iter("P")]
    return "\n".join(p for p in paragraphs if p) if paragraphs else _text(element)


def rm5_entries(item: ET.Element) -> list[tuple[str, str, str, str]]:
    """A whole ``QUALITY_ITEM`` element as (study id, domain, RESULT, support) rows."""
    name = _text(item.find("NAME"))
    groups = {
        g.get("ID", ""): _text(g.find("NAME")) for g in item.iter("QUALITY_ITEM_DATA_ENTRY_GROUP")
    }
    rows = []
    for entry in item.iter("QUALITY_ITEM_DATA_ENTRY"):
        group = groups.get(entry.get("GROUP_ID", ""), "")
        domain = f"{name}: {group}" if group else name
        rows.append(
            (
                entry.get("STUDY_ID", ""),
                domain,
                entry.get("RESULT", ""),
                _paragraphs(entry.find("DESCRIPTION")),
            )
        )
    return rows


def from_rm5(
    entries: Iterable[tuple[str, str, str, str]], label: Callable[[str], str], source: str
) -> RiskOfBias | None:
    """The judgements of a ``.rm5`` file, studies named as the outcomes name them."""
    found = []
    for study_id, domain, result, support in entries:
        judgement = _RM5.get(result.strip().upper())
        if judgement is None:
            raise InputError(
                f"{source}: risk of bias of study {study_id!r} in {domain!r}: RESULT "
                f"{result!r} is not YES, NO or UNKNOWN"
            )
        found.append(Judgement(label(study_id), domain, judgement, support))
    return RiskOfBias(tuple(found)) if found else None


# -- RevMan Web data packages (risk-of-bias.csv) ------------------------------------------

_JUDGED = "Domain (judgement): "
_SUPPORT = "Domain (support): "


def from_table(table: Table) -> RiskOfBias | None:
    """The judgements of a data package's ``risk-of-bias.csv``."""
    from metapool.io._cells import normalise

    table.require("Study")
    domains = [
        (key, header[len(_JUDGED) :].strip())
        for key, header in table.headers.items()
        if header.startswith(_JUDGED)
    ]
    found = []
    for line, cells in table.rows:
        study = cells.get("study", "").strip()
        for key, domain in domains:
            text = cells.get(key, "").strip()
            if text.lower() in _NONE:
                continue
            judgement = _TEXT.get(text.lower())
            if judgement is None:
                raise InputError(
                    f"{table.source}: line {line}: study {study!r}, {domain!r}: judgement "
                    f"{text!r} is not low, unclear or high risk"
                )
            support = cells.get(normalise(_SUPPORT + domain), "").strip()
            found.append(Judgement(study, domain, judgement, support))
    return RiskOfBias(tuple(found)) if found else None


def read_risk_of_bias_csv(path: str | os.PathLike[str]) -> RiskOfBias | None:
    """Read a ``risk-of-bias.csv`` as RevMan Web writes it (None: no judgement in it).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "risk-of-bias.csv"
    >>> _ = path.write_text(
    ...     "Study,Domain (judgement): Blinding,Domain (support): Blinding\\n"
    ...     "MRC-1,Low risk,Double blind\\nCDP,Not applicable,\\n", encoding="utf-8")
    >>> read_risk_of_bias_csv(path).judgements
    (Judgement(study='MRC-1', domain='Blinding', judgement='low', support='Double blind'),)
    """
    from metapool.io._cells import Table, decode
    from metapool.io._source import file_name, read_file

    source = file_name(path)
    return from_table(Table.parse(decode(read_file(source), source), source))
