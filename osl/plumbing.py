"""Interfaces into and out of a sandbox, all or nothing and crash-safe: each change's steps,
the record each step leaves in the kernel, and how a change is undone or finished.

A change's record goes in with its first step (``osl/record.py``): a moved interface carries
an "adding" record from the very request that moves it; a created bridge is born under a
name that records who makes it; the name counter goes up in the datagram that renames; the
master and the finished record are one request; a remove starts by writing "removing". So
a process that dies anywhere leaves what :meth:`Plumbing.settle` can undo or finish.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import Any, Callable, NamedTuple, Protocol

from osl import record as _record
from osl.netlink import NetlinkError
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.netns import NetNS
from osl.record import ADDING, REMOVING, Record


class Interface(Protocol):
    """What plumbing reads of a sandbox's interface (``osl.sandbox.Interface``)."""

    src_name: str
    dst_name: str
    index: int
    bridge: bool
    master: str | None
    made: str | None
    mac_address: str | None
    address: Any
    address_ipv6: Any
    link_local_addresses: list
    routes: list


RTPROT_OSL = _record.RTPROT_OSL


def check_name(name: str, what: str) -> str:
    """An interface name osl may give the kernel (``ValueError`` saying ``what`` it is)."""
    try:
        R.check_ifname(name)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what}: {e}") from None
    if "%" in name:  # the kernel takes such a name as a template: "x%d" becomes "x0"
        raise ValueError(f"{what}: interface name {name!r} may not contain '%'")
    return name


def find_link(rt: Client, name: str) -> Any:
    """The link named ``name`` in ``rt``'s namespace, or None."""
    try:
        return rt.link(name)
    except NetlinkError as e:
        if e.errno == errno.ENODEV:
            return None
        raise


def has_link(rt: Client, name: str) -> bool:
    """Whether ``rt``'s namespace has a link named ``name``."""
    return find_link(rt, name) is not None


def _record_of(iface: Any) -> Record:
    return Record(iface.src_name, iface.bridge, iface.master, made=iface.made)


class Making(NamedTuple):
    """A link osl creates in place: ``request(name, netns_fd, host)`` is the RTM_NEWLINK
    the host's socket ``host`` sends, the link (a veth: its sandbox end) born in the
    sandbox under ``name``; a veth's host end then joins the host bridge ``host_master``,
    up if ``host_up``. ``names_peer``: the request makes a link in the host whose peer is
    the sandbox's (a veth), so the kernel's echo of it tells the sandbox link's index."""

    request: Callable[[str, int, Client], Any]
    host_master: str | None = None
    host_up: bool = True
    names_peer: bool = False


class Plumbing:
    """The two sides a sandbox's interfaces move between: the sandbox (its namespace and
    client) and the host. Interfaces are the sandbox's ``Interface`` objects, read only
    here; what cannot be undone is told to ``problem``."""

    def __init__(
        self,
        rt: Client,
        ns: NetNS,
        host: NetNS,
        host_rt: Callable[[], Client],
        problem: Callable[[str], None],
        *,
        is_default: bool,
    ) -> None:
        self.rt = rt
        self.ns = ns
        self.host = host
        self.host_rt = host_rt
        self.problem = problem
        self.is_default = is_default
        self._host_nsid: int | None = None

    def from_host(self, link: Any) -> bool:
        """Whether ``link`` can be one this sandbox took from the host: a physical device
        (nothing inside a sandbox can make one), or a link whose other end is in the host
        (IFLA_LINK_NETNSID). A record is written by anything with CAP_NET_ADMIN inside: on
        a link it made there (a veth pair of its own), a forged record must not make osl
        give that link to the host."""
        kind, nsid = _record.link_anchor(link)
        if kind is None:
            return True
        if nsid is None:
            return False
        if self._host_nsid is None:
            self._host_nsid = self.rt.nsid(self.host.fd)
        return nsid == self._host_nsid

    def free_name(self, prefix: str, n: int) -> tuple[int, str]:
        """The counter's next number (from ``n``) and name, past names something else took
        meanwhile: a counter can lag the names in the sandbox, never make every add fail."""
        while True:
            name = check_name(f"{prefix}{n}", "interface name")
            if not has_link(self.rt, name):
                return n, name
            n += 1

    def bring_in(
        self,
        iface: Interface,
        master: Interface | None,
        n: int | None,
        making: Making | None = None,
    ) -> int:
        """Move (or create) and configure; undo everything on failure. Returns the index.

        The record goes in first, in the request that moves or creates the link: from then
        on a later process can tell what this call was doing (``open_sandbox``). A link of
        kind ``iface.made`` is created in the sandbox as ``making`` says."""
        what = f"add interface {iface.src_name} as {iface.dst_name}"
        rt = self.rt
        record = None if self.is_default else _record_of(iface)
        moved = created = False
        made = iface.src_name
        intent = None
        index = None
        try:
            if iface.bridge:
                if has_link(rt, iface.src_name):  # as the original, which creates it so named
                    raise NetlinkError(
                        errno.EEXIST,
                        f"{what}: create bridge: the sandbox has an interface of that name",
                    )
                # The kernel ignores IFLA_IFALIAS when it creates a link (it applies it only
                # in do_setlink): born under a name that says who makes it, the bridge gets
                # its record together with its final name.
                made = iface.src_name if record is None else _record.making_name()
                if record is not None:
                    intent = record.doing(ADDING, n=n)
                rt.request(R.new_link(made, "bridge"), f"{what}: create bridge")
                created = True
            elif iface.made is not None:
                # born in the sandbox (IFLA_NET_NS_FD), not moved there: no device
                # unregistered and registered again, no RCU grace period waited for
                assert making is not None
                host = self.host_rt()
                if making.host_master is not None:
                    name = making.host_master
                    host_master = host.link(name, f"{what}: find {name} in the host").index
                made = _record.making_name()
                intent = record.doing(ADDING, n=n)
                msg = making.request(made, self.ns.fd, host)
                if making.names_peer:
                    # NLM_F_ECHO: a kernel that honours it for a new link (rtnl_newlink_create;
                    # 6.18 does) answers with the link it made in the host, its IFLA_LINK the
                    # index of its peer in the sandbox; one that does not sends nothing, and
                    # the link is looked up. Only here: an echo goes to the port id in the
                    # made link's namespace.
                    msg.flags |= C.NLM_F_ECHO
                replies = host.request(msg, f"{what}: create the {iface.made}")
                index = next(
                    (
                        m.get("link")
                        for m in replies
                        if m.type == C.RTM_NEWLINK and m.get("ifname") == iface.src_name
                    ),
                    None,
                )
                created = True
            elif not self.is_default:
                host = self.host_rt()
                link = host.link(iface.src_name, f"{what}: find {iface.src_name} in the host")
                intent = record.doing(
                    ADDING,
                    n=n,
                    mac0=link.get("address") if iface.mac_address else None,
                    up0=bool(link.ifi_flags & C.IFF_UP),
                )
                host.request(
                    R.set_link(link.index, up=False, netns_fd=self.ns.fd, alias=intent.alias()),
                    f"{what}: move into the sandbox",
                )
                moved = True
            if index is None:
                link = rt.link(
                    made if created else iface.src_name, f"{what}: find it in the sandbox"
                )
                index = link.index
            if self.is_default:
                intent = Record(
                    iface.src_name,
                    op=ADDING,
                    mac0=link.get("address") if iface.mac_address else None,
                    up0=bool(link.ifi_flags & C.IFF_UP),
                )
            steps = self.configure(iface, index, n, intent if created else None)
            results = rt.batch([msg for _, msg in steps], stop_on_error=True)
            for (step, _), result in zip(steps, results):
                if isinstance(result, NetlinkError):
                    raise result.during(f"{what}: {step}") from result
            if making is not None and making.host_master is not None:
                host = self.host_rt()
                peer = host.link(iface.src_name, f"{what}: find the host end")
                host.request(
                    R.set_link(peer.index, master=host_master, up=making.host_up or None),
                    f"{what}: put the host end on its bridge",
                )
            # The master and the finished record in one request: the kernel enslaves first
            # (do_setlink), so a refused master leaves the record saying "adding".
            if master is not None or record is not None:
                step = "record the interface" if master is None else f"set master {master.dst_name}"
                rt.request(
                    R.set_link(
                        index,
                        master=None if master is None else master.index,
                        alias=None if record is None else record.alias(),
                    ),
                    f"{what}: {step}",
                )
            return index
        except BaseException:
            if moved or created or self.is_default:
                added = (iface.address, iface.address_ipv6, *iface.link_local_addresses)
                self.undo_add(
                    index,
                    made,
                    intent,
                    created=created,
                    moved=moved,
                    addresses=[a for a in added if a is not None],
                )
            raise

    def configure(
        self, iface: Interface, index: int, n: int | None, intent: Record | None = None
    ) -> list:
        """The requests that set an interface up in the sandbox, in order, with step names
        (the master and the record follow once they all went through). ``intent``: the
        record to write with the rename (a created link, which has none yet)."""
        proto = RTPROT_OSL
        steps: list = []
        if n is not None:  # in the datagram that renames: the two happen together or not
            steps.append(
                ("count the name", R.set_link(_record.LO_INDEX, alias=_record.counter_alias(n + 1)))
            )
        steps.append(("set down", R.set_link(index, up=False)))
        steps.append(
            (
                f"rename to {iface.dst_name}",
                R.set_link(
                    index,
                    name=iface.dst_name,
                    address=iface.mac_address,
                    alias=None if intent is None else intent.alias(),
                ),
            )
        )
        for label, addr, nodad in (
            ("add IPv4 address", iface.address, False),
            ("add IPv6 address", iface.address_ipv6, True),
            *(("add link-local address", a, a.version == 6) for a in iface.link_local_addresses),
        ):
            if addr is not None:
                steps.append((f"{label} {addr}", R.new_addr(index, addr, nodad=nodad, proto=proto)))
        steps.append(("set up", R.set_link(index, up=True)))
        for net in iface.routes:
            steps.append(
                (f"add route {net}", R.route(net, oif=index, protocol=proto, scope=C.RT_SCOPE_LINK))
            )
        return steps

    def undo_add(
        self,
        index: int | None,
        src: str,
        intent: Record | None,
        *,
        created: bool,
        moved: bool,
        addresses: Iterable = (),
    ) -> None:
        """Put back a link an add brought in, found by its index (or, before the index was
        known, by its host-side name ``src``): renamed back, its MAC and master undone,
        moved to the host as it was. A created bridge is deleted. Best effort: what fails
        is reported (``problems``), and the error that made the add fail is the one raised."""
        rt = self.rt
        try:
            if index is None:
                found = find_link(rt, src)
                if found is None:
                    return
                index = found.index
            if intent is not None and intent.n is not None and self.counter() == intent.n + 1:
                # back to what it was: no counter before the first interface
                counter = _record.counter_alias(intent.n) if intent.n else ""
                rt.request(R.set_link(_record.LO_INDEX, alias=counter))
            if created:
                rt.request(R.del_link(index))
                return
            name = rt.link(index).get("ifname")
            rt.request(
                R.set_link(
                    index,
                    up=False,
                    name=src if name != src else None,
                    address=intent.mac0 if intent is not None else None,
                    master=0,
                )
            )
            if moved:
                rt.request(R.set_link(index, netns_fd=self.host.fd, alias=""))
                if intent is not None and intent.up0:
                    self.host_rt().set_link(src, up=True)
            elif self.is_default:
                if intent is not None and intent.up0:
                    rt.request(R.set_link(index, up=True))
                for addr in addresses:
                    try:
                        rt.request(R.del_addr(index, addr))
                    except NetlinkError:
                        pass
        except (NetlinkError, OSError) as e:
            self.problem(f"could not undo adding {src}: {e}")

    def counter(self) -> int | None:
        """The counter in lo's record, or None when there is none or it is malformed."""
        alias = self.rt.link(_record.LO_INDEX).get("ifalias")
        if not _record.is_ours(alias):
            return None
        try:
            return _record.parse_counter(alias)
        except ValueError:
            return None

    def give_back(self, iface: Interface, what: str) -> None:
        """Move an interface to the host under its host-side name, never half-way: it is
        renamed in the sandbox and moved under that name (a move that would clash fails
        whole), so the host never sees it under a sandbox name."""
        rt, src = self.rt, iface.src_name
        if has_link(self.host_rt(), src):
            raise NetlinkError(
                errno.EEXIST, f"{what}: the host has an interface named {src} already"
            )
        index = iface.index
        intent = _record_of(iface).doing(REMOVING)
        steps = [
            # down first: older kernels refuse to rename a link that is up (EBUSY)
            ("set down", R.set_link(index, up=False, alias=intent.alias())),
            (f"rename to {src}", R.set_link(index, name=src)),
        ]
        try:
            for (step, _), result in zip(steps, rt.batch([m for _, m in steps])):
                if isinstance(result, NetlinkError):
                    raise result.during(f"{what}: {step}") from result
            self.move_out(index, src, what)
        except NetlinkError:
            try:  # not moved: put it back as it was
                self.configure_again(iface)
            except (NetlinkError, OSError) as e:
                self.problem(f"could not put {src} back as {iface.dst_name}: {e}")
            raise

    def move_out(self, index: int, src: str, what: str) -> None:
        """Move link ``index``, named ``src`` already, to the host and clear its record
        there. A refused move raises; a record left behind is reported (``gc`` clears it
        once this process is gone)."""
        self.rt.request(R.set_link(index, netns_fd=self.host.fd), f"{what}: move to the host")
        host = self.host_rt()
        try:
            host.request(R.set_link(host.link(src).index, alias=""), f"{what}: clear its record")
        except (NetlinkError, OSError) as e:
            self.problem(f"{what}: {e}")

    def configure_again(self, iface: Interface) -> None:
        """Name, set up and record an interface of this sandbox again (after a failed move)."""
        steps = [msg for _, msg in self.configure(iface, iface.index, None)]
        steps.append(R.set_link(iface.index, alias=_record_of(iface).alias()))
        for result in self.rt.batch(steps):
            if isinstance(result, NetlinkError) and result.errno != errno.EEXIST:
                raise result

    def settle(self, link: Any, rec: Record) -> None:
        """Finish or undo what a dead process left half done on ``link``."""
        name = link.get("ifname")
        if rec.op == ADDING:
            moved = not rec.created
            self.undo_add(link.index, rec.src, rec, created=rec.created, moved=moved)
            return
        what = f"finish removing {name}"
        rt = self.rt
        try:
            if rec.created:
                rt.request(R.del_link(link.index), what)
                return
            if name != rec.src:
                rt.request(R.set_link(link.index, up=False, name=rec.src), f"{what}: rename")
            self.move_out(link.index, rec.src, what)
        except (NetlinkError, OSError) as e:
            self.problem(f"{what}: {e}")

    def drop_unborn(self, link: Any) -> None:
        """Delete a bridge or a veth (its host end with it) a dead process created and never
        got to name and record."""
        info = link.get("linkinfo")
        name = link.get("ifname")
        if info is None or info.get("kind") not in ("bridge", *_record.MADE_KINDS):
            self.problem(f"{name}: named as osl names a link it creates, but of another kind; kept")
            return
        try:
            self.rt.request(R.del_link(link.index), f"delete {name}, left by a dead process")
        except NetlinkError as e:
            self.problem(str(e))
