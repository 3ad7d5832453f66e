"""The command line's option groups, and what their values become (listen addresses,
upstreams, transfer and load settings): shared by `serve` and the commands that read."""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any

import click

from . import resolvconf
from .ops.querylog import FORMATS, TEXT
from .serve.access import DEFAULT_RECURSION_CLIENTS, ClientRanges
from .serve.cache import DEFAULT_CAPACITY, DEFAULT_MAX_NEGATIVE_TTL, DEFAULT_MAX_TTL
from .serve.rrl import DEFAULT_RATE, DEFAULT_SLIP, DEFAULT_WINDOW, RateLimit
from .serve.upstream import (
    DEFAULT_BUDGET,
    DEFAULT_TIMEOUT,
    default_upstreams,
    is_local_address,
    is_own_address,
)
from .source.addresses import DEFAULT_CIDRS, DEFAULT_POD_CIDRS
from .source.documents import DEFAULT_MAX_FILE_BYTES
from .source.hostnames import HostnameOptions
from .source.manifests import LoadOptions
from .zone import transfer
from .zone.settings import POD_MODES

log = logging.getLogger("clusterdns")

HOST_RESOLV_CONF = "/etc/resolv.conf"


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT`, `:PORT` (loopback), or a bare host (port 53)."""
    return parse_addresses(value)[0]


def parse_addresses(value: str) -> list[tuple[str, int]]:
    """The addresses a `--listen` value stands for: `localhost` is both loopbacks."""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    elif value.count(":") > 1:
        raise click.BadParameter(f"{value!r}: an IPv6 address needs brackets, as in "
                                 "[::1]:1053 (or [::1] for port 53)")
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{value!r}: {port!r} is not a port number") from None
    if host == "":
        return [("127.0.0.1", number)]  # loopback, never every address by accident
    if host == "localhost":
        return [("127.0.0.1", number)] + ([("::1", number)] if _has_ipv6_loopback() else [])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT with an IP address "
                                 "(or localhost)") from None
    return [(host, number)]


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def listen_problem(host: str, port: int, exc: OSError, option: str = "--listen") -> str:
    """Why binding `host:port` failed, and what usually fixes it (another `option`)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        sockets = "lunp" if option == "--listen" else "ltnp"
        hint = f"the port is in use (`ss -{sockets} 'sport = :{port}'` shows by whom)"
        if port == 5353:
            hint += "; 5353 is mDNS's port, held by avahi or mDNSResponder on most desktops"
        return f"cannot listen on {where}: {hint}; choose another with {option}"
    if exc.errno in (errno.EACCES, errno.EPERM) and port < 1024:
        return (f"cannot listen on {where}: ports below 1024 need root or the "
                "CAP_NET_BIND_SERVICE capability (sudo setcap cap_net_bind_service=+ep "
                "on the Python binary), or use a port above 1023")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {where}: {host} is not an address of this host "
                "(`ip addr` lists them)")
    return f"cannot listen on {where}: {exc.strerror or exc}"


def zone_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--domain", default="cluster.local", show_default=True,
                     help="Cluster domain (the zone served)."),
        click.option("--ttl", default=5, show_default=True, type=click.IntRange(0, 86400),
                     help="TTL of cluster records."),
        click.option("--pods", default="insecure", show_default=True, type=click.Choice(POD_MODES),
                     help="Pod records a-b-c-d.<ns>.pod.<zone>, as CoreDNS's `pods` option."),
    ]
    for option in reversed(options):
        func = option(func)
    return _source_options(func)


def _source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--service-cidr", "service_cidrs", multiple=True, metavar="CIDR",
                     help=f"Range for derived cluster IPs, one per family "
                          f"[default: {', '.join(DEFAULT_CIDRS)}]."),
        click.option("--pod-cidr", "pod_cidrs", multiple=True, metavar="CIDR",
                     help="Range for the addresses of pods made from workloads, one per "
                          "family; given, it replaces the default, and two families make "
                          f"dual-stack pods [default: {', '.join(DEFAULT_POD_CIDRS)}]."),
        click.option("--namespace", default="default", show_default=True,
                     help="Namespace of objects that name none (as `kubectl apply -n`)."),
        click.option("--nodes", default=1, show_default=True, type=click.IntRange(1, 1000),
                     help="Nodes of the pretend cluster: a DaemonSet runs a pod on each."),
        click.option("--max-file-size", default=DEFAULT_MAX_FILE_BYTES, show_default=True,
                     type=click.IntRange(1), metavar="BYTES",
                     help="Largest manifest file read; a larger one is an error."),
        click.option("--state", "state_file", type=click.Path(dir_okay=False),
                     help="State file: derived addresses and the SOA serial across restarts "
                          "[default: $XDG_STATE_HOME/clusterdns/<folder>-<hash>.json]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_options(service_cidrs: tuple[str, ...], pod_cidrs: tuple[str, ...], namespace: str,
                  nodes: int, max_file_size: int,
                  hostnames: HostnameOptions | None = None) -> LoadOptions:
    if namespace and not all(c.isalnum() or c == "-" for c in namespace):
        raise click.BadParameter(f"{namespace!r} is not a namespace name",
                                 param_hint="--namespace")
    return LoadOptions(service_cidrs=_cidrs(service_cidrs),
                       pod_cidrs=pod_cidrs or DEFAULT_POD_CIDRS, namespace=namespace,
                       nodes=nodes, max_file_bytes=max_file_size,
                       hostnames=hostnames or HostnameOptions())


def hostname_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where Ingress, Gateway API and LoadBalancer hostnames lead, handed to the command as
    one `hostnames` argument."""
    options = [
        click.option("--ingress-address", "ingress_addresses", multiple=True, metavar="IP",
                     help="Address of Ingress hosts whose manifest has no "
                          "status.loadBalancer.ingress (repeatable, both families)."),
        click.option("--ingress-service", metavar="NS/NAME",
                     help="The ingress controller's Service: its cluster IP answers for "
                          "Ingress hosts with no status and no --ingress-address."),
        click.option("--gateway-address", "gateway_addresses", multiple=True, metavar="IP",
                     help="Address of Gateways whose manifest has no status.addresses or "
                          "spec.addresses (repeatable)."),
        click.option("--external-zone", metavar="ZONE",
                     help="Answer LoadBalancer Services as <svc>.<ns>.ZONE (with their "
                          "status.loadBalancer.ingress), and all of ZONE authoritatively."),
    ]

    @functools.wraps(func)
    def command(*args: Any, ingress_addresses: tuple[str, ...], ingress_service: str | None,
                gateway_addresses: tuple[str, ...], external_zone: str | None,
                **kwargs: Any) -> Any:
        service = None
        if ingress_service:
            namespace, _, name = ingress_service.partition("/")
            if not namespace or not name or "/" in name:
                raise click.BadParameter(f"{ingress_service!r} is not NAMESPACE/NAME",
                                         param_hint="--ingress-service")
            service = (namespace, name)
        zone = (external_zone or "").rstrip(".").lower()
        if external_zone is not None and (not zone or ".." in zone or " " in zone):
            raise click.BadParameter(f"{external_zone!r} is not a DNS name",
                                     param_hint="--external-zone")
        names = HostnameOptions(_addresses(ingress_addresses, "--ingress-address"), service,
                                _addresses(gateway_addresses, "--gateway-address"), zone)
        return func(*args, hostnames=names, **kwargs)

    for option in reversed(options):
        command = option(command)
    return command


def _addresses(values: tuple[str, ...], option: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(str(ipaddress.ip_address(v)) for v in values))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def forwarding_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--upstream", "upstreams", multiple=True, metavar="HOST[:PORT]|none",
                     help="Resolver for names outside the zone, asked in order (repeatable); "
                          "`none` turns forwarding off "
                          f"[default: the nameservers of {HOST_RESOLV_CONF}]."),
        click.option("--upstream-timeout", default=DEFAULT_TIMEOUT, show_default=True,
                     type=click.FloatRange(0.01, 60), metavar="SECONDS",
                     help="How long one upstream may take before the next is asked."),
        click.option("--upstream-budget", default=DEFAULT_BUDGET, show_default=True,
                     type=click.FloatRange(0.01, 60), metavar="SECONDS",
                     help="How long all tries of one question may take; then SERVFAIL."),
        click.option("--cache-size", default=DEFAULT_CAPACITY, show_default=True,
                     type=click.IntRange(0), help="Upstream answers kept; 0 turns the cache off."),
        click.option("--cache-max-ttl", default=DEFAULT_MAX_TTL, show_default=True,
                     type=click.IntRange(0), metavar="SECONDS",
                     help="Longest time an upstream answer is kept."),
        click.option("--cache-max-negative-ttl", default=DEFAULT_MAX_NEGATIVE_TTL,
                     show_default=True, type=click.IntRange(0), metavar="SECONDS",
                     help="Longest time an NXDOMAIN or empty upstream answer is kept."),
        click.option("--allow-recursion", "recursion_clients", multiple=True, metavar="CIDR",
                     help="Clients that may ask for names outside the zone (repeatable; "
                          "replaces the default: loopback and private ranges)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def rate_limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The --rrl-* options, handed to the command as one `rate_limit` (an rrl.RateLimit)."""

    @functools.wraps(func)
    def with_rate_limit(*args: Any, rrl_responses_per_second: int | None, rrl_slip: int,
                        rrl_window: int, **kwargs: Any) -> Any:
        limit = RateLimit(rrl_responses_per_second, rrl_slip, rrl_window)
        return func(*args, rate_limit=limit, **kwargs)

    options = [
        click.option("--rrl-responses-per-second", type=click.IntRange(0), metavar="N",
                     help="UDP responses a second per client network (/24, /56) and answer; "
                          f"0 turns rate limiting off [default: {DEFAULT_RATE} on listeners "
                          "beyond loopback, off on loopback]."),
        click.option("--rrl-slip", default=DEFAULT_SLIP, show_default=True,
                     type=click.IntRange(0, 10), metavar="N",
                     help="Every Nth suppressed response goes out truncated, so real "
                          "clients retry over TCP; 0 drops them all."),
        click.option("--rrl-window", default=DEFAULT_WINDOW, show_default=True,
                     type=click.IntRange(1, 3600), metavar="SECONDS",
                     help="How long a flood is remembered once it stops."),
    ]
    for option in reversed(options):
        with_rate_limit = option(with_rate_limit)
    return with_rate_limit


def operability_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--health, --ready, --metrics, --lameduck and --log-format: how it is watched, as
    CoreDNS's health, ready, prometheus and log plugins (see ops/)."""
    options = [
        click.option("--health", "health", multiple=True, metavar="HOST:PORT",
                     help="Answer GET /health with 200 OK here (CoreDNS's health plugin; "
                          "its port is 8080) [default: off]."),
        click.option("--ready", "ready", multiple=True, metavar="HOST:PORT",
                     help="Answer GET /ready here: 200 OK once the zone is loaded, else 503 "
                          "and why (CoreDNS's ready plugin; its port is 8181) [default: off]."),
        click.option("--metrics", "metrics", multiple=True, metavar="HOST:PORT",
                     help="Serve Prometheus metrics with CoreDNS's names at /metrics here "
                          "(CoreDNS's prometheus plugin; its port is 9153) [default: off]."),
        click.option("--lameduck", default=0.0, show_default=True,
                     type=click.FloatRange(0, 300), metavar="SECONDS",
                     help="On SIGTERM, /ready turns 503 at once while DNS and /health answer "
                          "this long before the process exits (kubeadm uses 5)."),
        click.option("--log-format", default=TEXT, show_default=True,
                     type=click.Choice(FORMATS),
                     help="Of --log-queries: CoreDNS's log line, or the same fields as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def http_addresses(option: str, values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(dict.fromkeys(a for v in values for a in parse_addresses(v)))
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def upstream_addresses(values: tuple[str, ...], listen: tuple[tuple[str, int], ...]
                       ) -> tuple[tuple[str, int], ...]:
    """The --upstream values as addresses; without any, the host's resolv.conf nameservers."""
    if "none" in values:
        if len(values) > 1:
            raise click.BadParameter("`none` cannot be combined with upstream addresses",
                                     param_hint="--upstream")
        return ()
    if values:
        given = tuple(parse_listen(v) for v in values)
        for host, port in given:
            if is_own_address(host, port, listen, is_local_address):
                raise click.BadParameter(f"{host} port {port} is clusterdns itself: "
                                         "it would forward to itself", param_hint="--upstream")
        return given
    try:
        with open(HOST_RESOLV_CONF) as file:
            text = file.read()
    except OSError:
        text = ""
    found = default_upstreams(text, listen, is_local_address)
    if not found:
        log.warning("no usable nameserver in %s: names outside the zone get REFUSED "
                    "(give --upstream HOST[:PORT])", HOST_RESOLV_CONF)
    return found


def host_search() -> tuple[str, ...]:
    """The search domains of this host's resolv.conf, as the kubelet reads them (none
    when it cannot be read: autopath then walks the cluster's domains only)."""
    try:
        with open(HOST_RESOLV_CONF, encoding="utf-8") as file:
            return tuple(resolvconf.parse(file.read()).searches)
    except (OSError, UnicodeDecodeError, resolvconf.ResolvConfError):
        return ()


def recursion_ranges(values: tuple[str, ...]) -> tuple[str, ...]:
    """The --allow-recursion values, checked; without any, the default ranges."""
    try:
        ClientRanges.parse(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-recursion") from None
    return values or DEFAULT_RECURSION_CLIENTS


def transfer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--allow-transfer", "allow_transfer", multiple=True, metavar="CIDR",
                     help="Secondaries that may transfer the zones over TCP (AXFR, IXFR; "
                          "repeatable) [default: nobody]."),
        click.option("--transfer-zone", "transfer_zones", multiple=True,
                     metavar="ZONE|CIDR",
                     help="A reverse zone secondaries may transfer too: 10.in-addr.arpa, or "
                          "an address range (10.96.0.0/12 is 10.in-addr.arpa; repeatable)."),
        click.option("--notify", "notify", multiple=True, metavar="HOST[:PORT]",
                     help="Secondary told by NOTIFY of each change of the zones "
                          "(repeatable)."),
        click.option("--notify-source", default="", metavar="HOST",
                     help="Address NOTIFY is sent from: the secondaries' idea of their "
                          "primary [default: the first --listen address]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def transfer_settings(allow_transfer: tuple[str, ...], transfer_zones: tuple[str, ...],
                       notify: tuple[str, ...], notify_source: str,
                       listen: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The Config fields the transfer options set, and the reverse zones they offer."""
    try:
        ClientRanges.parse(allow_transfer)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-transfer") from None
    try:
        zones = transfer.outermost(transfer.reverse_zone(z) for z in transfer_zones)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--transfer-zone") from None
    if notify_source:
        try:
            ipaddress.ip_address(notify_source)
        except ValueError:
            raise click.BadParameter(f"{notify_source!r} is not an IP address",
                                     param_hint="--notify-source") from None
    if notify and not allow_transfer:
        log.warning("--notify without --allow-transfer: the secondaries will be told of "
                    "changes and refused the zone")
    return {"allow_transfer": allow_transfer,
            "notify": tuple(parse_listen(value) for value in notify),
            "notify_source": notify_source or (listen[0] if listen else "")}, zones


def _cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    return DEFAULT_CIDRS + values if values else DEFAULT_CIDRS
