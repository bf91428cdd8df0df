"""An interface a sandbox took in (:class:`Interface`): its host-side and sandbox-side
names and the settings it was given; removing it and reading its counters go through its
sandbox (:mod:`osl.sandbox`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from osl.values import InterfaceStatistics

if TYPE_CHECKING:
    from osl.sandbox import Sandbox

__all__ = ["Interface"]


class Interface:
    """An interface a sandbox took in: its host-side and sandbox-side names and settings."""

    def __init__(
        self,
        sandbox: Sandbox,
        src_name: str,
        dst_name: str,
        *,
        index: int,
        address: Any = None,
        address_ipv6: Any = None,
        link_local_addresses: Iterable = (),
        routes: Iterable = (),
        bridge: bool = False,
        master: str | None = None,
        mac_address: str | None = None,
        made: str | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._index = index
        self.src_name = src_name
        self.dst_name = dst_name
        self.address = address
        self.address_ipv6 = address_ipv6
        self.link_local_addresses = list(link_local_addresses)
        self.routes = list(routes)
        self.bridge = bridge
        self.master = master
        self.mac_address = mac_address
        #: the kind of link osl created in the sandbox for it ("veth"), None if moved in
        self.made = made

    @property
    def index(self) -> int:
        """The interface's index in the sandbox."""
        return self._index

    def remove(self) -> None:
        """Give the interface back: renamed to its host-side name and moved to the host
        (a bridge or a veth osl created in the sandbox is deleted, its host end with it)."""
        self._sandbox._remove_interface(self)

    def statistics(self) -> InterfaceStatistics:
        """The interface's counters, read from IFLA_STATS64 in the sandbox."""
        s = self._sandbox._client.link_stats(self._index)
        return InterfaceStatistics(
            s.rx_bytes,
            s.rx_packets,
            s.rx_errors,
            s.rx_dropped,
            s.tx_bytes,
            s.tx_packets,
            s.tx_errors,
            s.tx_dropped,
        )

    def __repr__(self) -> str:
        return (
            f"<Interface {self.src_name}->{self.dst_name} address={self.address} "
            f"address_ipv6={self.address_ipv6} bridge={self.bridge} master={self.master}"
            + (f" made={self.made}>" if self.made else ">")
        )
