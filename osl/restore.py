"""Reading a sandbox back from the kernel (``open_sandbox``): what dead processes left half
done settled first, then what the records say, as a plain :class:`Snapshot` the sandbox
takes on. Records are untrusted input (``osl/record.py`` parses them); what is refused is
told to ``problem``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from osl import record as _record
from osl.interface import Interface
from osl.netlink.client import Client
from osl.plumbing import Plumbing
from osl.values import Address, Neighbor, StaticRoute

__all__ = ["Snapshot", "restore"]

#: a record on a link that cannot have come from the host (see Plumbing.from_host)
FOREIGN = "its record says osl moved it in, but it was made inside the sandbox"


class Snapshot(NamedTuple):
    """What a sandbox holds, as the kernel's records say."""

    interfaces: list[Interface]  # by index
    next: int | None  # the name counter, None when there is none
    gateway: Address | None
    gateway6: Address | None
    static_routes: list[StaticRoute]
    neighbors: list[Neighbor]
    route_oif: dict  # ("gateway", version) or a StaticRoute -> its interface index


def restore(
    sandbox: Any,
    rt: Client,
    plumbing: Plumbing,
    problem: Callable[[str], None],
    *,
    is_default: bool,
) -> Snapshot:
    """Settle, then read back, the sandbox whose namespace ``rt`` speaks to."""
    scan = _record.scan_links(rt.links())
    for text in scan.problems:
        problem(text)
    for link in scan.unborn:
        plumbing.drop_unborn(link)
    for link, rec in scan.unsettled:
        if rec.bridge or plumbing.from_host(link):
            plumbing.settle(link, rec)
        else:
            problem(f"{link.get('ifname')}: {FOREIGN}; left as it is")
    if scan.lo_down and not is_default:  # a create that died before this step
        rt.set_link(_record.LO_INDEX, up=True)
    found: dict[int, Interface] = {}
    for r in scan.recorded:
        if not (r.record.bridge or plumbing.from_host(r.link)):
            problem(f"{r.name}: {FOREIGN}; skipped")
            continue
        found[r.index] = Interface(
            sandbox,
            r.record.src,
            r.name,
            index=r.index,
            bridge=r.record.bridge,
            master=r.record.master,
            mac_address=r.mac,
            made=r.record.made,
        )
    config = _record.read_config(rt, found)
    for index, addresses in config.addresses.items():
        iface = found[index]
        for ip in addresses:
            if ip.ip.is_link_local:
                iface.link_local_addresses.append(ip)
            elif ip.version == 4 and iface.address is None:
                iface.address = ip
            elif ip.version == 6 and iface.address_ipv6 is None:
                iface.address_ipv6 = ip
            else:
                iface.link_local_addresses.append(ip)
    for index, nets in config.routes.items():
        found[index].routes.extend(nets)
    gateways: dict[int, Address] = {}
    route_oif: dict = {}
    for gw, oif in config.gateways:
        gateways[gw.version] = gw
        route_oif[("gateway", gw.version)] = oif
    static_routes = []
    for dst, gw, oif in config.static:
        static = StaticRoute(dst, gw)
        static_routes.append(static)
        route_oif[static] = oif
    neighbors = [
        Neighbor(ip, mac, found[index].src_name, family)
        for ip, mac, index, family in config.neighbors
    ]
    return Snapshot(
        sorted(found.values(), key=lambda i: i.index),
        scan.counter,
        gateways.get(4),
        gateways.get(6),
        static_routes,
        neighbors,
        route_oif,
    )
