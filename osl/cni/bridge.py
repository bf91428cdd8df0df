"""The bridge plugin's work on the kernel: ADD, DEL and CHECK of one container's attachment
to a host bridge, as the reference ``bridge`` plugin does it (containernetworking/plugins,
plugins/main/bridge), over osl's own netlink client. The veth pair is created in place:
the container end is born inside ``CNI_NETNS`` under ``CNI_IFNAME``, its peer in the host.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_address, ip_interface

from osl import linkwait, sysctl
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.netlink.errors import NetlinkError
from osl.netns import NetNS

from . import spec
from .config import BridgeConf
from .spec import Call, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Protocol

    class Ipam(Protocol):
        """What ADD/DEL/CHECK ask of the IPAM: plugin.ExecIpam or hostlocal.HostLocal."""

        def ready(self) -> None:
            """Raise the CniError that would stop ADD before any change."""

        def add(self) -> dict: ...

        def delete(self) -> None: ...

        def check(self) -> None: ...


__all__ = ["add", "check", "delete"]

PORT_WAIT = 5.0  # seconds a new bridge port may take to come up (the reference: 2.55 s)
SETTLE_WAIT = 10.0  # seconds IPv6 DAD may take (the reference's SettleAddresses(10))
DEFAULT = {4: "0.0.0.0/0", 6: "::/0"}


def kernel_error(e: OSError, step: str) -> CniError:
    """A kernel refusal as code 100, its errno and the kernel's own text kept."""
    name = errno.errorcode.get(e.errno or 0, "?")
    return CniError(spec.KERNEL_REFUSED, step, f"{name} ({e.errno}): {e.strerror}")


def open_netns(path: str) -> NetNS:
    """The container's namespace at ``path``: code 3 when there is none, 4 when the path
    is not a network namespace."""
    try:
        return NetNS.open(path)
    except FileNotFoundError:
        raise CniError(
            spec.UNKNOWN_CONTAINER, f"CNI_NETNS {path} does not exist", "the container is gone"
        ) from None
    except (ValueError, OSError) as e:
        raise CniError(
            spec.INVALID_ENVIRONMENT, f"CNI_NETNS {path} is not a network namespace", str(e)
        ) from None


@contextmanager
def _clients(path: str) -> Iterator[tuple[NetNS, Client, Client]]:
    """The container's namespace at ``path`` and clients of the host and of it, closed
    after; a kernel refusal on the way out is code 100."""
    ns = open_netns(path)
    try:
        with Client() as host, Client(ns) as cont:
            yield ns, host, cont
    except NetlinkError as e:
        raise kernel_error(e, e.what) from None
    finally:
        ns.close()


def _find(rt: Client, link: str | int) -> Any:
    """The link, or None when there is none (ENODEV)."""
    try:
        return rt.link(link)
    except NetlinkError as e:
        if e.errno == errno.ENODEV:
            return None
        raise


def _kind(link: Any) -> str | None:
    info = link.get("linkinfo")
    return info.get("kind") if info is not None else None


def _mac(link: Any) -> str:
    return str(link.get("address") or "")


def _quietly(fn: Callable[[], Any], what: str) -> None:
    """Undo one step of a failed ADD; a failure here is said on stderr, not raised."""
    try:
        fn()
    except (OSError, ValueError, CniError) as e:  # the ADD's own error is the one to report
        print(f"osl-cni: {what}: {e}", file=sys.stderr)


def _sysctl_quietly(key: str, value: str) -> None:
    # the reference ignores these failures (IPv6 sysctls are absent where IPv6 is off)
    try:
        sysctl.write(key, value)
    except OSError:
        pass


# ADD -------------------------------------------------------------------------------------
def _ensure_bridge(host: Client, conf: BridgeConf) -> Any:
    """The bridge, created if missing (up, not accepting router advertisements)."""
    name = conf.bridge
    try:
        host.request(R.new_link(name, "bridge", mtu=conf.mtu), f"add bridge {name}")
    except NetlinkError as e:
        if e.errno != errno.EEXIST:
            raise kernel_error(e, f"create bridge {name}") from None
    br = host.link(name)
    if _kind(br) != "bridge":
        raise CniError(
            spec.CONFLICT,
            f"{name!r} already exists but is not a bridge",
            f"it is a {_kind(br) or 'device without a kind'}; name another bridge",
        )
    # we own the routes of this interface (as the reference does)
    _sysctl_quietly(f"net/ipv6/conf/{name}/accept_ra", "0")
    promisc = True if conf.promisc else None
    host.request(R.set_link(br.index, up=True, promisc=promisc), f"set bridge {name} up")
    return br


def _random_name() -> str:
    return "veth" + os.urandom(4).hex()


def _make_veth(host: Client, ns: NetNS, ifname: str, conf: BridgeConf) -> tuple[Any, str]:
    """The pair: ``ifname`` born in the container, a ``veth`` + 8 hex digits peer in the
    host (a new name when that one is taken). Returns the host end and its name."""
    for _ in range(10):
        host_name = _random_name()
        msg = R.new_veth(
            host_name, ifname, peer_netns_fd=ns.fd, mtu=conf.mtu, peer_address=conf.mac, txqlen=0
        )
        try:
            host.request(msg, f"add veth {host_name} peer {ifname}")
        except NetlinkError as e:
            if e.errno == errno.EEXIST and _find(host, host_name) is not None:
                continue  # the random host name is taken: draw another
            raise kernel_error(e, f"create the veth pair {host_name} / {ifname}") from None
        return host.link(host_name), host_name
    raise CniError(spec.CONFLICT, "no free veth name in 10 tries")


def _gateways(result: dict, conf: BridgeConf) -> dict[int, list]:
    """Each IP's gateway (the subnet's first address when the IPAM gave none and the bridge
    is the gateway), a default route per family when asked; the bridge addresses to set."""
    gws: dict[int, list] = {4: [], 6: []}
    have_default = {4: False, 6: False}
    routes = result.setdefault("routes", [])
    for i, ipc in enumerate(result["ips"]):
        iface = ip_interface(ipc["address"])
        v = iface.version
        gateway = ipc.get("gateway")
        if gateway is None and conf.is_gateway:
            gateway = str(iface.network.network_address + 1)
        result["ips"][i] = {"interface": 2, "address": ipc["address"]}
        if gateway is not None:
            result["ips"][i]["gateway"] = gateway
        if conf.is_default_gateway and not have_default[v]:
            have_default[v] = any(r.get("gw") and r["dst"] == DEFAULT[v] for r in routes)
            if not have_default[v]:
                route = {"dst": DEFAULT[v]}
                if gateway is not None:
                    route["gw"] = gateway
                routes.append(route)
                have_default[v] = True
        if conf.is_gateway and gateway is not None:
            gws[v].append(ip_interface(f"{gateway}/{iface.network.prefixlen}"))
    if not routes:
        del result["routes"]
    return gws


def _configure(
    ns: NetNS, cont: Client, ifname: str, index: int, result: dict, conf: BridgeConf
) -> None:
    """The container end's sysctls, addresses, state and routes (the reference's
    ConfigureIface, with its sysctls)."""
    ips = [ip_interface(ipc["address"]) for ipc in result["ips"]]
    with ns.entered():
        if conf.enable_dad:
            _sysctl_quietly(f"net/ipv6/conf/{ifname}/enhanced_dad", "1")
            _sysctl_quietly(f"net/ipv6/conf/{ifname}/accept_dad", "1")
        else:
            _sysctl_quietly(f"net/ipv6/conf/{ifname}/accept_dad", "0")
        _sysctl_quietly(f"net/ipv4/conf/{ifname}/arp_notify", "1")
        if any(a.version == 6 for a in ips):
            for dev in ("lo", ifname):
                key = f"net/ipv6/conf/{dev}/disable_ipv6"
                try:
                    if sysctl.read(key) != "0":
                        sysctl.write(key, "0")
                except OSError as e:
                    raise CniError(
                        spec.KERNEL_REFUSED, f"enable IPv6 on {dev}", f"{key}: {e}"
                    ) from None
    gw: dict[int, str] = {}
    for ipc, addr in zip(result["ips"], ips):
        broadcast = None
        if addr.version == 4 and addr.network.prefixlen < 31:
            broadcast = addr.network.broadcast_address
        try:
            cont.request(R.new_addr(index, addr, broadcast=broadcast), f"add {addr} to {ifname}")
        except NetlinkError as e:
            raise kernel_error(e, f"add address {addr} to {ifname}") from None
        if ipc.get("gateway"):
            gw.setdefault(addr.version, ipc["gateway"])
    try:
        cont.request(R.set_link(index, up=True), f"set {ifname} up")
    except NetlinkError as e:
        raise kernel_error(e, f"set {ifname} up") from None
    if 6 in gw:
        _settle(cont, index, ifname)
    for r in result.get("routes", ()):
        if "mtu" in r or "advmss" in r:
            raise CniError(
                spec.UNSUPPORTED_FIELD,
                f"route {r['dst']} asks for mtu/advmss",
                "osl-cni does not set route metrics",
            )
        dst = r["dst"]
        version = 6 if ":" in dst else 4
        via = r.get("gw") or gw.get(version)
        msg = R.route(
            dst,
            gateway=via,
            oif=index,
            scope=r.get("scope", C.RT_SCOPE_UNIVERSE),
            metric=r.get("priority"),
            table=r.get("table", C.RT_TABLE_MAIN),
            flags=C.NLM_F_REQUEST | C.NLM_F_CREATE,
        )
        try:
            cont.request(msg, f"add route {dst}")
        except NetlinkError as e:
            step = f"add route {dst}" + (f" via {via}" if via else "") + f" dev {ifname}"
            raise kernel_error(e, step) from None


def _settle(cont: Client, index: int, ifname: str) -> None:
    """Wait until no IPv6 address of the link is tentative (DAD done); code 102 if one
    failed DAD or is still tentative after SETTLE_WAIT."""
    deadline = time.monotonic() + SETTLE_WAIT
    while True:
        tentative = []
        for a in cont.addresses(index, C.AF_INET6):
            flags = a.get("flags") or a.ifa_flags
            if flags & C.IFA_F_DADFAILED:
                raise CniError(
                    spec.CONFLICT,
                    f"{a.get('address')} on {ifname} failed DAD",
                    "the address is in use",
                )
            if flags & C.IFA_F_TENTATIVE:
                tentative.append(str(a.get("address")))
        if not tentative:
            return
        if time.monotonic() > deadline:
            raise CniError(
                spec.NOT_READY,
                f"IPv6 addresses of {ifname} still tentative after {SETTLE_WAIT:g} s",
                ", ".join(tentative),
            )
        time.sleep(0.001)


def _wait_port(host: Client, index: int, name: str) -> None:
    """Wait until the new bridge port is operationally up and forwarding (a port that is
    not drops the container's first packets); code 102 after PORT_WAIT."""
    try:
        linkwait.wait_link(host, index, linkwait.forwarding, f"bridge port {name}", PORT_WAIT)
    except TimeoutError as e:
        raise CniError(spec.NOT_READY, f"bridge port {name} not up and forwarding", str(e))


def _ensure_address(host: Client, br: Any, gw: Any, force: bool) -> None:
    """The gateway address on the bridge (the reference's ensureAddr): another IPv4
    address, or an overlapping IPv6 one, is an error unless ``forceAddress``."""
    family = C.AF_INET if gw.version == 4 else C.AF_INET6
    for a in host.addresses(br.index, family):
        have = ip_interface(f"{a.get('address')}/{a.prefixlen}")
        if have == gw:
            return
        if a.get("flags", 0) & C.IFA_F_PERMANENT == 0 and have.version == 6 and have.is_link_local:
            continue
        if gw.version == 4 or have.ip in gw.network or gw.ip in have.network:
            if not force:
                raise CniError(
                    spec.CONFLICT,
                    f"{br.get('ifname')!r} already has an IP address different from {gw}",
                    f"it has {have}; set forceAddress to replace it",
                )
            host.request(R.del_addr(br.index, have), f"delete {have} from the bridge")
    broadcast = None
    if gw.version == 4 and gw.network.prefixlen < 31:
        broadcast = gw.network.broadcast_address
    try:
        host.request(R.new_addr(br.index, gw, broadcast=broadcast), f"add {gw} to the bridge")
    except NetlinkError as e:
        if e.errno != errno.EEXIST:
            raise kernel_error(e, f"add gateway address {gw} to {br.get('ifname')}") from None
    # Keep the bridge's own MAC: without an address set by hand a bridge takes its lowest
    # port's, and changes as ports come and go (br_stp_recalculate_bridge_id).
    host.request(R.set_link(br.index, address=_mac(br)), "keep the bridge's MAC")


def add(call: Call, conf: BridgeConf, ipam: Ipam) -> dict:
    """ADD: the container joins the bridge; the result (1.x shape). What can be checked
    before a change is checked first: the namespace, the interface name, the IPAM plugin."""
    with _clients(call.netns) as (ns, host, cont):
        if _find(cont, call.ifname) is not None:
            raise CniError(
                spec.CONFLICT,
                f"{call.ifname} already exists in {call.netns}",
                "a container interface of that name is there; DEL it first or name another",
            )
        if conf.ipam_type:
            ipam.ready()
        br = _ensure_bridge(host, conf)
        return _add(call, conf, ipam, host, ns, cont, br)


def _add(
    call: Call, conf: BridgeConf, ipam: Ipam, host: Client, ns: NetNS, cont: Client, br: Any
) -> dict:
    undo: list[tuple[Callable[[], Any], str]] = []
    try:
        host_end, host_name = _make_veth(host, ns, call.ifname, conf)
        undo.append((lambda: host.delete_link(host_end.index), f"delete veth {host_name}"))
        peer = cont.link(call.ifname)
        try:
            host.request(
                R.set_link(host_end.index, master=br.index, up=True), f"attach {host_name}"
            )
            if conf.hairpin:
                host.request(R.set_bridge_port(host_end.index, mode=1), "hairpin")
        except NetlinkError as e:
            raise kernel_error(e, f"attach {host_name} to bridge {conf.bridge}") from None
        _sysctl_quietly(f"net/ipv6/conf/{host_name}/accept_ra", "0")
        result: dict = {
            "interfaces": [
                {"name": conf.bridge, "mac": _mac(br)},
                {"name": host_name, "mac": _mac(host_end)},
                {"name": call.ifname, "mac": _mac(peer), "sandbox": call.netns},
            ]
        }
        if conf.ipam_type:
            # SPEC.md section 4: a failed delegated ADD is followed by its DEL too
            undo.append((ipam.delete, "release the IPAM lease"))
            got = spec.parse_result(ipam.add(), "IPAM result")
            if not got.get("ips"):
                raise CniError(spec.DELEGATE_FAILED, "IPAM plugin returned missing IP config")
            result["ips"] = got["ips"]
            if got.get("routes"):
                result["routes"] = got["routes"]
            gws = _gateways(result, conf)
            _configure(ns, cont, call.ifname, peer.index, result, conf)
            _wait_port(host, host_end.index, host_name)
            if conf.is_gateway:
                for version in (4, 6):
                    for gw in gws[version]:
                        _ensure_address(host, br, gw, conf.force_address)
                    if gws[version]:
                        _forwarding(version)
        else:
            cont.request(R.set_link(peer.index, up=True), f"set {call.ifname} up")
        # the bridge's MAC may have changed with its first port or its address
        result["interfaces"][0]["mac"] = _mac(host.link(br.index))
        result["dns"] = conf.dns
        return result
    except BaseException:
        for fn, what in reversed(undo):
            _quietly(fn, what)
        raise


def _forwarding(version: int) -> None:
    key = "net/ipv4/ip_forward" if version == 4 else "net/ipv6/conf/all/forwarding"
    try:
        if sysctl.read(key) != "1":
            sysctl.write(key, "1")
    except OSError as e:
        raise CniError(spec.KERNEL_REFUSED, "enable IP forwarding", f"{key}: {e}") from None


# DEL -------------------------------------------------------------------------------------
def delete(call: Call, conf: BridgeConf, ipam: Ipam) -> None:
    """DEL: the container's interface deleted (its veth peer goes with it), then the IPAM
    lease released. Succeeds when the namespace or the interface is already gone."""
    if call.netns:
        try:
            ns = open_netns(call.netns)
        except CniError as e:
            if e.code not in (spec.UNKNOWN_CONTAINER, spec.INVALID_ENVIRONMENT):
                raise
            ns = None  # the namespace is gone (or its mount point left empty)
        if ns is not None:
            try:
                with Client(ns) as cont:
                    link = _find(cont, call.ifname)
                    if link is not None:
                        try:
                            cont.request(R.del_link(link.index), f"delete {call.ifname}")
                        except NetlinkError as e:
                            if e.errno != errno.ENODEV:
                                raise kernel_error(e, f"delete {call.ifname}") from None
            except NetlinkError as e:
                raise kernel_error(e, e.what) from None
            finally:
                ns.close()
    if conf.ipam_type:
        ipam.delete()


# CHECK -----------------------------------------------------------------------------------
def _failed(msg: str, details: str = "") -> CniError:
    return CniError(spec.CHECK_FAILED, msg, details)


def _same_mac(said: dict, link: Any) -> None:
    """CHECK: the link's MAC is the one ``prevResult`` gives for it, when it gives one."""
    if said.get("mac") and said["mac"] != _mac(link):
        raise _failed(f"{said['name']} MAC is {_mac(link)}, prevResult says {said['mac']}")


def _link_as_said(rt: Client, said: dict, kind: str, label: str, where: str) -> Any:
    """CHECK: the link ``prevResult`` names (``said``) is there, of ``kind``, with its MAC."""
    link = _find(rt, said["name"])
    if link is None:
        raise _failed(f"{label} not found in {where}")
    if _kind(link) != kind:
        raise _failed(f"{said['name']} is not a {kind}", f"it is a {_kind(link)}")
    _same_mac(said, link)
    return link


def check(call: Call, conf: BridgeConf, ipam: Ipam) -> None:
    """CHECK: the bridge, the container's veth and its peer on the bridge, the addresses
    and routes of ``prevResult`` are all there as ADD made them (the reference's checks)."""
    if conf.ipam_type:
        ipam.check()
    prev = conf.prev_result
    if prev is None:
        raise CniError(spec.INVALID_CONFIG, "CHECK needs prevResult", "the runtime passes ADD's")
    with _clients(call.netns) as (_ns, host, cont):
        _check(call, conf, prev, host, cont)


def _check(call: Call, conf: BridgeConf, prev: dict, host: Client, cont: Client) -> None:
    interfaces = prev.get("interfaces", [])
    bridge = next((i for i in interfaces if i["name"] == conf.bridge), None)
    inside = next(
        (i for i in interfaces if i["name"] == call.ifname and i.get("sandbox") == call.netns),
        None,
    )
    if bridge is None:
        raise _failed(f"prevResult names no interface {conf.bridge} (the bridge)")
    if bridge.get("sandbox"):
        raise _failed(f"bridge {conf.bridge} should not be in a sandbox")
    br = _link_as_said(host, bridge, "bridge", f"bridge {conf.bridge}", "the host")
    promisc = bool(br.ifi_flags & C.IFF_PROMISC)
    if promisc != conf.promisc:
        raise _failed(
            f"bridge {conf.bridge} promiscuous mode is {'on' if promisc else 'off'}",
            f"promiscMode is {conf.promisc}",
        )
    if inside is None:
        raise _failed(f"prevResult names no {call.ifname} in sandbox {call.netns}")
    link = _link_as_said(cont, inside, "veth", call.ifname, call.netns)
    peer_index = link.get("link")
    found = False
    for iface in interfaces:
        if iface is bridge or iface is inside or iface.get("sandbox"):
            continue
        veth = _find(host, iface["name"])
        if veth is None:
            raise _failed(f"host interface {iface['name']} not found")
        if _kind(veth) != "veth":
            continue
        if veth.index != peer_index or veth.get("link") != link.index:
            continue
        if veth.get("master") != br.index:
            continue
        _same_mac(iface, veth)
        found = True
        break
    if not found:
        raise _failed(f"no veth on bridge {conf.bridge} is the peer of {call.ifname}")
    have = {ip_interface(f"{a.get('address')}/{a.prefixlen}") for a in cont.addresses(link.index)}
    for ipc in prev.get("ips", ()):
        want = ip_interface(ipc["address"])
        if want not in have:
            raise _failed(f"{call.ifname} lacks address {want}")
    routes = cont.routes()
    for r in prev.get("routes", ()):
        if not any(_route_matches(m, r) for m in routes):
            raise _failed(
                f"route {r['dst']}" + (f" via {r['gw']}" if r.get("gw") else "") + " not found"
            )


def _route_matches(msg: Any, want: dict) -> bool:
    dst = want["dst"]
    net = ip_interface(dst).network
    got_dst = msg.get("dst")
    if msg.dst_len != net.prefixlen:
        return False
    if net.prefixlen and (got_dst is None or ip_address(got_dst) != net.network_address):
        return False
    if msg.family != (C.AF_INET if net.version == 4 else C.AF_INET6):
        return False
    if want.get("gw"):
        gw = msg.get("gateway")
        return gw is not None and ip_address(gw) == ip_address(want["gw"])
    return True
