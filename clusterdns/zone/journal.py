"""The last changes of the zones, kept so that IXFR can send a secondary only what changed.

Pure and immutable: the server replaces its journal with `journal.add(change)` after each
reload, so a transfer that is reading one never sees it change. It is bounded twice: by
the number of versions and by the records they name, so a burst of edits or one huge
change costs bounded memory. A secondary whose version has been dropped gets the whole
zone instead (RFC 1995 allows that answer to any IXFR).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .transfer import Change, condense, serial

MAX_CHANGES = 32
# About the records of one full transfer of 10,000 services: an incremental transfer
# larger than that would cost the secondary more than the whole zone does.
MAX_RECORDS = 120_000


@dataclass(frozen=True)
class Journal:
    """Consecutive changes, oldest first, each starting at the serial the last one ended."""

    changes: tuple[Change, ...] = ()
    max_changes: int = MAX_CHANGES
    max_records: int = MAX_RECORDS

    @property
    def serial(self) -> int | None:
        """The serial of the newest version the journal reaches; None when it is empty."""
        return serial(self.changes[-1].new) if self.changes else None

    def add(self, change: Change) -> Journal:
        """This journal with `change` after it, the oldest changes dropped to stay in bounds.

        A change that does not follow on from the newest one (the server was restarted, or
        a reload was missed) starts the journal afresh: older versions could no longer be
        brought up to date through it.
        """
        kept = self.changes if self.serial == serial(change.old) else ()
        kept = (*kept, change)
        total = sum(c.size for c in kept)
        while kept and (len(kept) > self.max_changes or total > self.max_records):
            total -= kept[0].size
            kept = kept[1:]
        return replace(self, changes=kept)

    def since(self, version: int) -> Change | None:
        """The changes from serial `version` to the newest, condensed into one; None when
        the journal does not reach back to `version`."""
        for index, change in enumerate(self.changes):
            if serial(change.old) == version:
                return condense(self.changes[index:])
        return None
