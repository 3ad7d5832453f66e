"""Autopath over the wire: a pod's first question answered from further down its path."""

from __future__ import annotations

import socket
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.conftest import EXAMPLES
from tests.upstream_server import upstream

POD = ("apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: shop}\n"
       "status: {podIP: 127.0.10.5}\n")


def folder_with_a_pod(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    for example in EXAMPLES.glob("*.yaml"):
        (folder / example.name).write_text(example.read_text())
    (folder / "pod.yaml").write_text(POD)
    return folder


def ask_from(source: str, server, name: str, rdtype: str = "A") -> dns.message.Message:
    """A question sent from `source`, as a pod at that address sends it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(3)
        sock.sendto(dns.message.make_query(name, rdtype).to_wire(), (server.host, server.port))
        return dns.message.from_wire(sock.recv(65535))


def lines(reply: dns.message.Message) -> list[str]:
    return [f"{r.name} {r.ttl} {dns.rdatatype.to_text(r.rdtype)} {d}"
            for r in reply.answer for d in r]


def test_a_pods_question_is_answered_from_further_down_its_path(start_server,
                                                                tmp_path: Path) -> None:
    with upstream("example.org. 300 IN A 192.0.2.80") as up:
        server = start_server("--manifests", str(folder_with_a_pod(tmp_path)), "--autopath",
                              "--upstream", f"127.0.0.1:{up.port}")
        # In the zone: `service1.default` asked from namespace shop.
        inside = ask_from("127.0.10.5", server, "service1.default.shop.svc.cluster.local")
        assert dns.rcode.to_text(inside.rcode()) == "NOERROR"
        assert lines(inside) == [
            "service1.default.shop.svc.cluster.local. 5 CNAME "
            "service1.default.svc.cluster.local.",
            "service1.default.svc.cluster.local. 5 A 10.101.105.246"]
        # Outside: the bare name, from the upstream, behind the CNAME.
        outside = ask_from("127.0.10.5", server, "example.org.shop.svc.cluster.local")
        assert lines(outside) == [
            "example.org.shop.svc.cluster.local. 300 CNAME example.org.",
            "example.org. 300 A 192.0.2.80"]
        # The zone's own names are answered inside; only the node's search domains (this
        # machine's resolv.conf) and the bare name go upstream, in order.
        asked = [a.name for a in up.asked]
        assert asked[-1] == "example.org." and not any(n.endswith("cluster.local.")
                                                       for n in asked)
        # Not a pod: the ordinary NXDOMAIN, and it does not stick for the pod.
        other = ask_from("127.0.0.1", server, "service1.default.shop.svc.cluster.local")
        assert dns.rcode.to_text(other.rcode()) == "NXDOMAIN"
        again = ask_from("127.0.10.5", server, "service1.default.shop.svc.cluster.local")
        assert lines(again) == lines(inside)
        # Nothing anywhere on the path: the first answer, NXDOMAIN, and the pod walks on.
        missing = ask_from("127.0.10.5", server, "nope.shop.svc.cluster.local")
        assert dns.rcode.to_text(missing.rcode()) == "NXDOMAIN"


def test_without_autopath_a_pod_gets_the_plain_answer(start_server, tmp_path: Path) -> None:
    server = start_server("--manifests", str(folder_with_a_pod(tmp_path)))
    reply = ask_from("127.0.10.5", server, "service1.default.shop.svc.cluster.local")
    assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN"
