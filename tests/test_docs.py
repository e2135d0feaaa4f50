"""The documentation stays in step with the package.

The examples in ``docs/*.md`` run as doctests (``--doctest-glob='*.md'`` in
pyproject.toml); CI builds the HTML with warnings as errors. These checks
catch the drift that neither notices until it is too late: a page missing
from the table of contents, a public name missing from the API reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import metapool

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _toctree(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    block = re.search(r"```\{toctree\}\n(.*?)```", text, re.S)
    assert block, f"{page} has no toctree"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith(":")
    ]


def test_every_page_is_in_the_toctree() -> None:
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    listed = _toctree("index.md")
    assert sorted(pages - set(listed)) == []
    assert sorted(set(listed) - pages) == []


def test_every_public_name_is_in_the_api_reference() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [
        name for name in metapool.__all__ if not re.search(rf"metapool(\.\w+)*\.{name}\b", api)
    ]
    assert missing == []


def test_doc_examples_use_the_public_names() -> None:
    # pages import metapool and call it by its public names, not by private modules
    for page in ("index.md", "user-guide.md", "batch.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        assert "from metapool._" not in text and "metapool._" not in text, page


def test_no_user_facing_text_mentions_the_development_layout() -> None:
    """Docs, docstrings and messages cite the package's own pages, not a sibling folder."""
    root = DOCS.parent
    texts = [root / "README.md", *DOCS.glob("*.md"), *DOCS.glob("*.py")]
    texts += sorted((root / "metapool").rglob("*.py"))
    pattern = re.compile(r"\.\./shared|shared/(data|spec|design)|§|\bspec\b", re.I)
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in texts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
