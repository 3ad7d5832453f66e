"""Extended DNS Errors (RFC 8914) as dnspython reads them: why a SERVFAIL or a REFUSED."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode

from tests.conftest import EXAMPLES, ServerProcess
from tests.upstream_server import dead_address, upstream

FAST = ("--upstream-timeout", "0.3", "--upstream-budget", "0.6")


def ask(server: ServerProcess, name: str, edns: bool = True) -> dns.message.Message:
    query = dns.message.make_query(name, "A", use_edns=0 if edns else False)
    return dns.query.udp(query, server.host, port=server.port, timeout=3)


def extended(reply: dns.message.Message) -> list[tuple[int, str | None]]:
    return [(o.code, o.text) for o in reply.options if isinstance(o, dns.edns.EDEOption)]


def test_servfail_after_an_unreachable_upstream_is_network_error(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--upstream", dead_address(), *FAST)
    reply = ask(server, "pypi.org")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert extended(reply) == [(dns.edns.EDECode.NETWORK_ERROR,
                                "upstream failed: connection refused")]
    plain = ask(server, "python.org", edns=False)
    assert plain.rcode() == dns.rcode.SERVFAIL and plain.edns == -1


def test_servfail_after_silent_upstreams_is_no_reachable_authority(start_server) -> None:
    with upstream(silent=True) as one, upstream(silent=True) as two:
        server = start_server("--manifests", str(EXAMPLES), "--upstream", one.address,
                              "--upstream", two.address, *FAST)
        reply = ask(server, "pypi.org")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert extended(reply) == [(dns.edns.EDECode.NO_REACHABLE_AUTHORITY,
                                "no upstream answered in time")]


def test_refused_outside_allow_recursion_is_prohibited(start_server) -> None:
    with upstream("pypi.org. 300 IN A 192.0.2.1") as up:
        server = start_server("--manifests", str(EXAMPLES), "--upstream", up.address,
                              "--allow-recursion", "10.0.0.0/8")
        reply = ask(server, "pypi.org")
        assert up.count("pypi.org") == 0
    assert reply.rcode() == dns.rcode.REFUSED
    assert extended(reply) == [(dns.edns.EDECode.PROHIBITED,
                                "recursion is not allowed for this client")]
    assert ask(server, "service1.default.svc.cluster.local").rcode() == dns.rcode.NOERROR


def test_forwarding_off_is_nxdomain_at_once_and_says_why(start_server) -> None:
    # musl and glibc wait out their whole timeout on REFUSED: a hermetic set-up must fail
    # fast, so a name outside every zone served is NXDOMAIN, not authoritative, with why.
    server = start_server("--manifests", str(EXAMPLES), "--upstream", "none")
    reply = ask(server, "pypi.org")
    assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer
    assert not reply.flags & dns.flags.AA
    assert extended(reply) == [(dns.edns.EDECode.NOT_AUTHORITATIVE,
                                "forwarding is off (--upstream none): clusterdns answers only "
                                "the names it serves")]
    plain = ask(server, "pypi.org", edns=False)
    assert plain.rcode() == dns.rcode.NXDOMAIN and plain.edns == -1  # EDE only with EDNS
