"""What the kubelet reads of a pod to write its resolv.conf, read from a Pod or a pod template.

Three fields of the pod spec (`dnsPolicy`, `hostNetwork`, `dnsConfig`) and the pod's
namespace are all the kubelet's DNS rules look at, so that is all `PodDNS` holds. Reading
it is kept apart from the rules (`dnspolicy`) and from files (`podfile`), so whatever
produces pods (a Pod manifest, a Deployment's template) can hand the rules the same value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A resolv.conf option: name and value (`ndots:5`), or a bare flag (`edns0`, value None).
Option = tuple[str, str | None]

CLUSTER_FIRST = "ClusterFirst"
CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"
DEFAULT = "Default"
NONE = "None"
DNS_POLICIES = (CLUSTER_FIRST, CLUSTER_FIRST_WITH_HOST_NET, DEFAULT, NONE)

# Where each kind keeps the spec of the pods it makes (a Pod is its own).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True)
class PodDNSConfig:
    """`spec.dnsConfig`: added to what the policy gives, whatever the policy."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class PodDNS:
    """The pod as the kubelet's DNS rules see it.

    `dns_policy` is kept as written: an unknown value is the rules' to warn about and
    replace (by ClusterFirst), as the kubelet does. `dns_config` is None when the spec has
    no `dnsConfig`, which differs from an empty one: merging even an empty one drops
    duplicate nameservers and searches of the base config.
    """

    namespace: str = "default"
    dns_policy: str = CLUSTER_FIRST
    host_network: bool = False
    dns_config: PodDNSConfig | None = None


def from_pod_spec(namespace: str, spec: Mapping[str, Any]) -> tuple[PodDNS, list[tuple[str, str]]]:
    """The PodDNS of a pod in `namespace` with `spec`, and every problem as (field, message).

    Fields are relative to the spec (`dnsConfig.nameservers[0]`), so the caller can put
    them under `spec.` or `spec.template.spec.`. Only what would make the value
    meaningless is a problem; the API server's count limits are left to the kubelet's
    rules, which trim and warn.
    """
    problems: list[tuple[str, str]] = []
    policy = spec.get("dnsPolicy") or CLUSTER_FIRST  # API defaulting: unset is ClusterFirst
    if not isinstance(policy, str):
        problems.append(("dnsPolicy", f"{policy!r} is not a string"))
        policy = CLUSTER_FIRST
    host_network = spec.get("hostNetwork", False) or False
    if not isinstance(host_network, bool):
        problems.append(("hostNetwork", f"{host_network!r} is not true or false"))
        host_network = False
    raw = spec.get("dnsConfig")
    config = None
    if isinstance(raw, Mapping):
        config = _dns_config(raw, problems)
    elif raw is not None:
        problems.append(("dnsConfig", "must be a mapping"))
    return PodDNS(namespace, policy, host_network, config), problems


def _dns_config(raw: Mapping[str, Any], problems: list[tuple[str, str]]) -> PodDNSConfig:
    nameservers = []
    for i, value in enumerate(_list(raw, "nameservers", problems)):
        if _is_ip(value):
            nameservers.append(value)  # as written: the kubelet copies the API's string
        else:
            problems.append((f"dnsConfig.nameservers[{i}]", f"{value!r} is not an IP address"))
    searches = []
    for i, value in enumerate(_list(raw, "searches", problems)):
        if isinstance(value, str) and value:
            searches.append(value)
        else:
            problems.append((f"dnsConfig.searches[{i}]", f"{value!r} is not a domain"))
    options: list[Option] = []
    for i, entry in enumerate(_list(raw, "options", problems)):
        where = f"dnsConfig.options[{i}]"
        if not isinstance(entry, Mapping):
            problems.append((where, "must be a mapping with a name"))
            continue
        name, value = entry.get("name"), entry.get("value")
        if not isinstance(name, str) or not name:
            problems.append((f"{where}.name", "required"))
        elif value is not None and not isinstance(value, str):
            # The API server refuses a number here too: Value is a *string.
            problems.append((f"{where}.value", f"{value!r} is not a string (quote it)"))
        else:
            options.append((name, value))
    return PodDNSConfig(tuple(nameservers), tuple(searches), tuple(options))


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return False
    return True


def _list(raw: Mapping[str, Any], key: str, problems: list[tuple[str, str]]) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append((f"dnsConfig.{key}", "must be a list"))
        return []
    return value
