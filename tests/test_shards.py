"""A sharded mapping must behave as a dict does, insertion order included."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterdns import shards, snapshot
from clusterdns.freeing import STEP
from clusterdns.serve.reload import compare
from clusterdns.shards import Shards
from clusterdns.snapshot import Snapshot
from clusterdns.source.manifests import LoadOptions
from clusterdns.source.state import State
from clusterdns.zone.settings import ZoneSettings

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


PAIRS = st.lists(st.tuples(KEYS, st.integers(0, 2)))


@given(PAIRS, PAIRS)
def test_equality_is_a_dicts_whichever_the_sides(first, second) -> None:
    """Shards against Shards compares shard by shard; against a dict, key by key; both
    as two dicts would, order aside."""
    expected = dict(first) == dict(second)
    left, right = Shards(first), Shards(reversed(list(dict(second).items())))
    assert (left == right) is expected and (right == left) is expected
    assert (left == dict(second)) is expected and (dict(second) == left) is expected
    assert (left != right) is not expected
    assert left == Shards(dict(first).items()) and left == dict(first)
    assert left != list(first)


def test_a_table_is_a_dict_until_it_is_big() -> None:
    items = [(i, str(i)) for i in range(5)]
    small, big = shards.table_for(shards.SHARDED_KEYS, items), shards.table_for(
        shards.SHARDED_KEYS + 1, items)
    assert type(small) is dict and isinstance(big, Shards)
    assert small == big and list(big.items()) == items


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


ROOT = Path(__file__).resolve().parent.parent
DUPLICATES = """\
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: default}
spec: {clusterIP: %s, ports: [{port: 80}]}
"""


@pytest.mark.parametrize("folder", [
    "manifests", "tests/manifests/cluster", "tests/manifests/names",
    *(f"tests/manifests/apps/{app}" for app in ("guestbook", "installed", "shop", "stateful")),
    "copies"])
def test_a_reload_made_in_shards_gives_what_one_made_in_dicts(
        folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `SHARDED_KEYS` objects a load, its checks and its comparison keep their maps
    (the last copy of each object, where each came from, the endpoints by service) in
    Shards. Here every map is, and every result must be the same: the order of objects
    and of their origins included."""
    if folder == "copies":  # copies in path order, one differing, and a derived address
        (tmp_path / "a.yaml").write_text(DUPLICATES % ("one", "10.96.0.50")
                                         + "---\n" + DUPLICATES % ("three", '""'))
        (tmp_path / "b.yaml").write_text(DUPLICATES % ("one", "10.96.0.51") + "---\n"
                                         + DUPLICATES % ("two", "10.96.0.52"))
        paths = [tmp_path]
    else:
        paths = [ROOT / folder]

    def take() -> Snapshot:
        return snapshot.take(paths, LoadOptions(), ZoneSettings(), State())

    in_dicts = take()
    monkeypatch.setattr(shards, "SHARDED_KEYS", 0)
    in_shards = take()
    assert isinstance(in_shards.loaded.origins, Shards)
    assert not isinstance(in_dicts.loaded.origins, Shards)
    assert [str(p) for p in in_shards.loaded.errors] == [str(p) for p in in_dicts.loaded.errors]
    assert [str(w) for w in in_shards.warnings] == [str(w) for w in in_dicts.warnings]
    assert in_shards.loaded.cluster == in_dicts.loaded.cluster
    assert list(in_shards.loaded.origins.items()) == list(in_dicts.loaded.origins.items())
    assert in_dicts.zone is not None and in_shards.zone is not None
    assert list(in_shards.zone.nodes.items()) == list(in_dicts.zone.nodes.items())
    assert in_shards.state == in_dicts.state
    cluster = in_dicts.loaded.cluster
    emptied = replace(cluster, services=cluster.services[1:], pods=cluster.pods[1:],
                      endpoints=cluster.endpoints[1:])
    in_shards_changes = compare(emptied, cluster)
    monkeypatch.setattr(shards, "SHARDED_KEYS", 10**9)
    assert in_shards_changes == compare(emptied, cluster)
