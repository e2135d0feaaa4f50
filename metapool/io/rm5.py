"""RevMan 5 review files (``.rm5``): XML, streamed so that large reviews load quickly.

The analyses live under ``ANALYSES_AND_DATA``: ``COMPARISON`` elements hold
outcomes (``DICH_OUTCOME``, ``CONT_OUTCOME``, ``IV_OUTCOME`` for generic inverse
variance, ``IPD_OUTCOME`` for O-E and variance), optionally divided into
``*_SUBGROUP`` elements, with one ``*_DATA`` element per study. Settings and,
when the file says ``CALCULATED_DATA="YES"``, RevMan's results are attributes.
"""

from __future__ import annotations

import codecs
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import BinaryIO

from metapool.errors import InputError
from metapool.io._cells import data_type
from metapool.io._cells import number as parse_number
from metapool.io._draft import Draft, Row, duplicate_numbers, stored_pooled, stored_study
from metapool.io._source import file_name, open_file
from metapool.io.review import (
    Comparison,
    Review,
    StoredPooled,
    StoredStudy,
    StoredTest,
    StudyInfo,
)
from metapool.io.risk_of_bias import from_rm5, rm5_entries

__all__ = ["read_rm5"]

# record field -> attribute of the *_DATA element, per outcome type
_DATA_ATTRIBUTES = {
    "DICH": {
        "events_exp": "EVENTS_1",
        "total_exp": "TOTAL_1",
        "events_ctrl": "EVENTS_2",
        "total_ctrl": "TOTAL_2",
    },
    "CONT": {
        "mean_exp": "MEAN_1",
        "sd_exp": "SD_1",
        "total_exp": "TOTAL_1",
        "mean_ctrl": "MEAN_2",
        "sd_ctrl": "SD_2",
        "total_ctrl": "TOTAL_2",
    },
    "IV": {"estimate": "EFFECT_SIZE", "se": "SE"},
    "IPD": {"o_minus_e": "O_E", "variance": "VAR"},
}
_STUDY_RESULTS = ("EFFECT_SIZE", "CI_START", "CI_END", "SE", "WEIGHT")
_POOLED_RESULTS = (
    ("estimate", "EFFECT_SIZE"),
    ("ci_lower", "CI_START"),
    ("ci_upper", "CI_END"),
    ("z", "Z"),
    ("p_value", "P_Z"),
    ("q", "CHI2"),
    ("df", "DF"),
    ("p_q", "P_CHI2"),
    ("i2", "I2"),
    ("tau2", "TAU2"),
)
# setting (as Draft.setting reads it) -> XML attribute (absent: RevMan's default)
_SETTINGS = {
    "ci_study": "CI_STUDY",
    "ci_total": "CI_TOTAL",
    "random": "RANDOM",
    "swap_events": "SWAP_EVENTS",
    "subgroups": "SUBGROUPS",
    "subgroup_test": "SUBGROUP_TEST",
    "ratio": "LOG_DATA",  # generic data: a ratio on the log scale
    "scale": "SCALE",
    "sort_by": "SORT_BY",
}
_LABELS = {"GROUP_LABEL_1": 0, "GROUP_LABEL_2": 1, "GRAPH_LABEL_1": 0, "GRAPH_LABEL_2": 1}
_COMPARISON = ["ANALYSES_AND_DATA", "COMPARISON"]  # where outcomes live
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # RevMan's escapes in ids: STD-ISIS_x002d_2
# parent -> the children read (the others hold the review's text, references, tables)
_READ = {
    "COCHRANE_REVIEW": frozenset(
        {
            "COVER_SHEET",
            "STUDIES_AND_REFERENCES",
            "CHARACTERISTICS_OF_STUDIES",
            "QUALITY_ITEMS",
            "ANALYSES_AND_DATA",
        }
    ),
    # risk of bias: QUALITY_ITEMS beside CHARACTERISTICS_OF_STUDIES, or inside it
    "CHARACTERISTICS_OF_STUDIES": frozenset({"QUALITY_ITEMS"}),
    "STUDIES_AND_REFERENCES": frozenset({"STUDIES"}),
    "STUDIES": frozenset({"INCLUDED_STUDIES"}),
}
_CHUNK, _MAX_CHUNK = 1 << 16, 1 << 24  # bytes read at a time
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM it begins with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARATION = re.compile(rb"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([A-Za-z][\w.-]{0,63})[\"']")


def read_rm5(path: str | os.PathLike[str]) -> Review:
    """Read a RevMan 5 review file.

    Parameters
    ----------
    path : str or path-like
        An ``.rm5`` file (XML, usually ISO-8859-1).

    Returns
    -------
    Review
        Comparisons and outcomes with their study records, settings and the
        results RevMan stored. An outcome that cannot be read carries an
        ``error`` and the rest of the review still loads: so does one that
        lists a study twice (in one subgroup), one whose study ID two included
        studies share, and outcomes that share a number.

    Raises
    ------
    InputError
        The file cannot be read (not a regular file, larger than 1 GiB), is
        not well-formed XML (the message names the file, line and column), or
        is not text in its encoding: a byte order mark decides it, else the
        XML declaration.

    Examples
    --------
    >>> from metapool import examples
    >>> review = read_rm5(examples.path("aspirin.rm5"))
    >>> review.title
    'Aspirin after myocardial infarction (metapool example)'
    >>> [o.key for o in review.outcomes]
    ['1.1', '1.2']
    >>> first = review.outcome("1.1").studies[0]
    >>> first.study, first.events_exp, first.total_exp, first.events_ctrl, first.total_ctrl
    ('MRC-1', 49, 615, 67, 624)
    """
    source = file_name(path)
    parser = _Parser(source)
    xml: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    try:
        with open_file(source) as file:
            text, size = _Text(file, source), _CHUNK
            while chunk := text.read(size):
                xml.feed(chunk)
                seen = False
                for event in xml.read_events():
                    element = event[-1]  # start and end events only: (str, Element)
                    assert isinstance(element, ET.Element)
                    if event[0] == "start":
                        parser.start(element)
                    else:
                        parser.end(element)
                    seen = True
                # expat re-scans an unfinished token (a long attribute) on every feed:
                # chunks grow while it lasts, so that its parse stays linear, not quadratic
                size = _CHUNK if seen else min(4 * size, _MAX_CHUNK)
        xml.close()
    except ET.ParseError as exc:  # its message names the line and column
        raise InputError(f"{source}: not a well-formed RevMan file: XML error, {exc}") from exc
    except OSError as exc:
        raise InputError(f"{source}: cannot read the file ({exc.strerror or exc})") from exc
    return parser.review()


class _Text:
    """The file's text, decoded here so that a byte order mark wins over the XML declaration."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        self.file, self.source = file, source
        self.head = file.read(_CHUNK)
        self.encoding = _encoding(self.head, source)
        self.decoder = codecs.getincrementaldecoder(self.encoding)()
        self.offset = 0  # of the next byte to decode
        self.done = False

    def read(self, size: int) -> str:
        """About ``size`` bytes' worth of text; "" at the end."""
        while not self.done:
            chunk, self.head = self.head or self.file.read(size), b""
            self.done = not chunk
            try:
                text = self.decoder.decode(chunk, final=self.done)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{self.source}: byte {self.offset + exc.start} is not valid "
                    f"{self.encoding} text"
                ) from None
            self.offset += len(chunk)
            if text:
                return text
        return ""


def _encoding(head: bytes, source: str) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    declared = _DECLARATION.match(head)
    if declared is None:
        return "utf-8"  # the XML default
    name = declared.group(1).decode("ascii")
    try:
        "x".encode(name)  # LookupError for unknown names and for non-text codecs (base64)
    except (LookupError, UnicodeError):
        raise InputError(
            f"{source}: the XML declaration names the encoding {name!r}, which metapool "
            "does not know"
        ) from None
    return name


def _prefix(tag: str, suffix: str) -> str | None:
    return tag[: -len(suffix)] if tag.endswith(suffix) else None


def _study_name(study_id: str) -> str:
    """A name from an id RevMan did not list (``STD-ISIS_x002d_2`` -> ``ISIS-2``)."""
    name = study_id.removeprefix("STD-")
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name) or study_id


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class _Parser:
    """Event handlers of the streaming parse; elements are cleared once read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.path: list[str] = []
        self.title = ""
        self.studies: dict[str, StudyInfo] = {}
        self.twice: set[str] = set()  # study IDs two included studies have
        self.skipped = 0  # depth inside an element whose content is not read
        self.calculated = False
        self.comparisons: list[tuple[int, str, list[Draft]]] = []
        self.outcome: Draft | None = None
        self.prefix = ""  # DICH, CONT, IV, IPD of the current outcome
        self.subgroup: int | None = None
        self.footnotes: list[str] = []  # of the study row being read
        self.quality: list[tuple[str, str, str, str]] = []  # risk-of-bias entries

    # -- events -----------------------------------------------------------------
    def start(self, element: ET.Element) -> None:
        if self.skipped:  # inside the review's text: a quick way through its many elements
            self.skipped += 1
            return
        tag, parent = element.tag, self.path[-1] if self.path else ""
        read = _READ.get(parent)
        if read is not None and tag not in read:
            self.skipped = 1
            return
        if not self.path and tag != "COCHRANE_REVIEW":
            raise InputError(
                f"{self.source}: not a RevMan review: the root element is <{tag}>, "
                "not <COCHRANE_REVIEW>"
            )
        self.path.append(tag)
        attrs = element.attrib
        if tag == "ANALYSES_AND_DATA":
            self.calculated = attrs.get("CALCULATED_DATA") == "YES"
        elif tag == "COMPARISON" and parent == "ANALYSES_AND_DATA":
            number = _int(attrs.get("NO"))
            self.comparisons.append(
                (len(self.comparisons) + 1 if number is None else number, "", [])
            )
        elif self.path[-3:-1] == _COMPARISON and (prefix := _prefix(tag, "_OUTCOME")):
            self._start_outcome(prefix, tag, attrs)
        elif self.outcome is not None and _prefix(tag, "_SUBGROUP") == self.prefix:
            self.subgroup = self.outcome.add_subgroup("", self._pooled(attrs))

    def end(self, element: ET.Element) -> None:
        if self.skipped:
            self.skipped -= 1
            element.clear()
            return
        tag = self.path.pop()
        parent = self.path[-1] if self.path else ""
        if tag == "NAME":
            self._name(parent, "".join(element.itertext()).strip())
        elif tag == "TITLE" and parent == "COVER_SHEET":
            self.title = "".join(element.itertext()).strip()
        elif tag == "STUDY" and parent == "INCLUDED_STUDIES":
            attrs = element.attrib
            study_id = attrs.get("ID", "")
            year = attrs.get("YEAR", "").strip() or None
            if study_id in self.studies:
                self.twice.add(study_id)
            self.studies[study_id] = StudyInfo(study_id, attrs.get("NAME", study_id), year)
        elif tag == "QUALITY_ITEM":
            self.quality += rm5_entries(element)
        elif self.outcome is not None:
            self._outcome_end(tag, parent, element)
        # keep memory flat: nothing is read from an element after its end (a
        # risk-of-bias item is read whole at its own end)
        if "QUALITY_ITEM" not in self.path:
            element.clear()

    # -- outcomes -------------------------------------------------------------------
    def _start_outcome(self, prefix: str, tag: str, attrs: Mapping[str, str]) -> None:
        number, _, drafts = self.comparisons[-1]
        draft = Draft(
            source=self.source,
            comparison=number,
            number=_int(attrs.get("NO")) or len(drafts) + 1,
            id=attrs.get("ID"),
            kind=tag,
            data_type=data_type(prefix) if prefix in _DATA_ATTRIBUTES else None,
            exponentiated=True,
        )
        self.outcome, self.prefix, self.subgroup = draft, prefix, None
        drafts.append(draft)
        if "NO" not in attrs:
            draft.fail("attribute NO is missing")
        draft.measure = attrs.get("EFFECT_MEASURE")  # IV and IPD outcomes: a child element
        draft.method = attrs.get("METHOD")
        for key, name in _SETTINGS.items():
            draft.setting(key, f"attribute {name}", attrs.get(name))
        totals = attrs.get("TOTALS", "YES").strip().upper()
        if totals not in ("YES", "SUB", "NO"):
            draft.fail(f"attribute TOTALS = {totals!r} is not YES, SUB or NO")
        draft.totals, draft.subtotals = totals == "YES", totals in ("YES", "SUB")
        draft.stored_total = self._pooled(attrs)
        if self.calculated:
            draft.stored_test = StoredTest(
                q=draft.value("", "Q", attrs.get("Q")),
                p_value=draft.value("", "P_Q", attrs.get("P_Q")),
                i2=draft.value("", "I2_Q", attrs.get("I2_Q")),
            )

    def _outcome_end(self, tag: str, parent: str, element: ET.Element) -> None:
        draft = self.outcome
        assert draft is not None
        if parent == draft.kind and tag in _LABELS:
            labels = draft.group_labels if tag.startswith("GROUP") else draft.graph_labels
            labels[_LABELS[tag]] = "".join(element.itertext()).strip()
        elif parent == draft.kind and tag == "EFFECT_MEASURE":
            draft.measure = "".join(element.itertext()).strip()
        elif tag == "FOOTNOTE" and _prefix(parent, "_DATA") == self.prefix:
            self.footnotes.append(" ".join("".join(element.itertext()).split()))
        elif (prefix := _prefix(tag, "_DATA")) is not None:
            if prefix != self.prefix:
                draft.fail(f"{tag} element in a {draft.kind}")
            elif prefix in _DATA_ATTRIBUTES:
                self._row(draft, element.attrib)
            self.footnotes = []
        elif tag == f"{self.prefix}_SUBGROUP":
            self.subgroup = None
        elif tag == draft.kind:
            if draft.measure is None and draft.data_type is not None:
                draft.fail("the effect measure (EFFECT_MEASURE) is missing")
            self.outcome = None

    def _row(self, draft: Draft, attrs: Mapping[str, str]) -> None:
        study_id = attrs.get("STUDY_ID")
        if study_id is None:
            draft.fail(f"a {self.prefix}_DATA element has no STUDY_ID attribute")
            return
        names = _DATA_ATTRIBUTES[self.prefix]
        missing = [a for a in names.values() if a not in attrs]
        if missing:
            draft.fail(f"study {study_id!r}: attribute {', '.join(missing)} is missing")
        stored = StoredStudy()
        if self.calculated:
            where = f"study {study_id!r}: "
            stored = stored_study(
                [draft.value(where, a, attrs.get(a)) for a in _STUDY_RESULTS],
                estimable=self._estimable(attrs),
            )
        try:
            order = parse_number(attrs.get("ORDER"))
        except ValueError:
            order = None  # a display option only: an odd one does not stop the analysis
        draft.rows.append(
            Row(
                study_id=study_id,
                subgroup=self.subgroup,
                cells={field: (a, attrs.get(a)) for field, a in names.items()},
                stored=stored,
                order=float("nan") if order is None else order,
                footnote=" ".join(t for t in self.footnotes if t),
            )
        )

    def _name(self, parent: str, text: str) -> None:
        if self.path[-2:] == _COMPARISON and self.outcome is None:
            number, _, drafts = self.comparisons[-1]
            self.comparisons[-1] = (number, text, drafts)
        elif self.outcome is not None and parent == self.outcome.kind:
            self.outcome.name = text
        elif (
            self.outcome is not None
            and self.subgroup is not None
            and parent == f"{self.prefix}_SUBGROUP"
        ):
            self.outcome.name_subgroup(self.subgroup, text)

    # -- attribute helpers --------------------------------------------------------
    def _pooled(self, attrs: Mapping[str, str]) -> StoredPooled | None:
        if not self.calculated:
            return None
        draft = self.outcome
        assert draft is not None
        values = {key: draft.value("", name, attrs.get(name)) for key, name in _POOLED_RESULTS}
        return stored_pooled(values, estimable=self._estimable(attrs))

    def _estimable(self, attrs: Mapping[str, str]) -> bool | None:
        text = attrs.get("ESTIMABLE")
        return None if text is None else text.strip().upper() != "NO"

    # -- result ---------------------------------------------------------------------
    def review(self) -> Review:
        def label(study_id: str) -> str:
            info = self.studies.get(study_id)
            return info.name if info is not None and info.name.strip() else _study_name(study_id)

        def year(study_id: str) -> str | None:
            info = self.studies.get(study_id)
            return None if info is None else info.year

        drafts = [d for _, _, outcome_drafts in self.comparisons for d in outcome_drafts]
        duplicate_numbers(drafts)
        for draft in drafts:
            for study_id in sorted(self.twice & {row.study_id for row in draft.rows}):
                draft.fail(f"study ID {study_id!r} belongs to two included studies")
        return Review(
            title=self.title,
            studies=tuple(self.studies.values()),
            comparisons=tuple(
                Comparison(number, name, tuple(d.finish(label, year) for d in drafts))
                for number, name, drafts in self.comparisons
            ),
            source=self.source,
            format="rm5",
            risk_of_bias=from_rm5(self.quality, label, self.source),
        )
