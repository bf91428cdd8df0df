"""The record a sandbox keeps in the kernel: what ``open_sandbox`` rebuilds from, and the
intent of a change in progress, so that a later process can finish or undo it.

Each interface a sandbox took in carries its record in its alias (``IFLA_IFALIAS``, at most
255 bytes: ``IFALIASZ`` in <linux/if.h>): ``osl`` + JSON. ``lo``'s alias holds the sandbox's
name counter. A record is written in the same request as the change it describes, or before
it, never after: the kernel applies one request whole or not at all, whatever happens to the
process that sent it.

Records are read back from a kernel that anything with CAP_NET_ADMIN in the namespace can
write to: they are untrusted input, and :func:`parse` refuses what is not well formed.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable
from ipaddress import ip_interface, ip_network
from typing import Any, NamedTuple

from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.lladdr import mac

TAG = "osl"
#: rtm_protocol / IFA_PROTO / NDA_PROTOCOL of what a sandbox installs (an unassigned number)
RTPROT_OSL = 0xDC
#: lo's index, the same in every network namespace: registered first in each, and the
#: kernel insists (drivers/net/loopback.c, loopback_net_init: BUG_ON(dev->ifindex !=
#: LOOPBACK_IFINDEX), include/net/net_namespace.h)
LO_INDEX = 1
#: the longest alias the kernel keeps (IFALIASZ - 1)
ALIAS_MAX = 255

#: what an interface's record says of it
DONE, ADDING, REMOVING = None, "add", "rm"


#: the kinds of link osl creates in a sandbox in place (``made`` in a record)
MADE_KINDS = ("veth", "macvlan", "vxlan")


class Record(NamedTuple):
    """An interface's record. ``op`` is ``None`` for an interface that is all set up, or the
    change in progress (``"add"``, ``"rm"``) by process ``pid``, with what undoing an add
    needs: the counter value the add took (``n``), the MAC and up state it had in the host.
    ``made``: the kind of a link osl created in the sandbox (a veth whose peer, ``src``, is
    in the host; a macvlan or vxlan, ``src`` its own name), None for one moved in; a bridge
    says ``bridge``."""

    src: str
    bridge: bool = False
    master: str | None = None
    op: str | None = DONE
    pid: int = 0
    n: int | None = None
    mac0: str | None = None
    up0: bool = False
    made: str | None = None

    @property
    def created(self) -> bool:
        """Whether osl created the link in the sandbox (deleted, never moved, to undo it)."""
        return self.bridge or self.made is not None

    def alias(self) -> str:
        """The alias text of this record (``ValueError`` if it would not fit)."""
        fields: dict[str, Any] = {"src": self.src, "bridge": self.bridge, "master": self.master}
        if self.made is not None:
            fields["made"] = self.made
        if self.op is not None:
            fields.update(op=self.op, pid=self.pid, n=self.n, mac0=self.mac0, up0=self.up0)
        text = TAG + json.dumps(fields, separators=(",", ":"))
        if len(text.encode()) > ALIAS_MAX:
            raise ValueError(f"the record of {self.src} does not fit an alias: {text!r}")
        return text

    def doing(self, op: str, **fields: Any) -> Record:
        """This record with a change in progress by this process."""
        return self._replace(op=op, pid=os.getpid(), **fields)


#: a link osl creates is born under ``osl~<pid in hex>-<number>``: its name is its record
#: until its alias can be written (the kernel applies no alias at creation)
MAKING = "osl~"
_made = itertools.count()


def making_name() -> str:
    """The name a link is created under by this process."""
    return f"{MAKING}{os.getpid():x}-{next(_made) % 1000}"


def maker(name: str | None) -> int | None:
    """The process that is creating a link so named, or None for any other name."""
    if not name or not name.startswith(MAKING):
        return None
    pid, sep, seq = name[len(MAKING) :].partition("-")
    try:
        return int(pid, 16) if sep and seq.isdigit() else None
    except ValueError:
        return None


def is_ours(alias: str | None) -> bool:
    """Whether an alias is an osl record (well formed or not)."""
    return bool(alias) and alias.startswith(TAG + "{")


def _fields(alias: str) -> dict:
    try:
        fields = json.loads(alias[len(TAG) :])
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - malformed input, not a bug
    return fields


def _name(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")  # noqa: TRY004 - malformed input
    if "%" in value:
        raise ValueError(f"{what} {value!r} is a name template")
    R.check_ifname(value)
    return value


def _int(value: Any, what: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} is not a number >= 0")
    return value


def _bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"{what} is not true or false")
    return value


def parse(alias: str) -> Record:
    """The record in an interface's alias; ``ValueError`` saying what is wrong with it."""
    fields = _fields(alias)
    op = fields.get("op")
    if op not in (DONE, ADDING, REMOVING):
        raise ValueError(f"op {op!r} is none of add, rm")
    mac0 = fields.get("mac0")
    if mac0 is not None and not _is_mac(mac0):
        raise ValueError("mac0 is not a MAC address")
    made = fields.get("made")
    if made is not None and made not in MADE_KINDS:
        raise ValueError(f"made {made!r} is none of {', '.join(MADE_KINDS)}")
    bridge = _bool(fields.get("bridge", False), "bridge")
    if made is not None and bridge:
        raise ValueError("a record says bridge and made both")
    return Record(
        src=_name(fields.get("src"), "src"),
        bridge=bridge,
        master=_name(fields.get("master"), "master", optional=True),
        op=op,
        pid=_int(fields.get("pid", 0), "pid"),
        n=_int(fields.get("n"), "n", optional=True),
        mac0=mac0,
        up0=_bool(fields.get("up0", False), "up0"),
        made=made,
    )


def _is_mac(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        mac(value)
    except ValueError:
        return False
    return True


def counter_alias(next_index: int) -> str:
    """``lo``'s alias: the sandbox's next interface number."""
    return TAG + json.dumps({"next": next_index}, separators=(",", ":"))


def parse_counter(alias: str) -> int:
    """The next interface number in ``lo``'s alias. An older osl kept one counter per
    prefix (``{"next": {"eth": 2}}``): their largest is a number no interface has."""
    value = _fields(alias).get("next")
    if isinstance(value, dict):
        if not value:
            return 0
        return max(_int(v, "a name counter") or 0 for v in value.values())
    return _int(value, "next") or 0


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running (so a change it has in progress is not over)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - there, but not ours to signal
        return True
    return True


# --- reading the record back ----------------------------------------------------------------


class Recorded(NamedTuple):
    """An interface whose record says it is all set up."""

    index: int
    name: str
    record: Record
    mac: str | None
    link: Any  # the link as dumped


def link_anchor(link: Any) -> tuple[str | None, int | None]:
    """A link's kind (None for a physical device) and the namespace id its other end lives
    in (IFLA_LINK_NETNSID: a veth's peer, a vxlan's socket; None when that is here)."""
    info = link.get("linkinfo")
    return (info.get("kind") if info is not None else None), link.get("link_netnsid")


class LinkScan(NamedTuple):
    """What a sandbox's links say: its interfaces, its name counter, what dead processes
    left half done (``unsettled``: links with their records; ``unborn``: links created and
    never named), whether ``lo`` is down, and what could not be read (as sentences)."""

    recorded: list
    counter: int | None
    unsettled: list
    unborn: list
    lo_down: bool
    problems: list


def scan_links(links: Iterable[Any]) -> LinkScan:
    """Read the records in a dump of a sandbox's links (RTM_NEWLINK messages)."""
    recorded: list[Recorded] = []
    counter = None
    unsettled: list = []
    unborn: list = []
    lo_down = False
    problems: list[str] = []
    for link in links:
        name = link.get("ifname")
        loopback = bool(link.ifi_flags & C.IFF_LOOPBACK)
        if loopback:
            lo_down = not link.ifi_flags & C.IFF_UP
        alias = link.get("ifalias")
        pid = maker(name)
        if pid is not None and not alive(pid) and not is_ours(alias):
            unborn.append(link)
            continue
        if not is_ours(alias):
            continue
        if loopback:
            try:
                counter = parse_counter(alias)
            except ValueError as e:
                problems.append(
                    f"{name}: the name counter is malformed ({e}); names in use skipped"
                )
            continue
        try:
            rec = parse(alias)
        except ValueError as e:
            problems.append(f"{name}: a malformed record was skipped ({e})")
            continue
        if rec.op is not None:
            if alive(rec.pid):
                problems.append(f"{name}: process {rec.pid} is changing it; left as it is")
            else:
                unsettled.append((link, rec))
        elif any(r.record.src == rec.src for r in recorded):
            problems.append(f"{name}: another interface's record names {rec.src} too; skipped")
        else:
            recorded.append(Recorded(link.index, name, rec, link.get("address"), link))
    return LinkScan(recorded, counter, unsettled, unborn, lo_down, problems)


class Config(NamedTuple):
    """What the sandbox installed (protocol ``RTPROT_OSL``) on the interfaces given:
    addresses and link routes by interface index, in the kernel's order; gateways and
    static routes as (destination network, gateway, oif); neighbor entries as
    (ip, mac, index, family: 0, or AF_BRIDGE for a forwarding entry)."""

    addresses: dict
    routes: dict
    gateways: list
    static: list
    neighbors: list


def read_config(rt: Any, indexes: Iterable[int]) -> Config:
    """Dump ``rt``'s addresses, main-table routes and neighbor entries; keep what the
    sandbox put on the interfaces of ``indexes``."""
    wanted = set(indexes)
    addresses: dict[int, list] = {}
    routes: dict[int, list] = {}
    gateways: list = []
    static: list = []
    neighbors: list = []
    for addr in rt.addresses():
        if addr.index in wanted and addr.get("proto") == RTPROT_OSL:
            ip = ip_interface(f"{addr.get('address')}/{addr.prefixlen}")
            addresses.setdefault(addr.index, []).append(ip)
    for route in rt.routes(table=C.RT_TABLE_MAIN):
        if route.protocol != RTPROT_OSL:
            continue
        dst, gw, oif = route.get("dst"), route.get("gateway"), route.get("oif")
        if route.dst_len == 0 and gw is not None:
            gateways.append((gw, oif))
        elif gw is not None:
            static.append((ip_network(f"{dst}/{route.dst_len}"), gw, oif))
        elif oif in wanted and dst is not None:
            routes.setdefault(oif, []).append(ip_network(f"{dst}/{route.dst_len}"))
    # an AF_UNSPEC dump leaves out the bridge family's forwarding entries: ask for both
    for nh in [*rt.neighbors(), *rt.neighbors(family=C.AF_BRIDGE)]:
        if nh.index not in wanted or nh.get("dst") is None:
            continue
        if nh.family == C.AF_BRIDGE:
            # Forwarding entries carry no protocol mark. The kernel makes one with a remote
            # IP (NDA_DST) on its own: a vxlan's default destination (all-zero MAC, state
            # NUD_PERMANENT | NUD_REACHABLE: vxlan_core.c, vxlan_fdb_update at newlink);
            # other permanent ones are add_neighbor's (NUD_PERMANENT alone).
            default = nh.state & C.NUD_REACHABLE and nh.get("lladdr") == "00:00:00:00:00:00"
            if nh.state & C.NUD_PERMANENT and nh.ndm_flags & C.NTF_SELF and not default:
                neighbors.append((nh.get("dst"), nh.get("lladdr"), nh.index, C.AF_BRIDGE))
        elif nh.get("protocol") == RTPROT_OSL:
            neighbors.append((nh.get("dst"), nh.get("lladdr"), nh.index, 0))
    return Config(addresses, routes, gateways, static, neighbors)
