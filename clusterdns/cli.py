"""Command line: parses options into a Config and hands it on; no DNS logic here."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import dnspolicy, export, podfile, resolvconf, snapshot
from .options import (
    HOST_RESOLV_CONF,
    forwarding_options,
    host_search,
    hostname_options,
    http_addresses,
    listen_problem,
    load_options,
    operability_options,
    parse_addresses,
    rate_limit_options,
    recursion_ranges,
    transfer_options,
    transfer_settings,
    upstream_addresses,
    zone_options,
)
from .serve.config import DEFAULT_LISTEN, Config
from .serve.rrl import RateLimit
from .source import manifests, poddns
from .source import state as states
from .source.folders import STDIN
from .source.hostnames import HostnameOptions
from .source.manifests import FileCache, LoadOptions
from .zone.build import reverse_name
from .zone.records import PTR, TYPE_NAMES, A
from .zone.settings import ZoneSettings

log = logging.getLogger("clusterdns")

TYPES = {name: number for number, name in TYPE_NAMES.items()}  # explain's TYPE


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
    options = load_options(service_cidrs, pod_cidrs, namespace, nodes, max_file_size,
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
              help="Who answers stored UDP replies: c, a native thread per socket, "
              "compiled at install, that never waits for a reload (Python where it could "
              "not be built); or python, the event loop through ctypes.")
@zone_options
@hostname_options
@forwarding_options
@rate_limit_options
@transfer_options
@operability_options
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
    transfers, reverse_zones = transfer_settings(allow_transfer, transfer_zones, notify,
                                                  notify_source, specific)
    settings = ZoneSettings(domain=domain, ttl=ttl, pods=pods,
                            ns_addresses=specific or ("127.0.0.1",), reverse_zones=reverse_zones)
    options = load_options(service_cidrs, pod_cidrs, namespace, nodes, max_file_size,
                            hostnames)
    state_path = _state_path(paths, state_file)
    config = Config(manifests=paths, listen=addresses, zone=settings, source=options,
                    state_file=state_path, log_queries=log_queries,
                    watch=watch, workers=workers,
                    upstreams=upstream_addresses(upstreams, addresses),
                    upstream_timeout=upstream_timeout,
                    upstream_budget=upstream_budget, cache_size=cache_size,
                    cache_max_ttl=cache_max_ttl, cache_max_negative_ttl=cache_max_negative_ttl,
                    recursion_clients=recursion_ranges(recursion_clients),
                    rate_limit=rate_limit, batch=batch,
                    compiled=batch_loop == "c", **transfers,
                    health=http_addresses("--health", health),
                    ready=http_addresses("--ready", ready),
                    metrics=http_addresses("--metrics", metrics), lameduck=lameduck,
                    log_format=log_format, autopath=autopath,
                    host_search=host_search() if autopath else ())
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
@zone_options
@hostname_options
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
@zone_options
@hostname_options
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
@zone_options
@hostname_options
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
    forward = [format_address(h, p) for h, p in upstream_addresses(upstreams, (DEFAULT_LISTEN,))]
    click.echo("\n".join(explained(taken.zone, name, qtype, forward).lines()))


@main.command("export")
@_verbose_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--format", "form", type=click.Choice(["zone", "hosts"]), default="zone",
              show_default=True,
              help="zone: a zone file for BIND, Knot, NSD or CoreDNS's file plugin; hosts: "
                   "an /etc/hosts file for dnsmasq's addn-hosts or a container.")
@zone_options
@hostname_options
def export_command(paths: tuple[str, ...], form: str, **source: Any) -> None:
    """Print the cluster zone as a zone file or as a hosts file."""
    taken = _served(paths, **source)
    assert taken.zone is not None
    text = export.zone_file(taken.zone) if form == "zone" else export.hosts_file(taken.zone)
    click.echo(text, nl=False)
