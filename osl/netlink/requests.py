"""Request builders: the rtnetlink messages for each change and query, sans I/O.

Each function checks its arguments and returns a message (or raises ValueError/TypeError
before anything is sent); ``Client`` sends them one at a time or pipelined in a batch.
Interfaces are given by index here; ``Client`` resolves names.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from socket import AF_INET, AF_INET6, inet_pton

from . import consts as C
from .addr import AddrMessage
from .link import LinkMessage
from .lladdr import mac
from .neigh import NeighMessage
from .nsid import NsidMessage
from .route import NextHop, RouteMessage

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Union

    Address = Union[str, IPv4Address, IPv6Address]

NEW = C.NLM_F_REQUEST | C.NLM_F_CREATE | C.NLM_F_EXCL
REPLACE = C.NLM_F_REQUEST | C.NLM_F_CREATE | C.NLM_F_REPLACE
IFNAMSIZ = C.IFNAMSIZ

NUD_STATES = {name: bit for bit, name in C.NUD_NAMES.items()}
RTN_TYPES = {name: value for value, name in C.RTN_NAMES.items()}
SCOPES = {name: value for value, name in C.SCOPE_NAMES.items()}


def check_ifname(name: str) -> str:
    """An interface name the kernel accepts: 1-15 bytes, no '/', ':' or whitespace."""
    if not isinstance(name, str):
        raise TypeError(f"an interface name is a str, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogateescape")
    if not raw or len(raw) >= IFNAMSIZ:
        raise ValueError(f"interface name {name!r} must be 1 to {IFNAMSIZ - 1} bytes long")
    if name in (".", "..") or any(c in name for c in "/:\0") or any(c.isspace() for c in name):
        raise ValueError(f"interface name {name!r} may not contain '/', ':', NUL or whitespace")
    return name


def check_index(index: int) -> int:
    if type(index) is not int or not 0 < index < (1 << 31):
        raise ValueError(f"bad interface index {index!r}")
    return index


def _family(addr: Any) -> int:
    return C.AF_INET if addr.version == 4 else C.AF_INET6


# --------------------------------------------------------------------------- links


def get_link(index: int = 0, name: str | None = None) -> LinkMessage:
    """RTM_GETLINK for one interface, by index or by name."""
    if name is not None:
        return LinkMessage(C.RTM_GETLINK, attrs={"ifname": check_ifname(name)})
    return LinkMessage(C.RTM_GETLINK, index=check_index(index))


def dump_links() -> LinkMessage:
    return LinkMessage(C.RTM_GETLINK)


def new_link(
    name: str,
    kind: str,
    data: Any = None,
    *,
    link: int | None = None,
    mtu: int | None = None,
    address: str | None = None,
    netns_fd: int | None = None,
    up: bool = False,
    alias: str | None = None,
    txqlen: int | None = None,
) -> LinkMessage:
    """RTM_NEWLINK creating a link of ``kind`` (veth, bridge, macvlan, vlan, vxlan, ...)."""
    info: dict = {"kind": kind}
    if data is not None:
        info["data"] = data
    return LinkMessage(
        C.RTM_NEWLINK,
        NEW,
        ifi_flags=C.IFF_UP if up else 0,
        change=C.IFF_UP if up else 0,
        attrs={
            "ifname": check_ifname(name),
            "link": link,
            "mtu": mtu,
            "address": address,
            "net_ns_fd": netns_fd,
            "ifalias": alias,
            "txqlen": txqlen,
            "linkinfo": info,
        },
    )


def new_veth(
    name: str,
    peer: str,
    *,
    netns_fd: int | None = None,
    peer_netns_fd: int | None = None,
    mtu: int | None = None,
    address: str | None = None,
    peer_mtu: int | None = None,
    peer_address: str | None = None,
    up: bool = False,
    txqlen: int | None = None,
) -> LinkMessage:
    """A veth pair ``name`` <-> ``peer``; the peer may be born in another namespace.
    ``peer_mtu`` defaults to ``mtu``; ``up`` brings ``name`` up at creation; ``txqlen``
    sets both ends' transmit queue length."""
    peer_msg = LinkMessage(
        attrs={
            "ifname": check_ifname(peer),
            "mtu": mtu if peer_mtu is None else peer_mtu,
            "address": None if peer_address is None else mac(peer_address),
            "net_ns_fd": peer_netns_fd,
            "txqlen": txqlen,
        },
    )
    return new_link(
        name,
        "veth",
        {"peer": peer_msg},
        mtu=mtu,
        address=None if address is None else mac(address),
        netns_fd=netns_fd,
        up=up,
        txqlen=txqlen,
    )


MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}


def new_macvlan(name: str, parent: int, mode: str = "bridge", **kw: Any) -> LinkMessage:
    if mode not in MACVLAN_MODES:
        raise ValueError(f"macvlan mode {mode!r} is not one of {sorted(MACVLAN_MODES)}")
    return new_link(name, "macvlan", {"mode": MACVLAN_MODES[mode]}, link=check_index(parent), **kw)


def new_vlan(name: str, parent: int, vlan_id: int, **kw: Any) -> LinkMessage:
    if type(vlan_id) is not int or not 0 < vlan_id < 4095:
        raise ValueError(f"vlan id {vlan_id!r} must be 1 to 4094")
    return new_link(name, "vlan", {"id": vlan_id}, link=check_index(parent), **kw)


def new_vxlan(
    name: str,
    vni: int,
    *,
    port: int = 4789,
    local: Address | None = None,
    group: Address | None = None,
    parent: int | None = None,
    learning: bool = True,
    **kw: Any,
) -> LinkMessage:
    if type(vni) is not int or not 0 <= vni < (1 << 24):
        raise ValueError(f"vxlan id {vni!r} must fit 24 bits")
    data: dict = {"id": vni, "port": port, "learning": int(learning)}
    for key, value in (("local", local), ("group", group)):
        if value is not None:
            addr = ip_address(value)
            data[key if addr.version == 4 else key + "6"] = addr
    if parent is not None:
        data["link"] = check_index(parent)
    return new_link(name, "vxlan", data, **kw)


def set_link(
    index: int,
    *,
    up: bool | None = None,
    name: str | None = None,
    mtu: int | None = None,
    address: str | None = None,
    master: int | None = None,
    netns_fd: int | None = None,
    alias: str | None = None,
    group: int | None = None,
    promisc: bool | None = None,
) -> LinkMessage:
    """RTM_NEWLINK changing an existing link; ``master=0`` detaches it from its master;
    ``group`` puts it in that link group (IFLA_GROUP); ``promisc`` turns promiscuous mode
    on or off (as ``ip link set promisc`` does)."""
    flags = change = 0
    for flag, on in ((C.IFF_UP, up), (C.IFF_PROMISC, promisc)):
        if on is not None:
            change |= flag
            flags |= flag if on else 0
    return LinkMessage(
        C.RTM_NEWLINK,
        C.NLM_F_REQUEST,
        index=check_index(index),
        ifi_flags=flags,
        change=change,
        attrs={
            "ifname": None if name is None else check_ifname(name),
            "mtu": mtu,
            "address": None if address is None else mac(address),
            "master": master,
            "net_ns_fd": netns_fd,
            "ifalias": alias,
            "group": None if group is None else check_group(group),
        },
    )


def set_bridge_port(index: int, **port: int) -> LinkMessage:
    """RTM_NEWLINK setting bridge-port options of a bridge's port (``mode=1``: hairpin;
    names of IFLA_BRPORT_*), as ``ip link set DEV type bridge_slave`` does."""
    return LinkMessage(
        C.RTM_NEWLINK,
        C.NLM_F_REQUEST,
        index=check_index(index),
        attrs={"linkinfo": {"slave_kind": "bridge", "slave_data": port}},
    )


def check_group(group: int) -> int:
    if type(group) is not int or not 0 <= group < (1 << 32):
        raise ValueError(f"link group {group!r} must be an int that fits 32 bits")
    return group


def del_link(index: int) -> LinkMessage:
    return LinkMessage(C.RTM_DELLINK, C.NLM_F_REQUEST, index=check_index(index))


def del_link_group(group: int) -> LinkMessage:
    """RTM_DELLINK of every link in ``group`` (index 0 and IFLA_GROUP): the kernel
    unregisters them together, one set of grace periods for all (rtnetlink.c,
    rtnl_group_dellink). Group 0 is every link's default: refused."""
    if check_group(group) == 0:
        raise ValueError("link group 0 holds every link that was given no group")
    return LinkMessage(C.RTM_DELLINK, C.NLM_F_REQUEST, attrs={"group": group})


# --------------------------------------------------------------------------- addresses


def _interface(address: Any) -> IPv4Interface | IPv6Interface:
    """``address`` as an interface address; one already parsed is taken as it is
    (``ip_interface`` would print and parse it again)."""
    if isinstance(address, (IPv4Interface, IPv6Interface)):
        return address
    return ip_interface(address)


def new_addr(
    index: int,
    address: Any,
    *,
    nodad: bool = False,
    flags: int = 0,
    scope: int | None = None,
    label: str | None = None,
    broadcast: Address | None = None,
    replace: bool = False,
    proto: int | None = None,
) -> AddrMessage:
    """RTM_NEWADDR: ``address`` is an interface address like ``"192.0.2.10/24"``."""
    iface = _interface(address)
    flags |= C.IFA_F_NODAD if nodad else 0
    return AddrMessage(
        C.RTM_NEWADDR,
        REPLACE if replace else NEW,
        family=_family(iface),
        prefixlen=iface.network.prefixlen,
        ifa_flags=flags & 0xFF,
        scope=C.RT_SCOPE_UNIVERSE if scope is None else scope,
        index=check_index(index),
        attrs={
            "local": iface.ip if iface.version == 4 else None,
            "address": iface.ip,
            "label": label,
            "broadcast": None if broadcast is None else ip_address(broadcast),
            "flags": flags if flags > 0xFF or nodad else None,
            "proto": proto,
        },
    )


def del_addr(index: int, address: Any) -> AddrMessage:
    iface = _interface(address)
    return AddrMessage(
        C.RTM_DELADDR,
        C.NLM_F_REQUEST,
        family=_family(iface),
        prefixlen=iface.network.prefixlen,
        index=check_index(index),
        attrs={"local": iface.ip if iface.version == 4 else None, "address": iface.ip},
    )


def dump_addrs(family: int = C.AF_UNSPEC, index: int = 0) -> AddrMessage:
    """RTM_GETADDR dump; with strict checking the kernel filters by ``index``."""
    return AddrMessage(C.RTM_GETADDR, family=family, index=index)


# --------------------------------------------------------------------------- routes


def route(
    dst: Any,
    *,
    gateway: Address | None = None,
    oif: int | None = None,
    table: int = C.RT_TABLE_MAIN,
    metric: int | None = None,
    scope: int | None = None,
    prefsrc: Address | None = None,
    protocol: int = C.RTPROT_BOOT,
    rtm_type: int | str | None = None,
    multipath: list | None = None,
    msg_type: int = C.RTM_NEWROUTE,
    flags: int = NEW,
) -> RouteMessage:
    """An RTM_NEWROUTE (or DELROUTE) for ``dst`` (a network like ``"198.51.100.0/24"`` or
    ``"default"``). ``multipath`` is a list of ``(gateway, oif[, weight])``. ``rtm_type``
    defaults to unicast for an add; a delete without one matches a route of any type (as
    ``ip route del`` does: the kernel only compares the type when it is given)."""
    if rtm_type is None:
        rtm_type = C.RTN_UNSPEC if msg_type == C.RTM_DELROUTE else C.RTN_UNICAST
    elif isinstance(rtm_type, str):
        if rtm_type not in RTN_TYPES:
            raise ValueError(f"route type {rtm_type!r} is not one of {sorted(RTN_TYPES)}")
        rtm_type = RTN_TYPES[rtm_type]
    # addresses stay packed (4 or 16 bytes), as the attributes carry them
    net, prefixlen = _network(dst, gateway)
    gw = None if gateway is None else _packed(gateway)
    if gw is not None and len(gw) != len(net):
        raise ValueError(f"gateway {gateway} is not of the family of {dst}")
    hops = None
    if multipath:
        hops = []
        for hop in multipath:
            hop_gw, hop_oif, *weight = hop
            hop_packed = _packed(hop_gw)
            if len(hop_packed) != len(net):
                raise ValueError(f"nexthop {hop_gw} is not of the family of {dst}")
            w = weight[0] if weight else 1
            if type(w) is not int or not 1 <= w <= 256:
                raise ValueError(f"nexthop weight {w!r} must be 1 to 256")
            hops.append(NextHop(0, w - 1, check_index(hop_oif), {"gateway": hop_packed}))
    if scope is None:
        if rtm_type == C.RTN_LOCAL:
            scope = C.RT_SCOPE_HOST
        elif gw is None and not hops and rtm_type == C.RTN_UNICAST and oif is not None:
            scope = C.RT_SCOPE_LINK
        else:
            scope = C.RT_SCOPE_UNIVERSE
    if msg_type == C.RTM_DELROUTE:
        scope = C.RT_SCOPE_NOWHERE if scope == C.RT_SCOPE_UNIVERSE and gw is None else scope
    attrs = [("dst", net)] if prefixlen else []  # the bulk case: only what is given
    if gw is not None:
        attrs.append(("gateway", gw))
    if oif is not None:
        attrs.append(("oif", check_index(oif)))
    if metric is not None:
        attrs.append(("priority", metric))
    if prefsrc is not None:
        attrs.append(("prefsrc", _packed(prefsrc)))
    attrs.append(("table", table))
    if hops is not None:
        attrs.append(("multipath", hops))
    return RouteMessage.make(
        msg_type,
        flags,
        (
            C.AF_INET if len(net) == 4 else C.AF_INET6,
            prefixlen,
            0,
            0,
            table if table < 256 else C.RT_TABLE_UNSPEC,
            protocol if msg_type == C.RTM_NEWROUTE else C.RTPROT_UNSPEC,
            scope,
            rtm_type,
            0,
        ),
        attrs,
    )


def _network(dst: Any, gateway: Any = None) -> tuple[bytes, int]:
    """``(packed network address, prefix length)`` of a destination: a network, its text, or
    ``"default"`` (of the gateway's family)."""
    if dst is None or dst == "default":
        return bytes(4 if gateway is None else len(_packed(gateway))), 0
    kind = type(dst)
    if kind is str:
        # ipaddress parses text in Python; inet_pton does it in C (strict, as ip_network)
        text, slash, plen = dst.partition("/")
        try:
            packed = inet_pton(AF_INET6 if ":" in text else AF_INET, text)
        except (OSError, ValueError):
            packed = None
        if packed is not None:
            bits = len(packed) * 8
            if not slash:
                return packed, bits
            if plen.isascii() and plen.isdigit():
                prefixlen = int(plen)
                if prefixlen == bits or (
                    prefixlen < bits
                    and not int.from_bytes(packed, "big") & ((1 << (bits - prefixlen)) - 1)
                ):
                    return packed, prefixlen
    elif kind is IPv4Network or kind is IPv6Network:
        return dst.network_address.packed, dst.prefixlen
    net = ip_network(dst)  # raises its own clear ValueError for bad input
    return net.network_address.packed, net.prefixlen


def _packed(value: Any) -> bytes:
    """An IP address (text or ``ipaddress`` object) as 4 or 16 bytes; ValueError if not one."""
    kind = type(value)
    if kind is str:
        if "%" not in value:  # a scoped IPv6 address: ip_address knows the syntax
            try:
                return inet_pton(AF_INET6 if ":" in value else AF_INET, value)
            except (OSError, ValueError):
                pass
    elif kind is IPv4Address or kind is IPv6Address:
        return value.packed
    return ip_address(value).packed


_ADDR_SIZE = {C.AF_INET: 4, C.AF_INET6: 16}


def del_route(dst: Any, **kw: Any) -> RouteMessage:
    return route(dst, msg_type=C.RTM_DELROUTE, flags=C.NLM_F_REQUEST, **kw)


def get_route(dst: Address, *, oif: int | None = None) -> RouteMessage:
    """RTM_GETROUTE: the kernel's route lookup for one destination address."""
    addr = ip_address(dst)
    return RouteMessage(
        C.RTM_GETROUTE,
        C.NLM_F_REQUEST,
        family=_family(addr),
        dst_len=addr.max_prefixlen,
        table=C.RT_TABLE_UNSPEC,
        protocol=C.RTPROT_UNSPEC,
        rtm_type=C.RTN_UNSPEC,
        attrs={"dst": addr, "oif": oif},
    )


def dump_routes(family: int = C.AF_UNSPEC, table: int = 0) -> RouteMessage:
    """RTM_GETROUTE dump; with strict checking the kernel filters by ``table``."""
    return RouteMessage(
        C.RTM_GETROUTE,
        family=family,
        table=table if table < 256 else C.RT_TABLE_UNSPEC,
        protocol=C.RTPROT_UNSPEC,
        rtm_type=C.RTN_UNSPEC,
        attrs={"table": table} if table >= 256 else None,
    )


# --------------------------------------------------------------------------- neighbors


def neigh(
    index: int,
    dst: Address | None = None,
    lladdr: str | None = None,
    *,
    family: int | None = None,
    state: int | str = C.NUD_PERMANENT,
    ndm_flags: int = 0,
    vni: int | None = None,
    master: int | None = None,
    protocol: int | None = None,
    msg_type: int = C.RTM_NEWNEIGH,
    flags: int = NEW,
) -> NeighMessage:
    """RTM_NEWNEIGH (or DELNEIGH): an ARP/NDP entry (family from ``dst``), or with
    ``family=AF_BRIDGE`` a forwarding database entry (``ndm_flags`` NTF_SELF or NTF_MASTER)."""
    if isinstance(state, str):
        if state not in NUD_STATES:
            raise ValueError(f"neighbor state {state!r} is not one of {sorted(NUD_STATES)}")
        state = NUD_STATES[state]
    addr = None if dst is None else _packed(dst)
    if family is None:
        if addr is None:
            raise ValueError("a neighbor entry needs an IP address, or family=AF_BRIDGE")
        family = C.AF_INET if len(addr) == 4 else C.AF_INET6
    elif family in _ADDR_SIZE and (addr is None or len(addr) != _ADDR_SIZE[family]):
        raise ValueError(f"{dst} is not an address of family {family}")
    if family == C.AF_BRIDGE and lladdr is None:
        raise ValueError("a bridge forwarding entry needs a MAC address")
    return NeighMessage.make(
        msg_type,
        flags,
        (family, check_index(index), state, ndm_flags, 0),
        [
            ("dst", addr),
            ("lladdr", lladdr),  # checked by the attribute's kind
            ("vni", vni),
            ("master", master),
            ("protocol", protocol),
        ],
    )


def del_neigh(
    index: int, dst: Address | None = None, lladdr: str | None = None, **kw: Any
) -> NeighMessage:
    return neigh(index, dst, lladdr, msg_type=C.RTM_DELNEIGH, flags=C.NLM_F_REQUEST, **kw)


def dump_neighs(family: int = C.AF_UNSPEC, index: int = 0) -> NeighMessage:
    """RTM_GETNEIGH dump; with strict checking the kernel filters by ``index``."""
    return NeighMessage(C.RTM_GETNEIGH, family=family, attrs={"ifindex": index} if index else None)


# --------------------------------------------------------------------------- namespace ids


def get_nsid(netns_fd: int) -> NsidMessage:
    """RTM_GETNSID: the id this namespace gives the namespace open as ``netns_fd``."""
    if type(netns_fd) is not int or netns_fd < 0:
        raise ValueError(f"bad namespace fd {netns_fd!r}")
    return NsidMessage(C.RTM_GETNSID, attrs={"fd": netns_fd})
