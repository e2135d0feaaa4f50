"""``python -m metapool``: see :mod:`metapool.cli`."""

import os
import sys

from metapool.cli import main

try:
    status = main()
    sys.stdout.flush()
except BrokenPipeError:  # the reader (e.g. head) stopped early: not an error of ours
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    status = 0
sys.exit(status)
