"""The compiled part, where it was built: stored UDP replies answered off the interpreter lock.

`_batchloop.c` holds `ReplyTable` (the UDP table of stored replies, in C memory) and
`Answerer` (a native thread per UDP socket that answers from it). setup.py builds it
where there is a compiler and Python's headers; elsewhere (python:3.11-slim) both names
are None, the table is a dict and batch.py answers through ctypes on the event loop.
"""

from __future__ import annotations

from typing import Any

Answerer: Any
ReplyTable: Any
try:
    from ._batchloop import Answerer, ReplyTable
except ImportError:  # not built: see setup.py
    Answerer = ReplyTable = None


def available() -> bool:
    """Whether `_batchloop` was built here and imports."""
    return ReplyTable is not None
