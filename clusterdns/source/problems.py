"""Problems found in the manifests, precise enough to find and fix them.

Errors stop a folder from serving (start-up refuses, a reload keeps the last good zone);
warnings never do, but `check` shows them and `check --strict` counts them as errors.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ManifestError(Exception):
    """A problem in one manifest: its file, document (1-based; 0 for the file as a whole)
    and field, so the user can go straight to it."""

    file: str
    doc: int
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.doc == 0 else f"{self.file}: document {self.doc}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}" if where else f"{field}{self.message}"


class ManifestWarning(ManifestError):
    """Something a user should know about, which still serves: a skipped document, a
    duplicate, a name that will be NXDOMAIN."""


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 60
_SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = 4
_SHOWN.maxlevel = 2


def shown(value: Any) -> str:
    """`value` as a message quotes it: cut short, however large a YAML alias made it."""
    return _SHOWN.repr(value)
