"""Letting big structures go a step at a time.

A reload runs in a thread beside the server, and CPython frees a container's contents in
one C call with the interpreter lock held: 100,000 objects freed at once keep the server
from answering for ~10 ms. Emptied a step at a time, the lock can change hands between
steps (the server asks for it every half millisecond). Only the container is emptied:
what else still refers to its items keeps them.
"""

from __future__ import annotations

import time
from typing import Any

STEP = 2000  # objects freed at once: well under a millisecond


def empty(items: list[Any]) -> None:
    """Empty a list from its end, `STEP` items at a time, offering the lock to other
    threads between steps (a short list is emptied at once, with no such pause)."""
    while items:
        del items[-STEP:]
        if items:
            time.sleep(0)


def empty_mapping(mapping: dict[Any, Any]) -> None:
    """Empty a dict one item at a time: where each key was made for the mapping (a pair
    per object), the keys are then freed one by one, not in one cascade."""
    while mapping:
        mapping.popitem()
