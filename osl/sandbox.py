"""Sandboxes: network namespaces kept on a key file, filled with interfaces moved in from the
host, and configured: names, addresses, routes, gateways, neighbor entries.

The Python counterpart of libnetwork's ``osl`` package. Each sandbox keeps one netlink socket
opened inside its namespace (and one in the host's), so its operations need no ``setns``.
What a sandbox set up is recorded in the kernel itself, so ``open_sandbox(key)`` can rebuild
it in a later process: each interface's alias holds its host-side name, bridge flag and
master; ``lo``'s alias the name counter; addresses, routes and neighbor entries carry the
protocol number ``RTPROT_OSL``. The record also holds the intent of a change in progress, so
that a later process finishes or undoes what a dead one left (``osl/record.py``).

The values a sandbox takes and gives are :mod:`osl.values`, :class:`Interface` is
:mod:`osl.interface`, :func:`gc` is :mod:`osl.recovery`; all are importable from here too.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from collections.abc import Iterable
from ipaddress import ip_address, ip_interface
from typing import Any, Callable, TypeVar

from osl import inplace as _inplace
from osl import netns as _netns
from osl import record as _record
from osl.interface import Interface
from osl.netlink import NetlinkError
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.plumbing import Making, Plumbing
from osl.plumbing import check_name as _check_name
from osl.recovery import gc
from osl.restore import restore
from osl.teardown import HostEnds
from osl.values import (
    CONNECTED,
    NEXTHOP,
    Address,
    InterfaceStatistics,
    Neighbor,
    RecordWarning,
    Settings,
    StaticRoute,
)
from osl.values import check_mac as _check_mac
from osl.values import check_prefix as _check_prefix

__all__ = [
    "CONNECTED",
    "NEXTHOP",
    "RTPROT_OSL",
    "Interface",
    "InterfaceStatistics",
    "Neighbor",
    "RecordWarning",
    "Sandbox",
    "StaticRoute",
    "destroy_many",
    "gc",
    "generate_key",
    "init_os_context",
    "open_sandbox",
]

RTPROT_OSL = _record.RTPROT_OSL
_T = TypeVar("_T")

generate_key = _netns.generate_key
init_os_context = _netns.init_os_context


class Sandbox:
    """A network namespace on a key file, and what this library put in it."""

    def __init__(
        self,
        key: str,
        *,
        is_default: bool = False,
        owns_key: bool = True,
        made: tuple[_netns.NetNS, Any] | None = None,
    ):
        """``made``: the namespace and a netlink socket opened inside it when it was made
        (``new_sandbox``), instead of opening ``key`` and entering it for a socket."""
        self.key = os.path.abspath(key)
        self._is_default = is_default
        self._owns_key = owns_key
        self._lock = threading.RLock()
        self._ns, sock = (_netns.NetNS.open(self.key), None) if made is None else made
        self._host = _netns.NetNS.current()
        try:
            self._client = Client(self._ns, sock=sock)
        except BaseException:
            if sock is not None:
                sock.close()
            self._ns.close()
            self._host.close()
            raise
        self._host_client: Client | None = None
        self._plumbing = Plumbing(
            self._client, self._ns, self._host, self._host_rt, self._problem, is_default=is_default
        )
        self._interfaces: list[Interface] = []
        self._gateway: Address | None = None
        self._gateway6: Address | None = None
        self._static_routes: list[StaticRoute] = []
        self._neighbors: list[Neighbor] = []
        #: the number the next interface's name ends in, one counter for every prefix
        self._next = 0
        #: what open_sandbox found in the kernel's records and skipped, as sentences
        self.problems: list[str] = []
        # the interface index each gateway and static route goes out of: when that interface
        # leaves, the kernel drops those routes, and so do the records
        self._route_oif: dict[Any, int] = {}
        self._destroyed = False

    # state ------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The sandbox's own netlink client (its socket lives in the sandbox's namespace)."""
        return self._client

    @property
    def interfaces(self) -> list[Interface]:
        with self._lock:
            return list(self._interfaces)

    @property
    def gateway(self) -> Address | None:
        return self._gateway

    @property
    def gateway_ipv6(self) -> Address | None:
        return self._gateway6

    @property
    def static_routes(self) -> list[StaticRoute]:
        with self._lock:
            return list(self._static_routes)

    @property
    def neighbors(self) -> list[Neighbor]:
        with self._lock:
            return list(self._neighbors)

    def __repr__(self) -> str:
        return f"<Sandbox {self.key} interfaces={[i.dst_name for i in self._interfaces]}>"

    def _host_rt(self) -> Client:
        if self._host_client is None:
            self._host_client = Client(self._host)
        return self._host_client

    def _check_live(self) -> None:
        if self._destroyed:
            raise ValueError(f"sandbox {self.key} is destroyed")

    # interfaces --------------------------------------------------------------------
    def add_interface(
        self,
        src_name: str,
        dst_prefix: str,
        *,
        bridge: bool = False,
        mac_address: str | None = None,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        master: str | None = None,
        routes: Iterable = (),
    ) -> Interface:
        """Move host interface ``src_name`` in (or create bridge ``src_name`` inside), name
        it ``dst_prefix`` + the sandbox's counter (``eth0``, then ``ext1``, ...; numbers are
        never reused; a default sandbox keeps the name), configure it and bring it up. All
        or nothing: on failure the interface is back in the host under its own name and
        nothing is recorded. Crash-safe: a later ``open_sandbox`` undoes an add that a dead
        process left half done."""
        settings = Settings.check(
            address, address_ipv6, link_local_addresses, routes, mac_address, master
        )
        return self._add(src_name, dst_prefix, settings, bridge=bridge)

    def add_veth(
        self,
        host_name: str,
        dst_prefix: str,
        *,
        mac_address: str | None = None,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        master: str | None = None,
        routes: Iterable = (),
        host_mtu: int | None = None,
        host_mac: str | None = None,
        host_master: str | None = None,
        host_up: bool = True,
    ) -> Interface:
        """Create a veth pair in place: its sandbox end born inside the sandbox (no move:
        what makes ``add_interface`` of a veth wait ~30 ms on the kernel), named and
        configured as ``add_interface`` does; its other end ``host_name`` in the host, with
        ``host_mtu``, ``host_mac``, on bridge ``host_master`` (a host interface), up unless
        ``host_up`` is false. All or nothing: on failure neither end is left. ``remove()``
        deletes the pair; so does the kernel when the sandbox is destroyed."""
        settings = self._created_settings(
            address, address_ipv6, link_local_addresses, routes, mac_address, master
        )
        making = _inplace.veth(
            host_name, mtu=host_mtu, mac=host_mac, master=host_master, up=host_up
        )
        return self._add(host_name, dst_prefix, settings, made="veth", making=making)

    def add_macvlan(
        self,
        parent: str,
        dst_prefix: str,
        *,
        mode: str = "bridge",
        mtu: int | None = None,
        mac_address: str | None = None,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        master: str | None = None,
        routes: Iterable = (),
    ) -> Interface:
        """Create a macvlan on host interface ``parent`` in place (born inside the sandbox,
        in ``mode``: bridge, private, vepa, passthru, source), named and configured as
        ``add_interface`` does. It has no host end: its ``src_name`` is its name in the
        sandbox. All or nothing; ``remove()`` deletes it, and so does ``destroy``."""
        settings = self._created_settings(
            address, address_ipv6, link_local_addresses, routes, mac_address, master
        )
        making = _inplace.macvlan(parent, mode=mode, mtu=mtu)
        return self._add(None, dst_prefix, settings, made="macvlan", making=making)

    def add_vxlan(
        self,
        vni: int,
        dst_prefix: str,
        *,
        parent: str | None = None,
        local: Any = None,
        remote: Any = None,
        group: Any = None,
        port: int = 4789,
        learning: bool = True,
        mtu: int | None = None,
        mac_address: str | None = None,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        master: str | None = None,
        routes: Iterable = (),
    ) -> Interface:
        """Create a vxlan of id ``vni`` in place (born inside the sandbox; its UDP socket
        stays in the host, on ``port``, bound to ``local``, towards ``remote`` or the
        multicast ``group``, over host interface ``parent``), named and configured as
        ``add_interface`` does. Its ``src_name`` is its name in the sandbox. All or
        nothing; ``remove()`` deletes it, and so does ``destroy``."""
        settings = self._created_settings(
            address, address_ipv6, link_local_addresses, routes, mac_address, master
        )
        making = _inplace.vxlan(
            vni,
            parent=parent,
            local=local,
            remote=remote,
            group=group,
            port=port,
            learning=learning,
            mtu=mtu,
        )
        return self._add(None, dst_prefix, settings, made="vxlan", making=making)

    def _created_settings(self, *args: Any) -> Settings:
        if self._is_default:
            raise ValueError("a default sandbox is the host's namespace: create the link there")
        return Settings.check(*args)

    def _add(
        self,
        src_name: str | None,
        dst_prefix: str,
        settings: Settings,
        *,
        bridge: bool = False,
        made: str | None = None,
        making: Making | None = None,
    ) -> Interface:
        """Add an interface; ``src_name`` None: a link created in place with no host end,
        known by its sandbox name."""
        if src_name is not None:
            _check_name(src_name, "host interface name" if made else "source interface name")
        if not self._is_default:
            _check_prefix(dst_prefix)
        master = settings.master
        with self._lock:
            self._check_live()
            if src_name is not None and any(i.src_name == src_name for i in self._interfaces):
                raise ValueError(f"{src_name!r} is an interface of this sandbox already")
            master_iface = None
            if master is not None:
                master_iface = next(
                    (i for i in self._interfaces if i.src_name == master and i.bridge), None
                )
                if master_iface is None:
                    raise ValueError(f"master {master!r} is not a bridge added to this sandbox")
            n = None
            if self._is_default:
                dst_name = src_name
            else:
                n, dst_name = self._plumbing.free_name(dst_prefix, self._next)
            if src_name is None:
                src_name = dst_name
                if any(i.src_name == src_name for i in self._interfaces):
                    raise ValueError(
                        f"{src_name!r} is the host-side name of an interface of this sandbox"
                    )
            iface = Interface(
                self,
                src_name,
                dst_name,
                index=0,
                address=settings.address,
                address_ipv6=settings.address_ipv6,
                link_local_addresses=settings.link_local_addresses,
                routes=settings.routes,
                bridge=bridge,
                master=master,
                mac_address=settings.mac_address,
                made=made,
            )
            iface._index = self._plumbing.bring_in(iface, master_iface, n, making)
            if n is not None:
                self._next = n + 1
            self._interfaces.append(iface)
            return iface

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        warnings.warn(f"sandbox {self.key}: {text}", RecordWarning, stacklevel=3)

    def _remove_interface(self, iface: Interface) -> None:
        with self._lock:
            self._check_live()
            if iface not in self._interfaces:
                raise LookupError(f"{iface.dst_name} is not an interface of this sandbox")
            what = f"remove interface {iface.dst_name}"
            if iface.bridge or iface.made:
                kind = "bridge" if iface.bridge else iface.made
                self._client.request(R.del_link(iface._index), f"{what}: delete the {kind}")
            elif self._is_default:
                self._client.request(R.set_link(iface._index, up=False), f"{what}: set down")
            else:
                self._plumbing.give_back(iface, what)
            self._interfaces.remove(iface)
            self._forget_routes_of(iface)

    def _forget_routes_of(self, iface: Interface) -> None:
        """Drop the records of what the kernel removed with the interface: its neighbor
        entries, and gateways and static routes that went out of it."""
        self._neighbors = [n for n in self._neighbors if n.link_name != iface.src_name]
        gone = {k for k, oif in self._route_oif.items() if oif == iface._index}
        for key in gone:
            del self._route_oif[key]
        if ("gateway", 4) in gone:
            self._gateway = None
        if ("gateway", 6) in gone:
            self._gateway6 = None
        self._static_routes = [r for r in self._static_routes if r not in gone]

    # gateways and routes ---------------------------------------------------------------
    def _direct_oif(self, gw: Address, what: str) -> int:
        found = self._client.get_route(gw, what=what)
        if found.get("gateway") is not None or found.rtm_type != C.RTN_UNICAST:
            raise NetlinkError(
                errno.ENETUNREACH, what, f"{gw} is not on a directly connected network"
            )
        return found.get("oif")

    def _set_gateway(self, gw: Any, version: int) -> None:
        addr = ip_address(gw)
        if addr.version != version:
            raise ValueError(f"{gw} is not an IPv{version} address")
        what = f"set IPv{version} gateway {addr}"
        with self._lock:
            self._check_live()
            oif = self._direct_oif(addr, what)
            msg = R.route("default", gateway=addr, oif=oif, protocol=RTPROT_OSL, flags=R.REPLACE)
            self._client.request(msg, what)
            if version == 4:
                self._gateway = addr
            else:
                self._gateway6 = addr
            self._route_oif[("gateway", version)] = oif

    def set_gateway(self, gw: Any) -> None:
        """Set (or replace) the IPv4 default route via ``gw``."""
        self._set_gateway(gw, 4)

    def set_gateway_ipv6(self, gw: Any) -> None:
        """Set (or replace) the IPv6 default route via ``gw``."""
        self._set_gateway(gw, 6)

    def _unset_gateway(self, version: int) -> None:
        with self._lock:
            self._check_live()
            gw = self._gateway if version == 4 else self._gateway6
            if gw is None:
                return
            try:
                self._client.request(R.del_route("default", gateway=gw), f"unset gateway {gw}")
            except NetlinkError as e:
                if e.errno != errno.ESRCH:  # already gone with its interface
                    raise
            if version == 4:
                self._gateway = None
            else:
                self._gateway6 = None
            self._route_oif.pop(("gateway", version), None)

    def unset_gateway(self) -> None:
        """Remove the IPv4 default route set by ``set_gateway``; nothing if none is set."""
        self._unset_gateway(4)

    def unset_gateway_ipv6(self) -> None:
        self._unset_gateway(6)

    def add_static_route(self, route: StaticRoute) -> None:
        """Add ``route`` (its next hop must be directly reachable)."""
        if not isinstance(route, StaticRoute):
            raise TypeError("add_static_route takes an osl.StaticRoute")
        what = f"add static route {route.destination}"
        with self._lock:
            self._check_live()
            if route.next_hop is None:
                raise ValueError(f"{what}: a route without a next hop needs an interface")
            oif = self._direct_oif(route.next_hop, what)
            msg = R.route(route.destination, gateway=route.next_hop, oif=oif, protocol=RTPROT_OSL)
            self._client.request(msg, what)
            self._static_routes.append(route)
            self._route_oif[route] = oif

    def remove_static_route(self, route: StaticRoute) -> None:
        with self._lock:
            self._check_live()
            if route not in self._static_routes:
                raise LookupError(f"no static route {route} was added to this sandbox")
            msg = R.del_route(route.destination, gateway=route.next_hop)
            self._client.request(msg, f"remove static route {route.destination}")
            self._static_routes.remove(route)
            self._route_oif.pop(route, None)

    # neighbors ----------------------------------------------------------------------------
    def _find_neighbor(self, ip: Address, mac: str | None) -> Neighbor | None:
        for nh in self._neighbors:
            if nh.ip == ip and (mac is None or nh.mac == mac):
                return nh
        return None

    def add_neighbor(
        self,
        dst_ip: Any,
        dst_mac: Any,
        *,
        link_name: str | None = None,
        family: int | None = None,
    ) -> None:
        """A permanent neighbor entry; ``link_name`` is an interface's ``src_name``;
        ``family=AF_BRIDGE`` programs a forwarding entry (NTF_SELF). Adding an entry that is
        already there does nothing."""
        ip = ip_address(dst_ip)
        mac = _check_mac(dst_mac)
        if family not in (None, C.AF_BRIDGE, C.AF_INET, C.AF_INET6):
            raise ValueError(f"neighbor family {family!r} is not AF_INET, AF_INET6 or AF_BRIDGE")
        with self._lock:
            self._check_live()
            if self._find_neighbor(ip, mac) is not None:
                return
            index = self._link_index(link_name)
            bridge = family == C.AF_BRIDGE
            msg = R.neigh(
                index,
                ip,
                mac,
                family=family,
                ndm_flags=C.NTF_SELF if bridge else 0,
                flags=R.REPLACE,
                protocol=None if bridge else RTPROT_OSL,
            )
            self._client.request(msg, f"add neighbor {ip} {mac}")
            self._neighbors.append(Neighbor(ip, mac, link_name, family or 0))

    def _link_index(self, link_name: str | None) -> int:
        if link_name is None:
            raise ValueError("a neighbor entry needs link_name (an interface's src_name)")
        for iface in self._interfaces:
            if iface.src_name == link_name:
                return iface._index
        raise ValueError(f"no interface with src_name {link_name!r} in this sandbox")

    def delete_neighbor(self, dst_ip: Any, dst_mac: Any = None) -> None:
        """Delete an entry added with ``add_neighbor``; LookupError if there is none."""
        ip = ip_address(dst_ip)
        mac = _check_mac(dst_mac)
        with self._lock:
            self._check_live()
            nh = self._find_neighbor(ip, mac)
            if nh is None:
                raise LookupError(f"no neighbor entry {ip} {mac or ''} in this sandbox".rstrip())
            index = self._link_index(nh.link_name)
            bridge = nh.family == C.AF_BRIDGE
            msg = R.del_neigh(
                index,
                ip,
                nh.mac if bridge else None,
                family=nh.family or None,
                ndm_flags=C.NTF_SELF if bridge else 0,
            )
            try:
                self._client.request(msg, f"delete neighbor {ip}")
            except NetlinkError as e:
                if e.errno != errno.ENOENT:  # gone with its interface: the record goes too
                    raise
            self._neighbors.remove(nh)

    # aliases -----------------------------------------------------------------------------
    def add_alias_ip(self, if_name: str, ip: Any) -> None:
        """Add address ``ip`` to the sandbox's interface ``if_name`` (its name inside)."""
        iface = ip_interface(ip)
        with self._lock:
            self._check_live()
            self._client.add_address(
                _check_name(if_name, "interface name"), iface, nodad=iface.version == 6
            )

    def remove_alias_ip(self, if_name: str, ip: Any) -> None:
        with self._lock:
            self._check_live()
            self._client.delete_address(_check_name(if_name, "interface name"), ip_interface(ip))

    # running code inside -------------------------------------------------------------------
    def invoke(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run ``fn`` inside the sandbox's namespace on the calling thread; its result is
        returned, and the thread is back in its own namespace afterwards, whatever happens."""
        self._check_live()
        with self._ns.entered():
            return fn(*args, **kwargs)

    # restore ------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Settle what dead processes left half done, then take on what the records say."""
        snap = restore(
            self, self._client, self._plumbing, self._problem, is_default=self._is_default
        )
        if snap.next is not None:
            self._next = snap.next
        self._interfaces = snap.interfaces
        self._gateway, self._gateway6 = snap.gateway, snap.gateway6
        self._static_routes = snap.static_routes
        self._neighbors = snap.neighbors
        self._route_oif = snap.route_oif

    # teardown -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close this handle (sockets and fds) but keep the sandbox: its key and namespace
        stay, for ``open_sandbox`` in this or a later process."""
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
            self._close_handles()

    def _close_handles(self) -> None:
        self._client.close()
        if self._host_client is not None:
            self._host_client.close()
        self._ns.close()
        self._host.close()

    def destroy(self, *, wait: bool = False, timeout: float | None = 30.0) -> None:
        """Remove the sandbox: close its sockets and fds, unmount and remove its key. Twice
        does no harm.

        When it returns the key is gone (a new sandbox may take the same key at once) and
        this handle holds nothing. The kernel frees the namespace once no process holds it,
        and removes every device in it in its own worker, a veth's host end with it; until
        then a host end's name is taken. With ``wait`` the host end of every veth in the
        sandbox is deleted first (all in one request) and it returns once they are gone
        (seen on the host's link events), or raises TimeoutError after ``timeout`` seconds
        (None: no limit). ``destroy_many`` destroys many sandboxes and waits for them all
        at once."""
        destroy_many([self], wait=wait, timeout=timeout)

    def _note_host_ends(self, ends: HostEnds) -> None:
        """Note in ``ends`` the host ends of the veths in this sandbox."""
        with self._lock:
            if not self._destroyed:
                ends.add(self._client, self._ns)

    def _teardown(self) -> None:
        """Destroy without waiting."""
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
            # A key that new_sandbox has since given to another namespace is not ours.
            ours = self._owns_key and not _taken_over(self.key, self._ns)
            self._close_handles()
            if ours:
                _netns.remove_netns(self.key)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def destroy_many(
    sandboxes: Iterable[Sandbox], *, wait: bool = True, timeout: float | None = 30.0
) -> None:
    """Destroy every sandbox (as ``Sandbox.destroy``), then, with ``wait``, return once the
    host ends of all their veths are gone (TimeoutError after ``timeout`` seconds). With
    ``wait`` the host ends are deleted first, all in one request (the kernel unregisters
    them together, in about half the time its namespace cleanup takes for them); without,
    the kernel removes them with the namespaces, later."""
    sandboxes = list(sandboxes)
    watches: dict[_netns.NetNS, HostEnds] = {}
    try:
        if wait:
            for sb in sandboxes:
                if not sb._destroyed:
                    ends = watches.get(sb._host)
                    if ends is None:
                        ends = watches[sb._host] = HostEnds(_netns.NetNS.from_fd(sb._host.fd))
                    sb._note_host_ends(ends)
            for ends in watches.values():
                ends.delete()
        for sb in sandboxes:
            sb._teardown()
        for ends in watches.values():
            ends.wait(timeout)
    finally:
        for ends in watches.values():
            ends.close()


def _taken_over(key: str, ns: _netns.NetNS) -> bool:
    """Whether ``key`` now holds another namespace than ``ns`` (all nsfs files share
    one device)."""
    try:
        st = os.stat(key)
    except OSError:
        return False
    return st.st_dev == ns.dev and st.st_ino != ns.inode


def open_sandbox(key: str) -> Sandbox:
    """Reopen an existing sandbox by its key and rebuild what it holds from the kernel:
    interfaces (with their host-side names), gateways, static routes and neighbor entries.

    What a process that died left half done is settled first: an interface it was adding
    goes back to the host, one it was removing is moved out (``gc`` finishes a removal that
    had reached the host). Records that are not well formed are reported
    (``Sandbox.problems``, ``RecordWarning``) and skipped."""
    sb = Sandbox(key)
    try:
        sb._restore()
    except BaseException:
        sb._owns_key = False
        sb.destroy()
        raise
    return sb
