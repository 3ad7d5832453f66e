"""A sharded mapping must behave as a dict does, insertion order included."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterdns import shards
from clusterdns.freeing import STEP
from clusterdns.shards import Shards

KEYS = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.tuples(st.text(max_size=2)))
OPERATIONS = st.lists(st.tuples(st.sampled_from(["set", "setdefault"]), KEYS, st.integers()))


@given(OPERATIONS)
def test_shards_answer_as_a_dict_built_the_same_way(operations) -> None:
    model: dict[object, int] = {}
    mapping: Shards[object, int] = Shards()
    for operation, key, value in operations:
        if operation == "set":
            model[key] = value
            mapping[key] = value
        else:
            assert mapping.setdefault(key, value) == model.setdefault(key, value)
    assert list(mapping) == list(model)
    assert list(mapping.items()) == list(model.items())
    assert list(mapping.values()) == list(model.values())
    assert sorted(map(repr, shards.unordered_values(mapping))) == sorted(map(repr, model.values()))
    assert len(mapping) == len(model)
    assert mapping == model
    for _, key, _ in operations:
        assert key in mapping and mapping[key] == model[key] == mapping.get(key)
    assert "absent" not in mapping or "absent" in model
    assert mapping.get(("not", "there")) is None and mapping.get(("not", "there"), 5) == 5


def test_keys_spread_over_every_shard_and_order_survives_many_chunks() -> None:
    names = [f"{i}.s{i}.load.svc.cluster.local." for i in range(3 * STEP + 5)]
    mapping = Shards((name, i) for i, name in enumerate(names))
    assert list(mapping) == names
    assert all(len(shard) < len(names) // 10 for shard in mapping._maps)
    assert len(mapping) == len(names) and mapping[names[-1]] == len(names) - 1


def test_release_empties_it_and_leaves_the_values_alone() -> None:
    value = ["kept"]
    mapping = Shards((str(i), value) for i in range(STEP + 3))
    mapping.release()
    assert len(mapping) == 0 and list(mapping) == [] and "1" not in mapping
    assert value == ["kept"]
    mapping["again"] = value  # a released mapping can be filled anew
    assert list(mapping.items()) == [("again", value)]


@pytest.mark.parametrize("target_type", [dict, Shards])
@pytest.mark.parametrize("source_type", [dict, Shards])
def test_carry_takes_the_keys_the_source_holds_in_the_order_asked(
        target_type: type, source_type: type) -> None:
    source = source_type([(f"n{i}", i) for i in range(STEP + 10)])
    target = target_type([("first", -1), ("n3", -3)])
    keys = ["n5", "missing", "n3", *(f"n{i}" for i in range(STEP, STEP + 10))]
    shards.carry(target, source, keys)
    assert list(target.items()) == [("first", -1), ("n3", 3), ("n5", 5),
                                    *((f"n{i}", i) for i in range(STEP, STEP + 10))]


def test_order_does_not_depend_on_the_hash_seed() -> None:
    program = ("from clusterdns.shards import Shards\n"
               "print(list(Shards((f'n{i}', i) for i in range(300))))")
    seen = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert len(seen) == 1
    assert shards.SHARDS & (shards.SHARDS - 1) == 0  # the shard is the hash's low bits


def test_list_at_gives_a_defaultdicts_list_and_remembers_its_order() -> None:
    mapping: Shards[str, list[int]] = Shards()
    mapping.list_at("b").append(1)
    mapping.list_at("a").append(2)
    mapping.list_at("b").append(3)
    assert list(mapping.items()) == [("b", [1, 3]), ("a", [2])]
