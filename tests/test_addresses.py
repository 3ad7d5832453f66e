"""Derived addresses: stable, in range, and never moved by other objects (source/addresses.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdns.source import addresses, manifests, state
from clusterdns.source.addresses import AddressBook
from clusterdns.source.model import Pod, Service


def svc(name: str, namespace: str = "default", ips: tuple[str, ...] = (),
        families: tuple[str, ...] = ()) -> Service:
    return Service(namespace, name, cluster_ips=ips, ip_families=families)


def assigned(services: list[Service], cidrs: tuple[str, ...] = addresses.DEFAULT_CIDRS,
             remembered: dict | None = None) -> dict[str, tuple[str, ...]]:
    filled, _ = addresses.assign(services, cidrs, remembered)
    return {s.name: s.cluster_ips for s in filled}


def test_derived_addresses_are_pinned() -> None:
    # The derivation is a contract: a change of it moves every user's addresses (these
    # are what the first release derived, too).
    assert assigned([svc("service1"), svc("d", families=("IPv6", "IPv4"))]) == {
        "service1": ("10.101.105.246",), "d": ("fd00:10:96::24fd", "10.100.106.95")}
    pod = Pod("shop", "web-0", owner="StatefulSet shop/web")
    (filled,), _ = addresses.assign_pods([pod])
    assert filled.ips == ("10.244.194.176",)


def test_derived_cluster_ips_are_stable_and_in_range() -> None:
    first = assigned([svc("a"), svc("b")])
    again = assigned([svc("b"), svc("x"), svc("a")])
    assert first == {"a": again["a"], "b": again["b"]}
    for (ip,) in again.values():
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")


def test_a_derived_cluster_ip_never_takes_an_explicit_one() -> None:
    (wanted,) = assigned([svc("a")])["a"]
    result = assigned([svc("a"), svc("owner", ips=(wanted,))])
    assert result["a"] != (wanted,) and result["owner"] == (wanted,)


def test_dual_stack_families_get_one_address_each_primary_first() -> None:
    (first, second) = assigned([svc("d", families=("IPv6", "IPv4"))])["d"]
    assert ":" in first and ":" not in second


def test_the_service_cidr_option_is_used() -> None:
    assert assigned([svc("a")], ("192.168.0.0/24",))["a"][0].startswith("192.168.0.")
    with pytest.raises(ValueError, match="too small"):
        addresses.assign([svc("a")], ("10.0.0.0/30",))


def test_a_remembered_address_stays_with_its_service_when_a_newcomer_derives_it() -> None:
    small = ("10.96.0.0/28",)  # 13 usable addresses: collisions are the rule here
    first, book = addresses.assign([svc(f"s{i}") for i in range(6)], small)
    before = {s.name: s.cluster_ips for s in first}
    # Whatever newcomers arrive, with names sorting before and after, nobody moves.
    newcomers = [svc(f"a{i}") for i in range(4)] + [svc(f"z{i}") for i in range(3)]
    after = assigned([*newcomers, *(svc(f"s{i}") for i in range(6))], small, book)
    assert {name: after[name] for name in before} == before
    assert len({ip for ips in after.values() for ip in ips}) == len(after)  # all distinct


def test_a_remembered_address_outside_the_range_or_taken_is_derived_again() -> None:
    remembered = {("default", "a"): ("192.168.9.9",), ("default", "b"): ("10.96.0.7",)}
    result = assigned([svc("a"), svc("b"), svc("c", ips=("10.96.0.7",))], remembered=remembered)
    assert ipaddress.ip_address(result["a"][0]) in ipaddress.ip_network("10.96.0.0/12")
    assert result["b"] != ("10.96.0.7",) and result["c"] == ("10.96.0.7",)


def test_generated_pods_get_addresses_written_pods_and_services_keep_theirs() -> None:
    written = Pod("shop", "fixed", ips=("10.244.0.9",))
    made = [Pod("shop", f"w-{i}", owner="StatefulSet shop/w") for i in range(3)]
    pods, book = addresses.assign_pods([written, *made], ("10.244.0.0/28",),
                                       reserved={"10.244.0.10"})
    assert pods[0] is written
    ips = [p.ips[0] for p in pods[1:]]
    assert len(set(ips)) == 3 and not {"10.244.0.9", "10.244.0.10"} & set(ips)
    assert book == {p.key: p.ips for p in pods[1:]}


def test_two_pod_ranges_make_dual_stack_pods() -> None:
    (pod,), _ = addresses.assign_pods([Pod("a", "b", owner="Deployment a/b")],
                                      ("10.244.0.0/16", "fd00:10:244::/64"))
    assert [ipaddress.ip_address(ip).version for ip in pod.ips] == [4, 6]


names = st.sampled_from([f"n{i}" for i in range(12)])
# One step changes the set of objects: add one, remove one, or rename one.
steps = st.lists(st.tuples(st.sampled_from(["add", "remove", "rename"]), names, names),
                 min_size=1, max_size=12)


def _apply(present: list[str], step: tuple[str, str, str]) -> list[str]:
    action, name, other = step
    if action == "add" and name not in present:
        return [*present, name]
    if action == "remove" and name in present:
        return [n for n in present if n != name]
    if action == "rename" and name in present and other not in present:
        return [other if n == name else n for n in present]
    return present


@settings(max_examples=150, deadline=None)
@given(initial=st.lists(names, unique=True, max_size=8), changes=steps,
       restart_at=st.integers(0, 12))
def test_adding_removing_or_renaming_never_moves_another_address(
        initial: list[str], changes: list, restart_at: int) -> None:
    """Services and generated pods in small ranges, where derivations collide often; a
    restart (the book written to JSON and read back) in the middle changes nothing."""
    cidrs, pod_cidrs = ("10.96.0.0/28",), ("10.244.0.0/28",)
    book, present = AddressBook(), list(initial)
    held: dict[str, tuple[str, ...]] = {}
    for index, change in enumerate([None, *changes]):
        if change is not None:
            present = _apply(present, change)
        if index == restart_at:
            book = state._decode(state._encode(state.State(book))).addresses
        services, service_book = addresses.assign([svc(n) for n in present], cidrs,
                                                  book.services)
        pods, pod_book = addresses.assign_pods(
            [Pod("default", n, owner="Deployment default/x") for n in present], pod_cidrs,
            book.pods)
        book = AddressBook(service_book, pod_book)
        now = {f"svc/{s.name}": s.cluster_ips for s in services}
        now.update({f"pod/{p.name}": p.ips for p in pods})
        for key, ips in now.items():
            assert held.get(key, ips) == ips, f"{key} moved after {change}"
        assert len({ip for ips in now.values() for ip in ips}) == len(now)
        held = now


def test_load_remembers_across_a_restart_through_the_state_file(tmp_path: Path) -> None:
    """A newcomer whose derivation lands on a running service's address, as a folder of
    1,000 services makes likely, no longer takes that address at the next start."""
    options = manifests.LoadOptions(service_cidrs=("10.96.0.0/28",))
    folder = tmp_path / "m"
    folder.mkdir()
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {ports: [{port: 80}]}\n"
    (folder / "old.yaml").write_text("---\n".join(service % f"s{i}" for i in range(5)))
    first = manifests.load([folder], options)
    path = tmp_path / "state.json"
    assert state.write(path, state.State(first.addresses)) == ""
    before = {s.name: s.cluster_ips for s in first.cluster.services}
    (folder / "new.yaml").write_text("---\n".join(service % f"a{i}" for i in range(5)))
    known, problem = state.read(path)
    assert problem == ""
    after = manifests.load([folder], options, remembered=known.addresses)
    assert {s.name: s.cluster_ips for s in after.cluster.services if s.name in before} == before
    fresh = manifests.load([folder], options)  # what forgetting would have done
    assert {s.name: s.cluster_ips for s in fresh.cluster.services if s.name in before} != before


def test_a_cidr_with_host_bits_is_its_network_as_kubernetes_reads_it() -> None:
    assert addresses.parse_cidrs(["10.96.0.1/12"]) == {
        4: ipaddress.ip_network("10.96.0.0/12")}


def test_outside_only_when_a_range_of_that_family_is_set() -> None:
    v4 = addresses.parse_cidrs(["10.96.0.0/12"])
    assert addresses.outside("8.8.8.8", v4) == ipaddress.ip_network("10.96.0.0/12")
    assert addresses.outside("10.96.0.9", v4) is None
    assert addresses.outside("fd00::1", v4) is None  # no IPv6 range: nothing to check
    both = addresses.parse_cidrs(addresses.DEFAULT_CIDRS)
    assert addresses.outside("fd00:10:96::9", both) is None
    assert addresses.outside("fd00::1", both) == ipaddress.ip_network("fd00:10:96::/112")
    assert addresses.outside("10.112.0.0", both) == ipaddress.ip_network("10.96.0.0/12")


def test_an_explicit_address_of_one_family_gets_the_other_derived() -> None:
    result = assigned([svc("d", ips=("10.96.0.40",), families=("IPv4", "IPv6"))])
    (v4, v6) = result["d"]
    assert v4 == "10.96.0.40" and ipaddress.ip_address(v6).version == 6
