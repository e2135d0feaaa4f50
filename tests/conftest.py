"""pytest configuration (shared helpers live in ``_helpers.py``)."""

from __future__ import annotations

import os

from hypothesis import settings

# CI explores the same examples on every run (a fresh machine has no example database);
# locally hypothesis keeps searching for new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
