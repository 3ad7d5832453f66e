"""The IXFR journal: consecutive versions, condensed on request, bounded (zone/journal.py)."""

from __future__ import annotations

from clusterdns.zone.journal import MAX_CHANGES, Journal
from clusterdns.zone.records import SOA, A, Record
from clusterdns.zone.transfer import Change


def soa(serial: int) -> Record:
    return Record("cluster.local.", SOA, 5, ("ns.dns.cluster.local.",
                                             "hostmaster.cluster.local.", serial, 7200, 1800,
                                             86400, 5))


def address(n: int) -> Record:
    return Record(f"s{n}.shop.svc.cluster.local.", A, 5, f"10.96.0.{n % 250 + 1}")


def step(old: int, new: int, added: int = 1, deleted: tuple[Record, ...] = ()) -> Change:
    return Change(soa(old), soa(new), deleted,
                  tuple(address(new * 1000 + i) for i in range(added)))


def test_changes_from_a_kept_serial_come_condensed() -> None:
    journal = Journal().add(step(1, 2)).add(step(2, 3, deleted=(address(2000),)))
    assert journal.serial == 3
    whole = journal.since(1)
    assert whole is not None and (whole.old, whole.new) == (soa(1), soa(3))
    assert whole.added == (address(3000),) and whole.deleted == ()  # 2000 came and went
    last = journal.since(2)
    assert last is not None and last.deleted == (address(2000),)
    assert journal.since(3) is None  # current: the caller answers with the single SOA
    assert journal.since(0) is None  # never kept: the caller sends the whole zone


def test_the_oldest_versions_go_first_when_there_are_too_many() -> None:
    journal = Journal()
    for serial in range(1, MAX_CHANGES + 6):
        journal = journal.add(step(serial, serial + 1))
    assert len(journal.changes) == MAX_CHANGES
    assert journal.since(5) is None and journal.since(6) is not None


def test_the_records_kept_are_bounded_too() -> None:
    journal = Journal(max_records=10).add(step(1, 2, added=4)).add(step(2, 3, added=4))
    assert journal.since(1) is not None
    journal = journal.add(step(3, 4, added=4))  # 12 records: the first change goes
    assert journal.since(1) is None and journal.since(2) is not None
    assert sum(c.size for c in journal.changes) <= 10
    assert Journal(max_records=10).add(step(1, 2, added=11)).changes == ()


def test_a_change_that_does_not_follow_on_starts_afresh() -> None:
    journal = Journal().add(step(1, 2)).add(step(7, 8))
    assert journal.since(1) is None and journal.since(7) is not None
    assert journal.serial == 8
    assert Journal().serial is None
