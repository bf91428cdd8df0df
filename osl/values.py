"""The values a sandbox takes and gives back: :class:`StaticRoute` and its route types,
:class:`Neighbor`, :class:`InterfaceStatistics`, the :class:`RecordWarning` it reports
with, and the checks of what a caller passes in (name prefixes, MACs, addresses).

All importable from :mod:`osl.sandbox` and :mod:`osl` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
from typing import Any, NamedTuple, Union

from osl.netlink.lladdr import mac as _mac
from osl.plumbing import check_name as _check_name

__all__ = [
    "CONNECTED",
    "NEXTHOP",
    "Address",
    "InterfaceStatistics",
    "Neighbor",
    "RecordWarning",
    "Settings",
    "StaticRoute",
]

#: libnetwork's types.StaticRoute route types
NEXTHOP, CONNECTED = 0, 1
Address = Union[IPv4Address, IPv6Address]


class RecordWarning(RuntimeWarning):
    """A record read back from the kernel was malformed, or a change it describes could not
    be finished or undone; it was skipped (``Sandbox.problems`` lists them too)."""


class InterfaceStatistics(NamedTuple):
    """An interface's counters, from IFLA_STATS64."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


class StaticRoute:
    """A route a sandbox adds: ``destination`` via ``next_hop`` (libnetwork's
    ``types.StaticRoute``; ``route_type`` NEXTHOP or CONNECTED)."""

    __slots__ = ("destination", "next_hop", "route_type")

    def __init__(self, destination: Any, next_hop: Any = None, route_type: int = NEXTHOP) -> None:
        dst = ip_network(destination)
        hop = None if next_hop is None else ip_address(next_hop)
        if hop is not None and hop.version != dst.version:
            raise ValueError(f"next hop {hop} is not of the family of {dst}")
        if route_type not in (NEXTHOP, CONNECTED):
            raise ValueError(f"route type {route_type!r} is neither NEXTHOP nor CONNECTED")
        if route_type == NEXTHOP and hop is None:
            raise ValueError(f"a NEXTHOP route to {dst} needs a next hop")
        object.__setattr__(self, "destination", dst)
        object.__setattr__(self, "next_hop", hop)
        object.__setattr__(self, "route_type", route_type)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StaticRoute is immutable")

    def _key(self) -> tuple:
        return (self.destination, self.next_hop, self.route_type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StaticRoute) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        """As ``ip route`` writes it: ``203.0.113.0/24 via 192.0.2.1``."""
        return f"{self.destination} via {self.next_hop}" if self.next_hop else str(self.destination)

    def __repr__(self) -> str:
        via = f", next_hop='{self.next_hop}'" if self.next_hop is not None else ""
        kind = "" if self.route_type == NEXTHOP else ", route_type=CONNECTED"
        return f"StaticRoute('{self.destination}'{via}{kind})"


class Neighbor(NamedTuple):
    """A neighbor entry a sandbox added: ``link_name`` is its interface's ``src_name``,
    ``family`` 0 (ARP/NDP) or ``AF_BRIDGE`` (a forwarding entry)."""

    ip: Address
    mac: str
    link_name: str | None
    family: int


# --- checks of what a caller passes in -------------------------------------------------------


def check_prefix(prefix: str) -> str:
    """An interface name prefix: a non-empty string that makes a valid name with a number."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"interface name prefix {prefix!r} must be a non-empty string")
    _check_name(prefix + "0", "interface name prefix")
    return prefix


def check_mac(value: Any) -> str | None:
    """A MAC address in its canonical form, or None for None."""
    return None if value is None else _mac(value)


def iface_addr(value: Any, version: int, what: str) -> Any:
    """An address with its prefix length (``ip_interface``) of IP version *version*, or None
    for None; ``ValueError`` naming *what* it is for another version."""
    if value is None:
        return None
    iface = ip_interface(value)
    if iface.version != version:
        raise ValueError(f"{what} {value} is not an IPv{version} address")
    return iface


class Settings(NamedTuple):
    """What an interface is given in a sandbox, checked (``Settings.check``)."""

    address: Any
    address_ipv6: Any
    link_local_addresses: list
    routes: list
    mac_address: str | None
    master: str | None

    @classmethod
    def check(
        cls,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        routes: Iterable = (),
        mac_address: Any = None,
        master: str | None = None,
    ) -> Settings:
        """The settings of ``add_interface``'s keywords; ValueError saying what is wrong."""
        if master is not None:
            _check_name(master, "master")
        return cls(
            iface_addr(address, 4, "address"),
            iface_addr(address_ipv6, 6, "address_ipv6"),
            [ip_interface(a) for a in link_local_addresses],
            [ip_network(r) for r in routes],
            check_mac(mac_address),
            master,
        )
