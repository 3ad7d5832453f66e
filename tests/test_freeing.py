"""Emptying big containers in steps must leave them empty and their items intact."""

from __future__ import annotations

from clusterdns import freeing


def test_empty_takes_every_item_and_leaves_the_items_themselves_alone() -> None:
    kept = ["kept"]
    items: list[object] = [kept, *range(3 * freeing.STEP + 7)]
    freeing.empty(items)
    assert items == [] and kept == ["kept"]
    short: list[object] = [1, 2, 3]
    freeing.empty(short)
    assert short == []


def test_empty_mapping_takes_every_item() -> None:
    value = {"still": "here"}
    mapping = {(str(i), "ns"): value for i in range(freeing.STEP + 1)}
    freeing.empty_mapping(mapping)
    assert mapping == {} and value == {"still": "here"}
