"""Command line: parses options into a Config and hands it on; no DNS logic here."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import dnspolicy, export, podfile, resolvconf, snapshot
from .ops.querylog import FORMATS, TEXT
from .serve.access import DEFAULT_RECURSION_CLIENTS, ClientRanges
from .serve.cache import DEFAULT_CAPACITY, DEFAULT_MAX_NEGATIVE_TTL, DEFAULT_MAX_TTL
from .serve.config import DEFAULT_LISTEN, Config
from .serve.rrl import DEFAULT_RATE, DEFAULT_SLIP, DEFAULT_WINDOW, RateLimit
from .serve.upstream import (
    DEFAULT_BUDGET,
    DEFAULT_TIMEOUT,
    default_upstreams,
    is_local_address,
    is_own_address,
)
from .source import manifests, poddns
from .source import state as states
from .source.addresses import DEFAULT_CIDRS, DEFAULT_POD_CIDRS
from .source.documents import DEFAULT_MAX_FILE_BYTES
from .source.folders import STDIN
from .source.hostnames import HostnameOptions
from .source.manifests import FileCache, LoadOptions
from .zone import transfer
from .zone.build import reverse_name
from .zone.records import PTR, TYPE_NAMES, A
from .zone.settings import POD_MODES, ZoneSettings

log = logging.getLogger("clusterdns")

HOST_RESOLV_CONF = "/etc/resolv.conf"
TYPES = {name: number for number, name in TYPE_NAMES.items()}  # explain's TYPE


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


def _zone_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _load_options(service_cidrs: tuple[str, ...], pod_cidrs: tuple[str, ...], namespace: str,
                  nodes: int, max_file_size: int,
                  hostnames: HostnameOptions | None = None) -> LoadOptions:
    if namespace and not all(c.isalnum() or c == "-" for c in namespace):
        raise click.BadParameter(f"{namespace!r} is not a namespace name",
                                 param_hint="--namespace")
    return LoadOptions(service_cidrs=_cidrs(service_cidrs),
                       pod_cidrs=pod_cidrs or DEFAULT_POD_CIDRS, namespace=namespace,
                       nodes=nodes, max_file_bytes=max_file_size,
                       hostnames=hostnames or HostnameOptions())


def _hostname_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _forwarding_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _rate_limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _operability_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _http_addresses(option: str, values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(dict.fromkeys(a for v in values for a in parse_addresses(v)))
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=option) from None


def _upstreams(values: tuple[str, ...], listen: tuple[tuple[str, int], ...]
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


def _host_search() -> tuple[str, ...]:
    """The search domains of this host's resolv.conf, as the kubelet reads them (none
    when it cannot be read: autopath then walks the cluster's domains only)."""
    try:
        with open(HOST_RESOLV_CONF, encoding="utf-8") as file:
            return tuple(resolvconf.parse(file.read()).searches)
    except (OSError, UnicodeDecodeError, resolvconf.ResolvConfError):
        return ()


def _recursion_clients(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        ClientRanges.parse(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-recursion") from None
    return values or DEFAULT_RECURSION_CLIENTS


def _transfer_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _transfer_settings(allow_transfer: tuple[str, ...], transfer_zones: tuple[str, ...],
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


def _state_path(paths: Iterable[str], given: str | None) -> Path:
    return Path(given) if given else states.default_path(paths)


def _snapshot(paths: tuple[str, ...], options: LoadOptions, settings: ZoneSettings,
              state_path: Path, cache: FileCache | None = None) -> snapshot.Snapshot:
    """Read the state file and the manifests, and build the zone."""
    known, problem = states.read(state_path)
    if problem:
        log.warning("%s", problem)
    return snapshot.take(paths, options, settings, known, cache)


def _served(paths: tuple[str, ...], domain: str, ttl: int, pods: str,
            service_cidrs: tuple[str, ...], pod_cidrs: tuple[str, ...], namespace: str,
            nodes: int, max_file_size: int, state_file: str | None,
            hostnames: HostnameOptions, strict: bool = False,
            warn: bool = False) -> snapshot.Snapshot:
    """What `serve` would serve from `paths` with these options, for the commands that
    only read (check, records, explain, export); exits 1 on errors, as `_report` says."""
    options = _load_options(service_cidrs, pod_cidrs, namespace, nodes, max_file_size,
                            hostnames)
    settings = ZoneSettings(domain=domain, ttl=ttl, pods=pods)
    taken = _snapshot(paths, options, settings, _state_path(paths, state_file))
    _report(taken, paths, strict, warn)
    assert taken.zone is not None
    return taken


def _report(taken: snapshot.Snapshot, paths: tuple[str, ...], strict: bool = False,
            warn: bool = True) -> None:
    """Print errors, then warnings (errors too under `strict`); exit 1 on any error."""
    errors = taken.loaded.errors + (taken.warnings if strict else [])
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if warn and not strict:
        for warning in taken.warnings:
            click.echo(f"warning: {warning}", err=True)
    if errors:
        where = ", ".join("standard input" if p == STDIN else p for p in paths)
        click.echo(f"{len(errors)} problem(s) in {where}", err=True)
        sys.exit(1)


def _verbose(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        logging.getLogger().setLevel(logging.DEBUG)


# Accepted before and after the command name: `clusterdns -v serve` and `clusterdns serve -v`.
_verbose_option = click.option("-v", "--verbose", is_flag=True, expose_value=False,
                               is_eager=True, callback=_verbose, help="Debug logging.")


@click.group()
@_verbose_option
def main() -> None:
    """Kubernetes cluster DNS from manifest files."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    # watchdog logs every inotify event at debug level: thousands of lines with -v.
    logging.getLogger("watchdog").setLevel(logging.INFO)


@main.command()
@_verbose_option
@click.option("--manifests", "paths", multiple=True, default=("manifests",), show_default=True,
              type=click.Path(exists=True, allow_dash=True),
              help="Manifest folder or file, `-` for standard input (repeatable).")
@click.option("--listen", multiple=True, help="HOST:PORT for UDP and TCP (repeatable; "
              "[V6]:PORT for IPv6, :PORT for loopback, localhost:PORT for both loopbacks) "
              f"[default: {DEFAULT_LISTEN[0]}:{DEFAULT_LISTEN[1]}].")
@click.option("--log-queries", is_flag=True,
              help="Log every query to standard output as CoreDNS's log plugin does.")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Reload when the manifests change (SIGHUP reloads either way).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes answering on the same addresses (SO_REUSEPORT), one per core.")
@click.option("--batch/--no-batch", default=True, show_default=True,
              help="Answer UDP in batches (recvmmsg/sendmmsg) where the system can; "
              "--no-batch: one datagram at a time.")
@click.option("--batch-loop", type=click.Choice(["c", "python"]), default="c",
              show_default=True,
              help="Where a batch's stored replies are answered: c, the loop compiled at "
              "install (Python where it could not be built), or python, through ctypes.")
@_zone_options
@_hostname_options
@_forwarding_options
@_rate_limit_options
@_transfer_options
@_operability_options
@click.option("--autopath", is_flag=True,
              help="Server-side search (CoreDNS's autopath): a known pod's first search "
                   "expansion is answered from the first name of its search path that exists, "
                   "behind a CNAME, so its first question is its last.")
def serve(paths: tuple[str, ...], listen: tuple[str, ...], log_queries: bool, watch: bool,
          workers: int, batch: bool, batch_loop: str, domain: str, ttl: int, pods: str,
          service_cidrs: tuple[str, ...], pod_cidrs: tuple[str, ...], namespace: str, nodes: int,
          max_file_size: int, state_file: str | None, upstreams: tuple[str, ...],
          upstream_timeout: float, upstream_budget: float, cache_size: int, cache_max_ttl: int,
          cache_max_negative_ttl: int, recursion_clients: tuple[str, ...],
          rate_limit: RateLimit, hostnames: HostnameOptions,
          allow_transfer: tuple[str, ...], transfer_zones: tuple[str, ...],
          notify: tuple[str, ...], notify_source: str, health: tuple[str, ...],
          ready: tuple[str, ...], metrics: tuple[str, ...], lameduck: float,
          log_format: str, autopath: bool) -> None:
    """Serve the cluster zone built from the manifests."""
    from .ops import http
    from .serve.reload import collector_paused
    from .serve.server import run as run_server
    from .serve.sockets import ListenError

    addresses = tuple(dict.fromkeys(a for v in listen for a in parse_addresses(v))) or (
        DEFAULT_LISTEN,)
    specific = tuple(h for h, _ in addresses if not ipaddress.ip_address(h).is_unspecified)
    transfers, reverse_zones = _transfer_settings(allow_transfer, transfer_zones, notify,
                                                  notify_source, specific)
    settings = ZoneSettings(domain=domain, ttl=ttl, pods=pods,
                            ns_addresses=specific or ("127.0.0.1",), reverse_zones=reverse_zones)
    options = _load_options(service_cidrs, pod_cidrs, namespace, nodes, max_file_size,
                            hostnames)
    state_path = _state_path(paths, state_file)
    config = Config(manifests=paths, listen=addresses, zone=settings, source=options,
                    state_file=state_path, log_queries=log_queries,
                    watch=watch, workers=workers,
                    upstreams=_upstreams(upstreams, addresses), upstream_timeout=upstream_timeout,
                    upstream_budget=upstream_budget, cache_size=cache_size,
                    cache_max_ttl=cache_max_ttl, cache_max_negative_ttl=cache_max_negative_ttl,
                    recursion_clients=_recursion_clients(recursion_clients),
                    rate_limit=rate_limit, batch=batch,
                    compiled=batch_loop == "c", **transfers,
                    health=_http_addresses("--health", health),
                    ready=_http_addresses("--ready", ready),
                    metrics=_http_addresses("--metrics", metrics), lameduck=lameduck,
                    log_format=log_format, autopath=autopath,
                    host_search=_host_search() if autopath else ())
    try:
        probed = http.bind({http.HEALTH: config.health, http.READY: config.ready,
                            http.METRICS: config.metrics})
    except http.BindError as exc:
        options = " or ".join(name for name, addresses in (
            ("--health", config.health), ("--ready", config.ready),
            ("--metrics", config.metrics)) if (exc.host, exc.port) in addresses)
        click.echo(f"error: {listen_problem(exc.host, exc.port, exc.cause, options)}", err=True)
        sys.exit(1)
    for sock, served in probed:
        log.info("answering %s on http://%s", " ".join(served), http.address_text(sock))
    cache = FileCache()  # handed to the reloader: a reload re-reads changed files
    # Probes are answered while the zone loads: /ready says 503 until it is served.
    with http.serving_while_starting(probed), collector_paused():
        taken = _snapshot(paths, options, settings, state_path, cache)
    _report(taken, paths, warn=False)
    for warning in taken.warnings:
        log.warning("manifest warning: %s", warning)
    problem = states.write(state_path, taken.state)
    if problem:
        log.warning("%s", problem)
    assert taken.zone is not None
    _install_uvloop()
    try:
        run_server(config, taken.zone, cluster=taken.loaded.cluster, cache=cache,
                   known=taken.state, warnings=taken.warnings, http=probed)
    except ListenError as exc:
        click.echo(f"error: {listen_problem(exc.host, exc.port, exc.cause)}", err=True)
        sys.exit(1)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@main.command()
@_verbose_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--strict", is_flag=True, help="Count warnings as errors (for CI).")
@_zone_options
@_hostname_options
def check(paths: tuple[str, ...], strict: bool, **source: Any) -> None:
    """Validate manifests: every problem (exit 1), else what will be served (exit 0).

    Warnings (skipped documents, duplicates, names that will be NXDOMAIN) leave the exit
    status 0 unless --strict.
    """
    taken = _served(paths, strict=strict, warn=True, **source)
    click.echo(_kind_table(taken.loaded.counts))
    assert taken.zone is not None
    stats, cluster = taken.zone.stats, taken.loaded.cluster
    generated = sum(1 for pod in cluster.pods if pod.owner)
    warned = f"; {len(taken.warnings)} warning(s)" if taken.warnings else ""
    click.echo(f"ok: {stats['services']} services, {stats['pods']} pods ({generated} "
               f"generated), {stats['endpoints']} endpoints, {stats['records']} "
               f"records, serial {taken.zone.soa.data[2]}{warned}")  # type: ignore[index]


def _kind_table(counts: dict[str, Any] | Any) -> str:
    """Objects per kind: read (and used), generated, skipped (kinds DNS does not use)."""
    rows = [("kind", "read", "generated", "skipped")]
    for kind, count in counts.items():
        rows.append((kind, *(str(n) if n else "-"
                             for n in (count.read, count.generated, count.skipped))))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:>5}  {r[2]:>9}  {r[3]:>7}" for r in rows)


@main.command()
@_verbose_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@_zone_options
@_hostname_options
def records(paths: tuple[str, ...], **source: Any) -> None:
    """Print the zone the server would serve, one record a line, sorted.

    Records of pods made from workloads end in a comment naming the pod and its workload.
    """
    taken = _served(paths, **source)
    assert taken.zone is not None
    made = {}  # address or reverse name -> where the pod came from
    for pod in taken.loaded.cluster.pods:
        if pod.owner:
            note = f" ; pod {pod.namespace}/{pod.name} of {pod.owner}"
            for ip in pod.ips:
                made[ip] = made[reverse_name(ip)] = note
    for record in taken.zone.records():
        key = record.name if record.rtype == PTR else str(record.data)
        click.echo(record.text() + made.get(key, ""))


@main.command("resolv-conf")
@click.option("--pod", "pod_ref", metavar="FILE|NS/NAME",
              help="A Pod manifest, or a workload's (Deployment, StatefulSet, DaemonSet, "
                   "ReplicaSet, ReplicationController, Job, CronJob): the first in the file. "
                   "Or NS/NAME: a pod in --manifests, made from a workload or written, or a "
                   "workload there (its first pod).")
@click.option("--manifests", "paths", multiple=True, default=("manifests",), show_default=True,
              type=click.Path(allow_dash=True),
              help="Where --pod NS/NAME is looked up (repeatable).")
@click.option("--namespace", help="The pod's namespace, when its manifest names none "
              "[default: default].")
@click.option("--dns-policy", type=click.Choice(poddns.DNS_POLICIES),
              help="Instead of the pod's spec.dnsPolicy [default: ClusterFirst].")
@click.option("--nameserver", "nameservers", multiple=True, default=("127.0.0.1",),
              show_default=True, metavar="IP",
              help="The kubelet's --cluster-dns: where clusterdns listens, on port 53 "
                   "(repeatable).")
@click.option("--domain", default="cluster.local", show_default=True,
              help="The kubelet's --cluster-domain.")
@click.option("--host-resolv-conf", default=HOST_RESOLV_CONF, show_default=True, metavar="FILE",
              help="The kubelet's --resolv-conf: the node's file the pod's starts from; "
                   "'' for none.")
@click.option("--docker", is_flag=True,
              help="Print the docker run flags and compose keys instead of the file.")
def resolv_conf(pod_ref: str | None, paths: tuple[str, ...], namespace: str | None,
                dns_policy: str | None, nameservers: tuple[str, ...], domain: str,
                host_resolv_conf: str, docker: bool) -> None:
    """Print the resolv.conf the kubelet writes for a pod, pointed at clusterdns.

    Warnings the kubelet would raise as events go to stderr.
    """
    pod = _pod_to_resolve(pod_ref, namespace, paths)
    if dns_policy:
        pod = replace(pod, dns_policy=dns_policy)
    config, warnings = dnspolicy.pod_dns(pod, _host_resolv_conf(host_resolv_conf),
                                         _cluster_dns(nameservers), domain)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(resolvconf.docker(config) if docker else resolvconf.render(config), nl=False)


def _pod_to_resolve(pod_ref: str | None, namespace: str | None,
                    paths: tuple[str, ...]) -> poddns.PodDNS:
    """The pod --pod names (a file, or NS/NAME in --manifests), or a plain pod in
    --namespace without one."""
    if pod_ref is None:
        return poddns.PodDNS(namespace=namespace or "default")
    if not os.path.exists(pod_ref) and pod_ref.count("/") == 1:
        return _pod_in_manifests(pod_ref, paths, namespace or "default")
    pod_file = pod_ref
    try:
        with open(pod_file, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {pod_file}: {exc}", param_hint="--pod") from None
    pod, errors = podfile.first_pod(pod_file, text, namespace)
    if pod is None:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)
    return pod


def _pod_in_manifests(ref: str, paths: tuple[str, ...], namespace: str) -> poddns.PodDNS:
    """The DNS settings of pod NS/NAME in `paths`: a written pod, a pod a workload makes
    (`shop/web-0`), or a workload's first pod (`shop/web`)."""
    wanted_namespace, _, name = ref.partition("/")
    loaded = manifests.load(paths, LoadOptions(namespace=namespace))
    if loaded.errors:
        for error in loaded.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)
    pods = [p for p in loaded.cluster.pods if p.namespace == wanted_namespace]
    found = next((p for p in pods if p.name == name), None) or next(
        (p for p in pods if p.owner.endswith(f" {wanted_namespace}/{name}")), None)
    if found is None or found.dns is None:
        known = sorted({p.name for p in pods} | {p.owner.partition("/")[2] for p in pods
                                                 if p.owner})
        hint = f"; pods and workloads there: {', '.join(known[:12])}" if known else ""
        raise click.BadParameter(f"no pod or workload {ref} in {', '.join(paths)}{hint}",
                                 param_hint="--pod")
    return found.dns


def _host_resolv_conf(path: str) -> resolvconf.DNSConfig | None:
    """The node's resolv.conf as the kubelet reads it; None for ''.

    A file that cannot be read or that the kubelet refuses is an error here, as it is for
    the kubelet, which then starts no pod.
    """
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return resolvconf.parse(file.read())
    except (OSError, UnicodeDecodeError, resolvconf.ResolvConfError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--host-resolv-conf") from None


def _cluster_dns(values: tuple[str, ...]) -> list[str]:
    """The --nameserver addresses, written as the kubelet writes its --cluster-dns IPs."""
    try:
        return [str(ipaddress.ip_address(value)) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--nameserver") from None


@main.command()
@_verbose_option
@click.argument("question", nargs=-1, required=True, metavar="NAME [TYPE] [DIR|FILE|-]...")
@click.option("--manifests", "manifest_paths", multiple=True,
              type=click.Path(exists=True, allow_dash=True),
              help="Manifest folder or file, as for serve (repeatable) [default: manifests].")
@click.option("--upstream", "upstreams", multiple=True, metavar="HOST[:PORT]|none",
              help="Where serve would forward names outside the zone, as for serve "
                   f"[default: the nameservers of {HOST_RESOLV_CONF}].")
@_zone_options
@_hostname_options
def explain(question: tuple[str, ...], manifest_paths: tuple[str, ...],
            upstreams: tuple[str, ...], **source: Any) -> None:
    """Say what serve would answer for NAME (type A unless TYPE is given), which file,
    document and object each record comes from, and why an empty answer is empty.

    A running server says the same to loopback clients: ask it for TXT records of
    NAME[.TYPE].explain.clusterdns.
    """
    from .serve.sockets import format_address
    from .zone.explain import explain as explained

    name, rest = question[0], list(question[1:])
    qtype = A
    if rest and rest[0].upper() in TYPES and not Path(rest[0]).exists():
        qtype = TYPES[rest.pop(0).upper()]
    for path in rest:
        if path != STDIN and not Path(path).exists():
            raise click.BadParameter(f"{path!r} is neither a record type nor a manifest path",
                                     param_hint="NAME [TYPE] [DIR|FILE|-]...")
    paths = tuple(rest) + manifest_paths or ("manifests",)
    taken = _served(paths, **source)
    assert taken.zone is not None
    forward = [format_address(h, p) for h, p in _upstreams(upstreams, (DEFAULT_LISTEN,))]
    click.echo("\n".join(explained(taken.zone, name, qtype, forward).lines()))


@main.command("export")
@_verbose_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--format", "form", type=click.Choice(["zone", "hosts"]), default="zone",
              show_default=True,
              help="zone: a zone file for BIND, Knot, NSD or CoreDNS's file plugin; hosts: "
                   "an /etc/hosts file for dnsmasq's addn-hosts or a container.")
@_zone_options
@_hostname_options
def export_command(paths: tuple[str, ...], form: str, **source: Any) -> None:
    """Print the cluster zone as a zone file or as a hosts file."""
    taken = _served(paths, **source)
    assert taken.zone is not None
    text = export.zone_file(taken.zone) if form == "zone" else export.hosts_file(taken.zone)
    click.echo(text, nl=False)
