"""The server's sockets, without sending anything: what the kernel was asked to give."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from clusterdns.serve import sockets


def test_udp_receive_buffer_is_the_four_mib_asked_for() -> None:
    """Bursts past ~200 queries in flight overflow the default 208 KiB; as root the buffer
    is forced (SO_RCVBUFFORCE), otherwise it is whatever net.core.rmem_max allows."""
    udp, tcp = sockets.bind_sockets("127.0.0.1", 0)
    try:
        granted = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)  # the kernel doubles it
    finally:
        udp.close()
        tcp.close()
    if os.geteuid() == 0:
        assert granted >= 2 * sockets.UDP_RECEIVE_BUFFER
    else:
        with open("/proc/sys/net/core/rmem_max") as limit:
            cap = int(limit.read())
        assert granted >= 2 * min(sockets.UDP_RECEIVE_BUFFER, cap)


def test_udp_and_tcp_share_one_port() -> None:
    udp, tcp = sockets.bind_sockets("127.0.0.1", 0)
    try:
        assert udp.getsockname() == tcp.getsockname()
    finally:
        udp.close()
        tcp.close()


def _open_sockets() -> set[str]:
    """The socket inodes this process holds open, from /proc."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(Path("/proc/self/fd", fd))
        except FileNotFoundError:  # the descriptor listdir itself had open
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_bind_all_is_all_or_nothing() -> None:
    taken_udp, taken_tcp = sockets.bind_sockets("127.0.0.1", 0)
    port = taken_udp.getsockname()[1]
    try:
        before = _open_sockets()
        with pytest.raises(sockets.ListenError) as failure:
            sockets.bind_all((("127.0.0.1", 0), ("127.0.0.1", port)))
        assert (failure.value.host, failure.value.port) == ("127.0.0.1", port)
        assert _open_sockets() == before  # the first address's pair was closed again
    finally:
        taken_udp.close()
        taken_tcp.close()
