"""``Client``: links, addresses, routes and neighbors of one network namespace, over one
NETLINK_ROUTE socket that lives in that namespace.

    from osl.netlink import Client
    with Client("/run/netns/blue") as rt:
        rt.add_address("eth0", "192.0.2.10/24")
        rt.set_link("eth0", up=True)
        rt.add_route("default", gateway="192.0.2.1")

Interfaces are named or given by index. Kernel refusals raise ``NetlinkError`` (an
``OSError``); bad arguments raise ``ValueError`` before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from . import consts as C
from . import requests as R
from .addr import AddrMessage
from .link import LinkMessage
from .message import Message
from .neigh import NeighMessage
from .route import RouteMessage
from .transport import DEFAULT_TIMEOUT, NetlinkError, Transport

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Union

    from .transport import NetnsSpec

    Link = Union[str, int]


def _netns_fd(netns: Any) -> tuple[int, bool]:
    """An fd for a namespace given as NetNS, fd or path; and whether we opened it."""
    if isinstance(netns, int):
        return netns, False
    fileno = getattr(netns, "fileno", None)
    if fileno is not None:
        return fileno(), False
    return os.open(os.fspath(netns), os.O_RDONLY | os.O_CLOEXEC), True


class Client(Transport):
    """Operations on one namespace's links, addresses, routes and neighbors. ``timeout``:
    the seconds a call waits for the kernel's answer (None: forever), see ``Transport``."""

    def __init__(
        self,
        netns: NetnsSpec = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        sock: Any = None,
    ):
        super().__init__(netns, timeout=timeout, sock=sock)

    # links ---------------------------------------------------------------------
    def index(self, link: Link, what: str | None = None) -> int:
        """The index of a link given by name (or index, returned as is); ``what`` names the
        operation that needs it, for the error when there is no such link."""
        if isinstance(link, int):
            return R.check_index(link)
        return self.link(link, what and f"{what}: find {link!r}").index

    def link(self, link: Link, what: str | None = None) -> LinkMessage:
        """One link, by name or index; ENODEV when there is none."""
        msg = R.get_link(name=link) if isinstance(link, str) else R.get_link(link)
        replies = self.request(msg, what or f"get link {link!r}")
        (reply,) = [m for m in replies if isinstance(m, LinkMessage)]
        return reply

    def links(self) -> list[LinkMessage]:
        return list(self.dump(R.dump_links(), "list links"))

    def add_veth(self, name: str, peer: str, *, peer_netns: Any = None, **kw: Any) -> None:
        """A veth pair; ``peer_netns`` (NetNS, fd or path) has the peer born there."""
        if peer_netns is None:
            self.request(R.new_veth(name, peer, **kw), f"add veth {name} peer {peer}")
            return
        fd, owned = _netns_fd(peer_netns)
        try:
            msg = R.new_veth(name, peer, peer_netns_fd=fd, **kw)
            self.request(msg, f"add veth {name} peer {peer}")
        finally:
            if owned:
                os.close(fd)

    def add_bridge(self, name: str, **kw: Any) -> None:
        self.request(R.new_link(name, "bridge", **kw), f"add bridge {name}")

    def add_macvlan(self, name: str, parent: Link, mode: str = "bridge", **kw: Any) -> None:
        what = f"add macvlan {name} on {parent}"
        self.request(R.new_macvlan(name, self.index(parent, what), mode, **kw), what)

    def add_vlan(self, name: str, parent: Link, vlan_id: int, **kw: Any) -> None:
        what = f"add vlan {name} id {vlan_id} on {parent}"
        self.request(R.new_vlan(name, self.index(parent, what), vlan_id, **kw), what)

    def add_vxlan(self, name: str, vni: int, *, parent: Link | None = None, **kw: Any) -> None:
        what = f"add vxlan {name}"
        parent_index = None if parent is None else self.index(parent, what)
        self.request(R.new_vxlan(name, vni, parent=parent_index, **kw), what)

    def set_link(
        self,
        link: Link,
        *,
        up: bool | None = None,
        name: str | None = None,
        mtu: int | None = None,
        address: str | None = None,
        master: None | Link | bool = None,
        netns: Any = None,
    ) -> None:
        """Change a link: state, name, MTU, MAC, master (``False`` detaches), or move it to
        another namespace (NetNS, fd or path; moved by fd, race-free)."""
        what = f"set link {link!r}"
        if name is not None:
            R.check_ifname(name)  # before anything is sent, the lookup included
        index = self.index(link, what)
        master_index = None
        if master is False or master == 0:
            master_index = 0
        elif master is True:
            raise ValueError("master is a link (name or index), or False to detach")
        elif master is not None:
            master_index = self.index(master, what)
        fd, owned = (None, False) if netns is None else _netns_fd(netns)
        try:
            msg = R.set_link(
                index,
                up=up,
                name=name,
                mtu=mtu,
                address=address,
                master=master_index,
                netns_fd=fd,
            )
            self.request(msg, what)
        finally:
            if owned:
                os.close(fd)

    def delete_link(self, link: Link) -> None:
        what = f"delete link {link!r}"
        self.request(R.del_link(self.index(link, what)), what)

    def delete_group(self, group: int) -> None:
        """Delete every link in link group ``group`` at once (ENODEV when there is none)."""
        self.request(R.del_link_group(group), f"delete link group {group}")

    def link_stats(self, link: Link) -> Any:
        """The link's IFLA_STATS64 counters (``rx_bytes``, ``tx_packets``, ...)."""
        return self.link(link).get("stats64")

    # addresses -----------------------------------------------------------------
    def add_address(self, link: Link, address: Any, **kw: Any) -> None:
        """Add ``address`` (``"192.0.2.10/24"``) to a link; ``nodad=True`` skips IPv6 DAD."""
        what = f"add address {address} to {link!r}"
        self.request(R.new_addr(self.index(link, what), address, **kw), what)

    def delete_address(self, link: Link, address: Any) -> None:
        what = f"delete address {address} of {link!r}"
        self.request(R.del_addr(self.index(link, what), address), what)

    def addresses(self, link: Link | None = None, family: int = C.AF_UNSPEC) -> list[AddrMessage]:
        """Addresses, of one link and/or one family (filtered by the kernel)."""
        index = 0 if link is None else self.index(link, "list addresses")
        found = self.dump(R.dump_addrs(family, index), "list addresses")
        return _kept(found, (lambda m: m.index == index) if index else None)

    # routes ---------------------------------------------------------------------
    def add_route(
        self, dst: Any, *, oif: Link | None = None, replace: bool = False, **kw: Any
    ) -> None:
        """Add a route: ``gateway``, ``oif``, ``table``, ``metric``, ``scope``, ``prefsrc``,
        ``rtm_type``, ``multipath=[(gateway, oif, weight), ...]``."""
        what = f"{'replace' if replace else 'add'} route {dst}"
        self.request(self._route(dst, oif, kw, what, flags=R.REPLACE if replace else R.NEW), what)

    def replace_route(self, dst: Any, **kw: Any) -> None:
        self.add_route(dst, replace=True, **kw)

    def delete_route(self, dst: Any, *, oif: Link | None = None, **kw: Any) -> None:
        what = f"delete route {dst}"
        msg = self._route(dst, oif, kw, what, msg_type=C.RTM_DELROUTE, flags=C.NLM_F_REQUEST)
        self.request(msg, what)

    def _route(self, dst: Any, oif: Link | None, kw: dict, what: str, **extra: Any) -> RouteMessage:
        if kw.get("multipath"):
            kw["multipath"] = [(h[0], self.index(h[1], what), *h[2:]) for h in kw["multipath"]]
        return R.route(dst, oif=None if oif is None else self.index(oif, what), **kw, **extra)

    def get_route(
        self, dst: Any, *, oif: Link | None = None, what: str | None = None
    ) -> RouteMessage:
        """The kernel's route lookup for ``dst`` (RTM_GETROUTE): its ``oif``, ``gateway``...
        ``what`` names the operation that needs it, for the error."""
        what = f"{what}: " if what else ""
        what += f"look up route to {dst}"
        msg = R.get_route(dst, oif=None if oif is None else self.index(oif, what))
        (reply,) = [m for m in self.request(msg, what) if isinstance(m, RouteMessage)]
        return reply

    def routes(
        self, family: int = C.AF_UNSPEC, table: int | None = C.RT_TABLE_MAIN
    ) -> list[RouteMessage]:
        """Routes of one table (``None`` or 0: all tables) and family."""
        found = self.dump(R.dump_routes(family, table or 0), "list routes")
        return _kept(found, (lambda m: m.table_id == table) if table else None)

    # neighbors -------------------------------------------------------------------
    def add_neighbor(
        self,
        dst: Any,
        lladdr: str | None,
        *,
        link: Link,
        replace: bool = False,
        **kw: Any,
    ) -> None:
        """An ARP/NDP entry (``state`` defaults to permanent), or with ``family=AF_BRIDGE`` a
        forwarding database entry (``ndm_flags=NTF_SELF`` or ``NTF_MASTER``)."""
        what = f"{'replace' if replace else 'add'} neighbor {dst or lladdr} on {link!r}"
        index = self.index(link, what)
        self.request(R.neigh(index, dst, lladdr, flags=R.REPLACE if replace else R.NEW, **kw), what)

    def replace_neighbor(self, dst: Any, lladdr: str | None, *, link: Link, **kw: Any) -> None:
        self.add_neighbor(dst, lladdr, link=link, replace=True, **kw)

    def delete_neighbor(
        self, dst: Any, lladdr: str | None = None, *, link: Link, **kw: Any
    ) -> None:
        what = f"delete neighbor {dst or lladdr} on {link!r}"
        self.request(R.del_neigh(self.index(link, what), dst, lladdr, **kw), what)

    def neighbors(self, link: Link | None = None, family: int = C.AF_UNSPEC) -> list[NeighMessage]:
        """Neighbor entries (AF_BRIDGE: the forwarding database), of one link if given."""
        index = 0 if link is None else self.index(link, "list neighbors")
        found = self.dump(R.dump_neighs(family, index), "list neighbors")
        return _kept(found, (lambda m: m.index == index) if index else None)

    # many at once ------------------------------------------------------------------
    # namespace ids -------------------------------------------------------------------
    def nsid(self, netns_fd: int) -> int | None:
        """The id this namespace gives the namespace open as ``netns_fd`` (what its links'
        ``link_netnsid`` say of a peer there), or None when it has none."""
        replies = self.request(R.get_nsid(netns_fd), "get the id of a namespace")
        value = replies[0].get("nsid") if replies else None
        return None if value is None or value < 0 else value

    def apply(self, msgs: Iterable[Message], *, stop_on_error: bool = True) -> list:
        """Send prepared requests (``osl.netlink.requests``) pipelined; see ``batch``. With
        ``stop_on_error`` the first error is raised (its ``results`` attribute holds all)."""
        results = self.batch(msgs, stop_on_error=stop_on_error)
        if stop_on_error:
            for result in results:
                if isinstance(result, NetlinkError):
                    result.results = results
                    raise result
        return results


def _kept(found: Iterable[Message], wanted: Callable[[Message], bool] | None) -> list:
    """The entries of a dump that ``wanted`` keeps (all when it is None), unless the kernel
    filtered the dump itself (strict checking): then it flags every entry
    NLM_F_DUMP_FILTERED and there is nothing left to filter."""
    found = list(found)
    if wanted is None or (found and found[0].flags & C.NLM_F_DUMP_FILTERED):
        return found
    return [m for m in found if wanted(m)]
