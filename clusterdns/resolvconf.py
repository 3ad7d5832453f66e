"""resolv.conf both ways: reading the host's, and writing a pod's (with the Docker equivalents).

A host file is read twice over, for two readers that disagree: `parse` reads it as the
kubelet does for a pod's base config, `nameservers` as a stub resolver does for
clusterdns's own forwarding. A pod's file is written as containerd writes it.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass

from .source.poddns import Option

# One `options` entry: ("ndots", "5") is `ndots:5`, ("edns0", None) the bare `edns0`.


@dataclass(frozen=True)
class DNSConfig:
    """What a resolv.conf says: the CRI's DNSConfig, which the kubelet hands the runtime."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()


class ResolvConfError(ValueError):
    """A host resolv.conf the kubelet refuses: it then starts no pod on that node."""


def option(text: str) -> Option:
    """`ndots:5` as ("ndots", "5"); `edns0` as ("edns0", None). The name ends at the first colon."""
    name, colon, value = text.partition(":")
    return (name, value) if colon else (name, None)


def option_text(entry: Option) -> str:
    """The `options` word for `entry`; the inverse of `option`."""
    name, value = entry
    return name if value is None else f"{name}:{value}"


def parse(text: str) -> DNSConfig:
    """The host's resolv.conf as the kubelet reads it for a pod's base config.

    `nameserver` lines accumulate, taking the first word after the keyword as it is (no
    address check); the last `search` line wins, each domain loses one trailing dot (so
    `corp.` and `corp` count once) and a lone `.` is dropped; `options` lines merge, a
    later option replacing an earlier one of the same name (kubelet 1.26+, PR #112414;
    older kubelets kept only the last line). Every other line is ignored: comments (`#`,
    `;`), `domain`, `sortlist`. A comment after a `search` line's domains is read as more
    domains, as the kubelet reads it.

    Raises ResolvConfError for a `nameserver` line with no address, which makes the
    kubelet fail every pod on the node.
    """
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, Option] = {}
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        words = line.split()
        if not words:
            continue
        keyword, args = words[0], words[1:]
        if keyword == "nameserver":
            if args:
                servers.append(args[0])
            else:
                problems.append(f"line {number}: nameserver list is empty")
        elif keyword == "search":
            searches = [domain.removesuffix(".") for domain in args if domain != "."]
        elif keyword == "options":
            for entry in map(option, args):
                options.pop(entry[0], None)
                options[entry[0]] = entry
    if problems:
        raise ResolvConfError("; ".join(problems))
    return DNSConfig(tuple(servers), tuple(searches), tuple(options.values()))


def nameservers(text: str) -> list[str]:
    """The `nameserver` addresses of resolv.conf `text`, in order, as the resolver reads them.

    Comments (`#`, `;`) and anything that is not an IP address (a hostname, a typo) are
    skipped rather than fatal: a broken line there must not stop the cluster zone.
    """
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            ipaddress.ip_address(words[1])
        except ValueError:
            continue
        found.append(words[1])
    return found


def render(config: DNSConfig) -> str:
    """The resolv.conf containerd writes for `config`: search, nameservers, options.

    Each line only when it has something to say, so an empty config is an empty file.
    Options are written in the order given.
    """
    lines = []
    if config.searches:
        lines.append("search " + " ".join(config.searches))
    lines += [f"nameserver {server}" for server in config.nameservers]
    if config.options:
        lines.append("options " + " ".join(map(option_text, config.options)))
    return "".join(line + "\n" for line in lines)


def docker_run_args(config: DNSConfig) -> list[str]:
    """`docker run` flags that give a container the resolv.conf `config` describes.

    Docker fills a part without flags from the host's resolv.conf, so no search domains
    become `--dns-search .` (Docker's word for none). An empty nameserver or options part
    has no such word and is left to the host.
    """
    args = []
    for server in config.nameservers:
        args += ["--dns", server]
    for domain in config.searches or (".",):
        args += ["--dns-search", domain]
    for entry in config.options:
        args += ["--dns-option", option_text(entry)]
    return args


def docker(config: DNSConfig) -> str:
    """The `docker run` command line and the Docker Compose service keys for `config`.

    Compose values are JSON lists, which YAML reads as they are (an IPv6 address in a
    plain YAML flow list would not parse).
    """
    searches = list(config.searches or (".",))
    lines = [shlex.join(["docker", "run", *docker_run_args(config)]) + " IMAGE",
             "# docker compose, under the service:"]
    if config.nameservers:
        lines.append(f"dns: {json.dumps(list(config.nameservers))}")
    lines.append(f"dns_search: {json.dumps(searches)}")
    if config.options:
        lines.append(f"dns_opt: {json.dumps([option_text(e) for e in config.options])}")
    return "".join(line + "\n" for line in lines)
