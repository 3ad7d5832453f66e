"""Command line: parses options into a Config and hands it on; no DNS logic here."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from . import resolvconf
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
from .source import manifests
from .source.clusterips import DEFAULT_CIDRS
from .source.model import Cluster
from .zone import build as zones
from .zone.settings import POD_MODES, ZoneSettings

log = logging.getLogger("clusterdns")

HOST_RESOLV_CONF = "/etc/resolv.conf"


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT`, or a bare host (port 53)."""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT with an IP address") from None
    return host, number


def _zone_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--domain", default="cluster.local", show_default=True,
                     help="Cluster domain (the zone served)."),
        click.option("--ttl", default=5, show_default=True, type=click.IntRange(0, 86400),
                     help="TTL of cluster records."),
        click.option("--pods", default="insecure", show_default=True, type=click.Choice(POD_MODES),
                     help="Pod records a-b-c-d.<ns>.pod.<zone>, as CoreDNS's `pods` option."),
        click.option("--service-cidr", "service_cidrs", multiple=True,
                     help=f"Range for derived cluster IPs, one per family "
                          f"[default: {', '.join(DEFAULT_CIDRS)}]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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


def _recursion_clients(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        ClientRanges.parse(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-recursion") from None
    return values or DEFAULT_RECURSION_CLIENTS


def _cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    return DEFAULT_CIDRS + values if values else DEFAULT_CIDRS


def _load_or_exit(paths: tuple[str, ...], cidrs: tuple[str, ...],
                  cache: manifests.FileCache | None = None) -> Cluster:
    cluster, errors = manifests.load(paths, _cidrs(cidrs), cache)
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(errors)} problem(s) in {', '.join(paths)}", err=True)
        sys.exit(1)
    return cluster


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Kubernetes cluster DNS from manifest files."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option("--manifests", "paths", multiple=True, default=("manifests",), show_default=True,
              type=click.Path(exists=True), help="Manifest folder or file (repeatable).")
@click.option("--listen", multiple=True, help="HOST:PORT for UDP and TCP (repeatable) "
              f"[default: {DEFAULT_LISTEN[0]}:{DEFAULT_LISTEN[1]}].")
@click.option("--log-queries", is_flag=True, help="Log every query and its rcode.")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Reload when the manifests change (SIGHUP reloads either way).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes answering on the same addresses (SO_REUSEPORT), one per core.")
@_zone_options
@_forwarding_options
@_rate_limit_options
def serve(paths: tuple[str, ...], listen: tuple[str, ...], log_queries: bool, watch: bool,
          workers: int, domain: str, ttl: int, pods: str, service_cidrs: tuple[str, ...],
          upstreams: tuple[str, ...], upstream_timeout: float, upstream_budget: float,
          cache_size: int, cache_max_ttl: int, cache_max_negative_ttl: int,
          recursion_clients: tuple[str, ...], rate_limit: RateLimit) -> None:
    """Serve the cluster zone built from the manifests."""
    from .serve.reload import collector_paused
    from .serve.server import run as run_server

    addresses = tuple(parse_listen(v) for v in listen) or (DEFAULT_LISTEN,)
    specific = tuple(h for h, _ in addresses if not ipaddress.ip_address(h).is_unspecified)
    settings = ZoneSettings(domain=domain, ttl=ttl, pods=pods,
                            ns_addresses=specific or ("127.0.0.1",))
    config = Config(manifests=paths, listen=addresses, zone=settings,
                    service_cidrs=_cidrs(service_cidrs), log_queries=log_queries,
                    watch=watch, workers=workers,
                    upstreams=_upstreams(upstreams, addresses), upstream_timeout=upstream_timeout,
                    upstream_budget=upstream_budget, cache_size=cache_size,
                    cache_max_ttl=cache_max_ttl, cache_max_negative_ttl=cache_max_negative_ttl,
                    recursion_clients=_recursion_clients(recursion_clients),
                    rate_limit=rate_limit)
    cache = manifests.FileCache()  # handed to the reloader: a reload re-reads changed files
    with collector_paused():  # several times faster for a big zone (bench/zone_build.py)
        cluster = _load_or_exit(paths, service_cidrs, cache)
        current = zones.build(cluster, settings, serial=int(time.time()))
    _install_uvloop()
    try:
        run_server(config, current, cluster=cluster, cache=cache)
    except OSError as exc:
        click.echo(f"error: cannot listen: {exc}", err=True)
        sys.exit(1)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_zone_options
def check(paths: tuple[str, ...], domain: str, ttl: int, pods: str,
          service_cidrs: tuple[str, ...]) -> None:
    """Validate manifests: print every problem (exit 1) or a summary (exit 0)."""
    cluster = _load_or_exit(paths, service_cidrs)
    built = zones.build(cluster, ZoneSettings(domain=domain, ttl=ttl, pods=pods))
    stats = built.stats
    click.echo(f"ok: {stats['services']} services, {stats['pods']} pods, "
               f"{stats['endpoints']} endpoints, {stats['records']} records")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_zone_options
def records(paths: tuple[str, ...], domain: str, ttl: int, pods: str,
            service_cidrs: tuple[str, ...]) -> None:
    """Print the zone the server would serve, one record a line, sorted."""
    cluster = _load_or_exit(paths, service_cidrs)
    built = zones.build(cluster, ZoneSettings(domain=domain, ttl=ttl, pods=pods))
    for record in built.records():
        click.echo(record.text())


@main.command("resolv-conf")
@click.option("--namespace", default="default", show_default=True)
@click.option("--nameserver", default="127.0.0.1", show_default=True)
@click.option("--domain", default="cluster.local", show_default=True)
def resolv_conf(namespace: str, nameserver: str, domain: str) -> None:
    """Print the resolv.conf a pod in NAMESPACE would get, pointed at clusterdns."""
    click.echo(resolvconf.resolv_conf(namespace, nameserver, domain), nl=False)
