"""The state file: round trips, broken and unwritable files, the serial rule (source/state.py)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from clusterdns.source import state
from clusterdns.source.addresses import AddressBook
from clusterdns.source.model import Cluster, EndpointAddress, EndpointPort, EndpointSet, Service
from clusterdns.source.state import State, next_serial

BOOK = AddressBook({("shop", "web"): ("10.96.0.5", "fd00:10:96::5")},
                   {("shop", "web-0"): ("10.244.0.7",)})


def test_a_written_state_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.json"
    written = State(BOOK, serial=1764500000, digest="abc")
    assert state.write(path, written) == ""
    assert state.read(path) == (written, "")
    assert json.loads(path.read_text())["services"] == {
        "shop/web": ["10.96.0.5", "fd00:10:96::5"]}
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left


def test_a_missing_file_is_a_fresh_state_without_a_word(tmp_path: Path) -> None:
    assert state.read(tmp_path / "none.json") == (State(), "")


@pytest.mark.parametrize("text", ["{not json", "[]", '{"version": 99}',
                                  '{"version": 1, "services": {"noslash": []}}',
                                  '{"version": 1, "pods": {"a/b": ["not-an-ip"]}}',
                                  '{"version": 1, "serial": "x"}'])
def test_a_broken_file_is_rebuilt_with_a_warning(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    fresh, warning = state.read(path)
    assert fresh == State()
    assert warning.startswith(f"state file {path} is broken (") and "rebuilding" in warning


def test_an_unwritable_place_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    warning = state.write(blocker / "state.json", State(BOOK))  # a file where a folder goes
    assert warning.startswith(f"state file {blocker}/state.json: cannot write (")
    assert "kept in memory only" in warning


def test_the_default_path_is_per_set_of_folders_under_xdg_state_home(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path), "HOME": "/nonexistent"}
    one = state.default_path(["manifests"], env)
    assert one.parent == tmp_path / "clusterdns" and one.name.startswith("manifests-")
    assert state.default_path([os.path.abspath("manifests")], env) == one
    assert state.default_path(["manifests", "other"], env) != one
    assert state.default_path(["other", "manifests"], env) == state.default_path(
        ["manifests", "other"], env)
    home = state.default_path(["m"], {"HOME": "/home/u"})
    assert str(home).startswith("/home/u/.local/state/clusterdns/m-")


def test_the_serial_stays_for_the_same_content_and_rises_for_new_content() -> None:
    known = State(serial=1700000000, digest="old")
    assert next_serial(known, "old", 1800000000) == 1700000000  # unchanged: the same
    assert next_serial(known, "new", 1800000000) == 1800000000  # the newest change
    assert next_serial(known, "new", 1600000000) == 1700000001  # never falls
    assert next_serial(State(), "any", 1750000000) == 1750000000  # first start


def test_the_content_digest_ignores_file_order_but_not_content() -> None:
    a, b = Service("x", "a", cluster_ips=("10.96.0.1",)), Service("x", "b")
    one = Cluster(services=(a, b), namespaces=frozenset({"x"}))
    two = Cluster(services=(b, a), namespaces=frozenset({"x"}))
    assert state.content_digest(one, "s") == state.content_digest(two, "s")
    assert state.content_digest(one, "s") != state.content_digest(one, "t")
    changed = Cluster(services=(a, Service("x", "b", ports=())), namespaces=frozenset({"y"}))
    assert state.content_digest(one, "s") != state.content_digest(changed, "s")


def test_a_state_file_of_this_format_reads_and_writes_again(tmp_path: Path) -> None:
    # The format is a contract with files already on users' disks.
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "serial": 42, "digest": "d", "services": '
                    '{"shop/web": ["10.96.0.5"]}, "pods": {"shop/web-0": ["10.244.0.7"]}}')
    known, problem = state.read(path)
    assert problem == "" and known == State(
        AddressBook({("shop", "web"): ("10.96.0.5",)}, {("shop", "web-0"): ("10.244.0.7",)}),
        42, "d")
    assert state.write(path, known) == "" and state.write(path, known) == ""  # again, in place
    assert json.loads(path.read_text())["version"] == 1


def test_the_lock_lets_one_process_number_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    lock = path.with_name(".state.json.lock")

    def try_lock() -> bool:
        handle = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(handle)
        return True

    with state.locked(path):
        assert not try_lock()  # another worker waits here
    assert try_lock()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with state.locked(blocker / "state.json"):  # nowhere to lock: on without it
        pass


def test_the_content_digest_of_a_big_cluster_is_the_digest_of_its_parts_joined() -> None:
    """Hashed in steps, the digest must stay what it was, or every serial would jump."""
    services = tuple(Service("x", f"s{i}") for i in range(2500))
    cluster = Cluster(services=services, namespaces=frozenset({"x"}))
    text = "\n".join([*sorted(map(repr, services)), "x", "", repr("s")])
    expected = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    assert state.content_digest(cluster, "s") == expected


def test_a_huge_endpoint_set_is_digested_in_steps_and_every_address_counts() -> None:
    addresses = tuple(EndpointAddress(f"10.0.{i // 250}.{i % 250}") for i in range(2500))
    port = (EndpointPort("http", 80),)

    def digest(*listed: tuple[EndpointAddress, ...]) -> str:
        sets = tuple(EndpointSet("x", "big", a, port) for a in listed)
        return state.content_digest(Cluster(endpoints=sets, namespaces=frozenset({"x"})), "s")

    small = addresses[:10]
    assert digest(addresses, small) == digest(small, addresses)
    assert digest(addresses) != digest(addresses[:-1])
    assert digest(addresses) != digest(
        (*addresses[:1200], replace(addresses[1200], ready=False), *addresses[1201:]))
