"""Kernel state in iproute2's words, for the ``osl`` command: routes as ``ip route`` prints
them and as ``ip -j route`` gives them, addresses and neighbors the same way.

Each ``*_fields`` function gives the fields ``ip -j`` gives, in its order and under its
keys (a field ``ip`` leaves out is left out); each ``*_line`` joins them as ``ip`` prints
them. Interfaces are named through ``names`` (index -> name), as ``ip`` names them.
"""

from __future__ import annotations

from typing import Any

from osl.netlink import consts as C

__all__ = [
    "address_fields",
    "address_line",
    "fdb_fields",
    "fdb_line",
    "neighbor_fields",
    "neighbor_line",
    "route_fields",
]
__all__ += ["brief_address_line", "event_fields", "event_line", "link_fields", "link_line"]
__all__ += ["link_maps", "operstate", "route_line", "shown_by_ip"]

#: /etc/iproute2/rt_protos as Debian's iproute2 6.1 ships it (``ip`` prints a number
#: for any other); 220 is osl's own (the library's RTPROT_OSL), printed by ``ip`` as 220
PROTOCOLS = {
    0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra",
    10: "mrt", 11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp",
    18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf",
    189: "rip", 192: "eigrp",
}  # fmt: skip
_ROUTE_FLAGS = [
    (C.RTNH_F_DEAD, "dead"),
    (C.RTNH_F_ONLINK, "onlink"),
    (C.RTNH_F_PERVASIVE, "pervasive"),
    (C.RTNH_F_OFFLOAD, "offload"),
    (C.RTNH_F_TRAP, "trap"),
    (C.RTNH_F_LINKDOWN, "linkdown"),
    (C.RTNH_F_UNRESOLVED, "unresolved"),
]
#: RTA_PREF (ICMPV6_ROUTER_PREF_*, linux/icmpv6.h)
_PREFS = {0: "medium", 1: "high", 3: "low"}
_MAX_PREFIX = {C.AF_INET: 32, C.AF_INET6: 128}


#: the IFF_* flags in the order ``ip`` prints them (iproute2, ipaddress.c, print_link_flags)
_LINK_FLAGS = [
    (C.IFF_LOOPBACK, "LOOPBACK"),
    (C.IFF_BROADCAST, "BROADCAST"),
    (C.IFF_POINTOPOINT, "POINTOPOINT"),
    (C.IFF_MULTICAST, "MULTICAST"),
    (C.IFF_NOARP, "NOARP"),
    (C.IFF_ALLMULTI, "ALLMULTI"),
    (C.IFF_PROMISC, "PROMISC"),
    (C.IFF_MASTER, "MASTER"),
    (C.IFF_SLAVE, "SLAVE"),
    (C.IFF_DEBUG, "DEBUG"),
    (C.IFF_DYNAMIC, "DYNAMIC"),
    (C.IFF_AUTOMEDIA, "AUTOMEDIA"),
    (C.IFF_PORTSEL, "PORTSEL"),
    (C.IFF_NOTRAILERS, "NOTRAILERS"),
    (C.IFF_UP, "UP"),
    (C.IFF_LOWER_UP, "LOWER_UP"),
    (C.IFF_DORMANT, "DORMANT"),
    (C.IFF_ECHO, "ECHO"),
]
#: IFLA_OPERSTATE in ``ip``'s words (RFC 2863; linux/if.h IF_OPER_*)
OPERSTATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"]


def link_maps(links: Any) -> tuple[dict, dict]:
    """From a namespace's links: index -> name (how ``ip`` names an interface) and
    index -> ifi_flags (for ``M-DOWN``)."""
    links = list(links)
    return {m.index: m.get("ifname") for m in links}, {m.index: m.ifi_flags for m in links}


def _name(names: dict, index: Any) -> str:
    return names.get(index, f"if{index}")


def _prefix(addr: Any, length: int, family: int) -> str:
    """``ip``'s way: a host prefix without its length."""
    return str(addr) if length == _MAX_PREFIX.get(family) else f"{addr}/{length}"


def route_fields(msg: Any, names: dict, all_tables: bool = False) -> dict:
    """What ``ip -j route`` gives for one route; the table is named only when routes of
    all tables are listed (``ip route show table all``), as ``ip`` does. (Multipath
    routes' ``nexthops`` are not rendered.)"""
    out: dict = {}
    if msg.rtm_type != C.RTN_UNICAST:
        out["type"] = C.RTN_NAMES.get(msg.rtm_type, str(msg.rtm_type))
    dst = msg.get("dst")
    if dst is None and msg.dst_len == 0:
        out["dst"] = "default"
    else:
        out["dst"] = _prefix(dst, msg.dst_len, msg.family)
    gateway = msg.get("gateway")
    if gateway is not None:
        out["gateway"] = str(gateway)
    oif = msg.get("oif")
    if oif is not None:
        out["dev"] = _name(names, oif)
    table = msg.table_id
    if all_tables and table != C.RT_TABLE_MAIN:
        out["table"] = C.TABLE_NAMES.get(table, str(table))
    if msg.protocol != C.RTPROT_BOOT:
        out["protocol"] = PROTOCOLS.get(msg.protocol, str(msg.protocol))
    if msg.scope != C.RT_SCOPE_UNIVERSE:
        out["scope"] = C.SCOPE_NAMES.get(msg.scope, str(msg.scope))
    prefsrc = msg.get("prefsrc")
    if prefsrc is not None:
        out["prefsrc"] = str(prefsrc)
    priority = msg.get("priority")
    if priority is not None:
        out["metric"] = priority
    out["flags"] = [word for bit, word in _ROUTE_FLAGS if msg.rtm_flags & bit]
    pref = msg.get("pref")
    if pref is not None:
        out["pref"] = _PREFS.get(pref, str(pref))
    return out


def route_line(fields: dict) -> str:
    """One ``ip route`` line from :func:`route_fields`."""
    words = [fields["type"]] if "type" in fields else []
    words.append(fields["dst"])
    for key, word in (
        ("gateway", "via"),
        ("dev", "dev"),
        ("table", "table"),
        ("protocol", "proto"),
        ("scope", "scope"),
        ("prefsrc", "src"),
        ("metric", "metric"),
    ):
        if key in fields:
            words += [word, str(fields[key])]
    words += fields["flags"]
    if "pref" in fields:
        words += ["pref", fields["pref"]]
    return " ".join(words)


def address_fields(msg: Any, names: dict) -> dict:
    """One address as ``ip -j addr`` gives it inside its interface's ``addr_info``, with
    the interface's name as ``dev``."""
    local = msg.get("local") or msg.get("address")
    out = {
        "dev": _name(names, msg.index),
        "family": "inet" if msg.family == C.AF_INET else "inet6",
        "local": str(local),
        "prefixlen": msg.prefixlen,
        # an address's scope 0 is "global" in ip's words (a route's is "universe")
        "scope": "global" if msg.scope == 0 else C.SCOPE_NAMES.get(msg.scope, str(msg.scope)),
    }
    label = msg.get("label")
    if label is not None:
        out["label"] = label
    return out


def address_line(fields: dict) -> str:
    """``ip -o addr``'s words: ``eth0 inet 192.0.2.10/24 scope global``."""
    return (
        f"{fields['dev']} {fields['family']} {fields['local']}/{fields['prefixlen']}"
        f" scope {fields['scope']}"
    )


def neighbor_fields(msg: Any, names: dict) -> dict:
    """What ``ip -j neigh`` gives for one entry (an FDB entry: ``fdb_fields``)."""
    if msg.family == C.AF_BRIDGE:
        return fdb_fields(msg, names)
    lladdr, dst = msg.get("lladdr"), msg.get("dst")
    out = {"dst": str(dst), "dev": _name(names, msg.index)}
    if lladdr is not None:
        out["lladdr"] = lladdr
    out["state"] = [word.upper() for word in _states(msg.state)]  # as ip -j neigh
    protocol = msg.get("protocol")
    if protocol:
        out["protocol"] = PROTOCOLS.get(protocol, str(protocol))
    return out


# bridge fdb's flag words, in its order (iproute2, bridge/fdb.c: print_fdb_flags)
_FDB_FLAGS = (
    (C.NTF_SELF, "self"),
    (C.NTF_ROUTER, "router"),
    (C.NTF_EXT_LEARNED, "extern_learn"),
    (C.NTF_OFFLOADED, "offload"),
    (C.NTF_MASTER, "master"),
    (C.NTF_STICKY, "sticky"),
)


def _fdb_state(state: int) -> str:
    """bridge fdb's word for an entry's state (bridge/fdb.c: state_n2a)."""
    if state & C.NUD_PERMANENT:
        return "permanent"
    if state & C.NUD_NOARP:
        return "static"
    if state & C.NUD_STALE:
        return "stale"
    if state & C.NUD_REACHABLE:
        return ""
    return f"{state:#x}"


def fdb_fields(msg: Any, names: dict) -> dict:
    """What ``bridge -j fdb show`` gives for one forwarding entry: ``mac``, ``ifname``,
    ``dst``, ``vlan``, ``port``, ``vni``, ``linkNetNsId``, ``flags``, ``master``,
    ``state``."""
    out: dict = {"mac": msg.get("lladdr")}
    if msg.index:
        out["ifname"] = _name(names, msg.index)
    for key in ("dst", "vlan", "port", "vni"):
        value = msg.get(key)
        if value is not None:
            out[key] = str(value) if key == "dst" else value
    netnsid = msg.get("link_netnsid")
    if netnsid is not None:
        out["linkNetNsId"] = netnsid
    out["flags"] = [word for bit, word in _FDB_FLAGS if msg.ndm_flags & bit]
    master = msg.get("master")
    if master is not None:
        out["master"] = _name(names, master)
    out["state"] = _fdb_state(msg.state)
    return out


def fdb_line(fields: dict) -> str:
    """``bridge fdb show``'s words for one entry."""
    words = [fields["mac"]]
    if "ifname" in fields:
        words += ["dev", fields["ifname"]]
    for key in ("dst", "vlan", "port", "vni"):
        if key in fields:
            words += [key, str(fields[key])]
    if "linkNetNsId" in fields:
        words += ["link-netnsid", str(fields["linkNetNsId"])]
    words += fields["flags"]
    if "master" in fields:
        words += ["master", fields["master"]]
    if fields["state"]:
        words.append(
            fields["state"] if fields["state"][0].isalpha() else f"state {fields['state']}"
        )
    return " ".join(words)


def _states(state: int) -> list:
    return [C.NUD_NAMES[bit] for bit in sorted(C.NUD_NAMES) if state & bit]


def shown_by_ip(msg: Any) -> bool:
    """Whether ``ip neigh`` (without ``nud all``) shows an entry: one with a state bit
    other than NOARP, or a proxy or externally learned one (iproute2, ipneigh.c: the
    default filter's state mask is every state but NOARP)."""
    if msg.state & 0xFF & ~C.NUD_NOARP:
        return True
    return bool(msg.ndm_flags & (C.NTF_PROXY | C.NTF_EXT_LEARNED))


def neighbor_line(fields: dict) -> str:
    """``ip neigh``'s (or ``bridge fdb``'s) words for one entry."""
    if "mac" in fields:
        return fdb_line(fields)
    words = [fields["dst"], "dev", fields["dev"]]
    if "lladdr" in fields:
        words += ["lladdr", fields["lladdr"]]
    words += fields["state"]
    if "protocol" in fields:
        words += ["proto", fields["protocol"]]
    return " ".join(words)


def operstate(msg: Any) -> str:
    """A link's IFLA_OPERSTATE in ``ip``'s words (UNKNOWN for a value it has no word for)."""
    state = msg.get("operstate")
    return OPERSTATES[state] if isinstance(state, int) and state < len(OPERSTATES) else "UNKNOWN"


def link_fields(msg: Any, names: dict, flags_of: dict) -> dict:
    """What ``ip -j link`` gives for one link, the fields ``ip -br link`` prints among them
    (``flags_of``: index -> ifi_flags of the namespace's links, for ``M-DOWN``)."""
    out: dict = {"ifindex": msg.index}
    peer, peer_ns = msg.get("link"), msg.get("link_netnsid")
    if peer is not None and peer_ns is None and peer != msg.index:
        out["link"] = _name(names, peer)
    elif peer is not None and peer_ns is not None:
        out["link_index"] = peer
    out["ifname"] = msg.get("ifname")
    flags = msg.ifi_flags
    words = ["NO-CARRIER"] if flags & C.IFF_UP and not flags & C.IFF_RUNNING else []
    words += [word for bit, word in _LINK_FLAGS if flags & bit]
    if "link" in out and not flags_of.get(peer, C.IFF_UP) & C.IFF_UP:
        words.append("M-DOWN")  # its lower (or peer) device is down
    out["flags"] = words
    out["mtu"] = msg.get("mtu")
    out["operstate"] = operstate(msg)
    out["address"] = msg.get("address")
    return out


def _brief_name(fields: dict) -> str:
    if "link" in fields:
        return f"{fields['ifname']}@{fields['link']}"
    if "link_index" in fields:
        return f"{fields['ifname']}@if{fields['link_index']}"
    return fields["ifname"]


def link_line(fields: dict) -> str:
    """``ip -br link``'s words: ``eth0@if5 UP 02:42:c0:00:02:0a <BROADCAST,...>``."""
    words = [fields["address"]] if fields.get("address") else []
    return _brief(fields) + " ".join([*words, "<" + ",".join(fields["flags"]) + ">"])


def _brief(link: dict) -> str:
    """The name and operstate columns of ``ip -br``, as wide as ``ip`` makes them."""
    return f"{_brief_name(link):<16} {link['operstate']:<14} "


def brief_address_line(link: dict, addresses: list) -> str:
    """``ip -br addr``'s words for one link: its name, operstate and addresses."""
    return _brief(link) + " ".join(f"{a['local']}/{a['prefixlen']}" for a in addresses)


#: event kind by message type, and its tag in ``ip monitor``'s words
_EVENTS = {
    C.RTM_NEWLINK: ("link", False),
    C.RTM_DELLINK: ("link", True),
    C.RTM_NEWADDR: ("address", False),
    C.RTM_DELADDR: ("address", True),
    C.RTM_NEWROUTE: ("route", False),
    C.RTM_DELROUTE: ("route", True),
    C.RTM_NEWNEIGH: ("neighbor", False),
    C.RTM_DELNEIGH: ("neighbor", True),
}
_TAGS = {"link": "[LINK]", "address": "[ADDR]", "route": "[ROUTE]", "neighbor": "[NEIGH]"}


def event_fields(msg: Any, names: dict, flags_of: dict) -> dict:
    """An rtnetlink event as ``ip -j monitor`` would give its object, with ``event`` (its
    kind) and ``deleted``; a message of another type gives its netlink name only."""
    kind, deleted = _EVENTS.get(msg.type, (None, False))
    out: dict = {"event": kind or "other", "deleted": deleted}
    if kind == "link":
        out.update(link_fields(msg, names, flags_of))
        master = msg.get("master")
        if master:
            out["master"] = _name(names, master)
    elif kind == "address":
        out.update(address_fields(msg, names))
        out["ifindex"] = msg.index
    elif kind == "route":
        out.update(route_fields(msg, names, all_tables=True))
    elif kind == "neighbor":
        out.update(neighbor_fields(msg, names))
    else:
        out["message"] = str(msg).split()[0]
    return out


def event_line(fields: dict) -> str:
    """One line in ``ip monitor``'s words: ``[ROUTE] Deleted 198.51.100.0/24 dev eth0 ...``."""
    kind = fields["event"]
    head = _TAGS.get(kind, "[OTHER]") + (" Deleted" if fields["deleted"] else "")
    if kind == "link":
        words = [f"{fields['ifindex']}: {_brief_name(fields)}:"]
        words.append("<" + ",".join(fields["flags"]) + ">")
        words += ["mtu", str(fields["mtu"])]
        if "master" in fields:
            words += ["master", fields["master"]]
        words += ["state", fields["operstate"]]
        if fields.get("address"):
            words += ["link/ether", fields["address"]]
        body = " ".join(words)
    elif kind == "address":
        body = f"{fields['ifindex']}: {address_line(fields)}"
    elif kind == "route":
        body = route_line(fields)
    elif kind == "neighbor":
        body = neighbor_line(fields)
    else:
        body = fields["message"]
    return f"{head} {body}"
