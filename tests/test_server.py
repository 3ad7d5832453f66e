"""The server's sockets, without sending anything: what the kernel was asked to give."""

from __future__ import annotations

import os
import socket

import pytest

from clusterdns.serve import server


def test_udp_receive_buffer_is_the_four_mib_asked_for() -> None:
    """Bursts past ~200 queries in flight overflow the default 208 KiB; as root the buffer
    is forced (SO_RCVBUFFORCE), otherwise it is whatever net.core.rmem_max allows."""
    udp, tcp = server.bind_sockets("127.0.0.1", 0)
    try:
        granted = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)  # the kernel doubles it
    finally:
        udp.close()
        tcp.close()
    if os.geteuid() == 0:
        assert granted >= 2 * server.UDP_RECEIVE_BUFFER
    else:
        with open("/proc/sys/net/core/rmem_max") as limit:
            cap = int(limit.read())
        assert granted >= 2 * min(server.UDP_RECEIVE_BUFFER, cap)


def test_udp_and_tcp_share_one_port() -> None:
    udp, tcp = server.bind_sockets("127.0.0.1", 0)
    try:
        assert udp.getsockname() == tcp.getsockname()
    finally:
        udp.close()
        tcp.close()


def test_bind_all_is_all_or_nothing() -> None:
    taken_udp, taken_tcp = server.bind_sockets("127.0.0.1", 0)
    port = taken_udp.getsockname()[1]
    try:
        with pytest.raises(OSError):
            server.bind_all((("127.0.0.1", 0), ("127.0.0.1", port)))
    finally:
        taken_udp.close()
        taken_tcp.close()
