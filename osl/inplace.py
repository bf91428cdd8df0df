"""Links osl creates in place, inside a sandbox, from the host's socket: a veth pair (one
end in the sandbox, its peer in the host), a macvlan or a vxlan on a host parent. Here:
their options checked, before anything is sent, and turned into the
:class:`~osl.plumbing.Making` the sandbox's plumbing sends (host links named here are
looked up then, on the host's socket, before the link is created). The new link's
``IFLA_NET_NS_FD`` puts it in the sandbox; its ``IFLA_LINK`` (a macvlan's lower device, a
vxlan's ``IFLA_VXLAN_LINK``) and a vxlan's UDP socket stay in the host, the namespace of
the socket that asks (rtnetlink.c, rtnl_newlink: the new device goes to the target
namespace, the lower device is looked up in the requester's).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.plumbing import Making, check_name
from osl.values import check_mac

__all__ = ["check_mtu", "macvlan", "veth", "vxlan"]


def check_mtu(mtu: Any, what: str) -> int | None:
    """``mtu`` if it is None or an int from 68 to 65535, else ``ValueError``."""
    if mtu is not None and (type(mtu) is not int or not 68 <= mtu <= 65535):
        raise ValueError(f"{what} {mtu!r} must be an int from 68 to 65535")
    return mtu


def _host_index(host: Client, name: str, what: str) -> int:
    return host.link(name, f"{what}: find {name} in the host").index


def veth(
    host_name: str,
    *,
    mtu: int | None,
    mac: str | None,
    master: str | None,
    up: bool,
) -> Making:
    """A veth pair whose host end ``host_name`` has ``mtu``, ``mac``, joins host bridge
    ``master`` and is up if ``up``."""
    check_name(host_name, "host interface name")
    mtu = check_mtu(mtu, "host_mtu")
    mac = check_mac(mac)
    if master is not None:
        check_name(master, "host_master")
    # With a master the host end comes up once enslaved, not before (a bridge port is
    # brought up after it joins, as ``ip link set master`` + ``up`` do).
    up_now = bool(up) and master is None

    def request(name: str, netns_fd: int, host: Client) -> Any:
        return R.new_veth(host_name, name, peer_netns_fd=netns_fd, mtu=mtu, address=mac, up=up_now)

    return Making(request, master, bool(up), names_peer=True)


def macvlan(parent: str, *, mode: str, mtu: int | None) -> Making:
    """A macvlan on host interface ``parent``, in ``mode``."""
    check_name(parent, "parent")
    if mode not in R.MACVLAN_MODES:
        raise ValueError(f"macvlan mode {mode!r} is not one of {sorted(R.MACVLAN_MODES)}")
    mtu = check_mtu(mtu, "mtu")

    def request(name: str, netns_fd: int, host: Client) -> Any:
        index = _host_index(host, parent, f"add macvlan on {parent}")
        return R.new_macvlan(name, index, mode, netns_fd=netns_fd, mtu=mtu)

    return Making(request)


def vxlan(
    vni: int,
    *,
    parent: str | None,
    local: Any,
    remote: Any,
    group: Any,
    port: int,
    learning: bool,
    mtu: int | None,
) -> Making:
    """A vxlan of id ``vni``; its UDP socket on ``port`` in the host, bound to ``local``,
    sending to ``remote`` (unicast) or ``group`` (multicast), over ``parent`` if given."""
    if type(vni) is not int or not 0 <= vni < (1 << 24):
        raise ValueError(f"vxlan id {vni!r} must be an int that fits 24 bits")
    if type(port) is not int or not 0 < port < 65536:
        raise ValueError(f"vxlan port {port!r} must be an int from 1 to 65535")
    if remote is not None and group is not None:
        raise ValueError("give a vxlan remote or a group, not both")
    local = None if local is None else ip_address(local)
    peer = None
    if remote is not None:
        peer = ip_address(remote)
        if peer.is_multicast:
            raise ValueError(f"vxlan remote {peer} is a multicast address: give it as group")
    elif group is not None:
        peer = ip_address(group)
        if not peer.is_multicast:
            raise ValueError(f"vxlan group {peer} is not a multicast address: give it as remote")
    if local is not None and peer is not None and local.version != peer.version:
        raise ValueError(f"vxlan local {local} and {peer} are not of one IP version")
    mtu = check_mtu(mtu, "mtu")
    if parent is not None:
        check_name(parent, "parent")

    def request(name: str, netns_fd: int, host: Client) -> Any:
        index = None if parent is None else _host_index(host, parent, f"add vxlan {vni}")
        return R.new_vxlan(
            name,
            vni,
            port=port,
            local=local,
            group=peer,  # IFLA_VXLAN_GROUP(6) holds a unicast remote too (if_link.h)
            parent=index,
            learning=bool(learning),
            netns_fd=netns_fd,
            mtu=mtu,
        )

    return Making(request)
