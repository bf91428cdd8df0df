"""Waiting for the kernel to finish a sandbox's teardown: the host ends of its veth pairs.

A destroyed sandbox's namespace is freed by the kernel once nothing holds it; the kernel's
cleanup worker then unregisters every device in it, batched across namespaces, and a veth
takes its peer in the host with it. :class:`HostEnds` finds those peers before the sandbox
goes and waits for their RTM_DELLINK on a host socket subscribed first (no polling): after
it, the host ends' names are free. It can also delete them all in one request first
(:meth:`HostEnds.delete`), which the kernel does in about half the time its namespace
cleanup takes for the same pairs.
"""

from __future__ import annotations

import errno
import random
import time

from osl.netlink import NetlinkError
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.netlink.transport import Monitor
from osl.netns import NetNS

__all__ = ["HostEnds"]


class HostEnds:
    """The host ends of the veth pairs in some sandboxes, and a watch for their deletion.
    Open it before the sandboxes go (it subscribes to the host's link events), ``add`` each
    sandbox's links, then ``wait``."""

    def __init__(self, host: NetNS):
        """Watch ``host`` (this object owns it: ``close`` closes it)."""
        self.host = host
        try:
            self._monitor = Monitor(("link",), netns=host)
        except BaseException:
            host.close()
            raise
        self._host_rt: Client | None = None
        self.indexes: set[int] = set()

    def add(self, rt: Client, ns: NetNS) -> None:
        """The host ends of the veths in ``ns`` (dumped through its client ``rt``)."""
        nsid = rt.nsid(self.host.fd)
        if nsid is None:  # the sandbox gave the host no id: no link of it has a peer there
            return
        for link in rt.links():
            info = link.get("linkinfo")
            if info is None or info.get("kind") != "veth":
                continue
            peer = link.get("link")
            if link.get("link_netnsid") == nsid and type(peer) is int and peer > 0:
                self.indexes.add(peer)

    def delete(self) -> None:
        """Delete every host end still in the host, in one request: each is put in a link
        group no host link is in, then the group is deleted (RTM_DELLINK by IFLA_GROUP),
        so the kernel unregisters all the pairs at once. Best effort: a host end this does
        not delete goes with its namespace, as it would have anyway."""
        if not self.indexes:
            return
        rt = self._rt()
        try:
            links = rt.links()
            # A host end is a veth whose peer is in another namespace. Indexes are given out
            # cyclically (net_namespace.c, dev_index_reserve), so none of these is someone
            # else's link: still, only a link that is what was found is put in the group.
            ends = [
                link.index
                for link in links
                if link.index in self.indexes
                and (link.get("linkinfo") or {}).get("kind") == "veth"
                and link.get("link_netnsid") is not None
            ]
            if not ends:
                return
            taken = {link.get("group") for link in links}
            group = 0
            while group in taken:
                group = random.randrange(1, 1 << 32)
            rt.batch([R.set_link(index, group=group) for index in ends], stop_on_error=False)
            rt.request(R.del_link_group(group), "delete the host ends")
        except NetlinkError:
            pass  # the namespaces' cleanup removes what is left; wait() sees it go

    def wait(self, timeout: float | None) -> None:
        """Return once every host end is gone; TimeoutError (ETIMEDOUT) naming what is left
        after ``timeout`` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # every deletion since the watch began is queued on the monitor: none is missed
        left = set(self.indexes)
        try:
            while left:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    left &= self._present()
                    if left:
                        raise TimeoutError(
                            errno.ETIMEDOUT,
                            f"the kernel had not removed the host ends of {len(left)} veth "
                            f"pairs (indexes {sorted(left)}) after {timeout:g} s: does a "
                            "process still hold a sandbox's namespace?",
                        )
                    break
                for event in self._monitor.events(remaining):
                    if event.type == C.RTM_DELLINK:
                        left.discard(event.index)
                    elif event.type == C.NLMSG_OVERRUN:  # events were lost: ask the kernel
                        left &= self._present()
                    if not left or (deadline is not None and time.monotonic() >= deadline):
                        break
        finally:
            self.close()

    def _rt(self) -> Client:
        if self._host_rt is None:
            self._host_rt = Client(self.host)
        return self._host_rt

    def _present(self) -> set[int]:
        """The indexes of the host ends still in the host."""
        return {link.index for link in self._rt().links()} & self.indexes

    def close(self) -> None:
        self._monitor.close()
        if self._host_rt is not None:
            self._host_rt.close()
            self._host_rt = None
        self.host.close()

    def __enter__(self) -> HostEnds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
