"""Binding the listen addresses: a UDP and a TCP socket on each, all or nothing.

Kept apart from the server so the CLI can name a failed address and its likely cause,
and so tests and benchmarks bind exactly as `serve` does.
"""

from __future__ import annotations

import errno
import socket
import sys

UDP_RECEIVE_BUFFER = 4 << 20  # the default 208 KiB drops bursts past ~200 queries in flight


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_sockets(
    host: str, port: int, reuse_port: bool = False
) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same address (port 0 picks one free for both)."""
    family = _family(host)
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            for sock in (udp, tcp):
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _grow_receive_buffer(udp)
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        except OSError as exc:
            udp.close()
            tcp.close()
            # With port 0 the TCP half may find the UDP port taken: pick another.
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no free port pair on {host}")


class ListenError(OSError):
    """Binding one listen address failed; says which, so the message can name it."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"{format_address(host, port)}: {cause.strerror}")
        self.host, self.port, self.cause = host, port, cause


def bind_all(
    listen: tuple[tuple[str, int], ...], reuse_port: bool = False
) -> list[tuple[socket.socket, socket.socket]]:
    """A UDP and TCP pair for every listen address; all or nothing."""
    pairs: list[tuple[socket.socket, socket.socket]] = []
    for host, port in listen:
        try:
            pairs.append(bind_sockets(host, port, reuse_port))
        except OSError as exc:
            for udp, tcp in pairs:
                udp.close()
                tcp.close()
            raise ListenError(host, port, exc) from exc
    return pairs


def _grow_receive_buffer(sock: socket.socket) -> None:
    # Python's socket module does not export SO_RCVBUFFORCE; 33 is its Linux number. As
    # root it lifts the net.core.rmem_max cap that plain SO_RCVBUF is held to.
    force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, UDP_RECEIVE_BUFFER)
    except PermissionError:  # not root: the kernel caps SO_RCVBUF at net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
