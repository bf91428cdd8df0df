"""osl.netlink.Client against the real kernel: every operation, its errors, batches, events
and the reply checks.

Each test gets fresh network namespaces of its own (``make_ns``), keyed in the suite's tmpfs
netns dir and removed afterwards, also when the test fails. The kernel's state is checked
with iproute2 (``ip -j -n NAME ...``, ``bridge -j -n NAME ...``) as the independent oracle;
the client's own reads are checked against it, never only against themselves.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Callable

import pytest

from osl import netns
from osl.netlink import (
    NOT_SENT,
    AddrMessage,
    Client,
    LinkMessage,
    Monitor,
    NeighMessage,
    NetlinkError,
    RouteMessage,
)
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink import transport as T
from osl.netns import NetNS

pytestmark = pytest.mark.kernel

# --- fixtures and oracle helpers ------------------------------------------------------------


@dataclass
class NS:
    """A throwaway namespace: its key, its name for ``ip -n`` and a Client inside it."""

    key: str
    client: Client

    @property
    def name(self) -> str:
        return os.path.basename(self.key)

    def ip(self, *args: str) -> list:
        """``ip -j -n NAME args...``, decoded."""
        return run_json("ip", "-j", "-n", self.name, *args)

    def bridge(self, *args: str) -> list:
        return run_json("bridge", "-j", "-n", self.name, *args)

    def link(self, name: str) -> dict:
        (found,) = self.ip("-d", "link", "show", "dev", name)
        return found

    def link_names(self) -> set[str]:
        return {link["ifname"] for link in self.ip("link", "show")}


def run_json(*argv: str) -> list:
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout or "[]")


MakeNS = Callable[..., NS]


@pytest.fixture
def make_ns(new_key: Callable[[str], str]) -> Iterator[MakeNS]:
    """``make_ns()`` -> a fresh namespace with a Client; clients closed and namespaces
    removed after the test, whatever happened in it."""
    made: list[NS] = []

    def make(stem: str = "cl") -> NS:
        key = new_key(stem)
        netns.create_netns(key)
        try:
            client = Client(key)
        except BaseException:
            netns.remove_netns(key)
            raise
        ns = NS(key, client)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.client.close()
        assert netns.remove_netns(ns.key), f"namespace {ns.key} stayed busy"


@pytest.fixture
def ns(make_ns: MakeNS) -> NS:
    return make_ns()


def veth_up(ns: NS, a: str = "v0", b: str = "v1") -> None:
    ns.client.add_veth(a, b)
    ns.client.set_link(a, up=True)
    ns.client.set_link(b, up=True)


def wired(ns: NS) -> None:
    """v0 (up, 192.0.2.1/24) <-> v1 (up): a gateway 192.0.2.2 is directly reachable."""
    veth_up(ns)
    ns.client.add_address("v0", "192.0.2.1/24")


MAC = "02:00:5e:00:53:01"  # a locally administered address


# --- links ----------------------------------------------------------------------------------


def test_links_lists_what_ip_link_shows(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_bridge("br0")
    mine = {m.get("ifname"): m.index for m in ns.client.links()}
    oracle = {link["ifname"]: link["ifindex"] for link in ns.ip("link", "show")}
    assert mine == oracle
    assert set(mine) == {"lo", "v0", "v1", "br0"}
    assert all(isinstance(m, LinkMessage) for m in ns.client.links())


def test_link_by_name_and_by_index_is_the_same_link(ns: NS) -> None:
    veth_up(ns)
    oracle = ns.link("v0")
    by_name = ns.client.link("v0")
    by_index = ns.client.link(oracle["ifindex"])
    assert by_name.index == by_index.index == oracle["ifindex"]
    assert by_name.get("ifname") == by_index.get("ifname") == "v0"
    assert by_name.get("address") == oracle["address"]
    assert by_name.get("mtu") == oracle["mtu"]
    assert by_name.ifi_flags & C.IFF_UP


def test_index_resolves_names_and_passes_indexes_through(ns: NS) -> None:
    veth_up(ns)
    assert ns.client.index("v1") == ns.link("v1")["ifindex"]
    assert ns.client.index("lo") == 1
    assert ns.client.index(7) == 7  # an index is not looked up
    with pytest.raises(ValueError):
        ns.client.index(0)


def test_add_veth_creates_both_ends_as_peers(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    v0, v1 = ns.link("v0"), ns.link("v1")
    assert v0["linkinfo"]["info_kind"] == v1["linkinfo"]["info_kind"] == "veth"
    assert v0["link"] == "v1" and v1["link"] == "v0"
    assert ns.client.link("v0").get("link") == v1["ifindex"]


@pytest.mark.parametrize("how", ["path", "NetNS", "fd"])
def test_add_veth_with_peer_netns_has_the_peer_born_there(make_ns: MakeNS, how: str) -> None:
    a, b = make_ns("a"), make_ns("b")
    with NetNS.open(b.key) as target:
        spec = {"path": b.key, "NetNS": target, "fd": target.fd}[how]
        a.client.add_veth("v0", "peer0", peer_netns=spec)
        assert not target.closed  # the caller's NetNS / fd is left open
    assert "v0" in a.link_names() and "peer0" not in a.link_names()
    assert "peer0" in b.link_names()
    assert b.link("peer0")["linkinfo"]["info_kind"] == "veth"
    assert b.client.link("peer0").get("ifname") == "peer0"


def test_add_bridge(ns: NS) -> None:
    ns.client.add_bridge("br0")
    assert ns.link("br0")["linkinfo"]["info_kind"] == "bridge"
    assert ns.client.link("br0").get("linkinfo")["kind"] == "bridge"


def test_add_macvlan_on_a_parent(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_macvlan("mv0", "v0", mode="private")
    mv = ns.link("mv0")
    assert mv["linkinfo"]["info_kind"] == "macvlan"
    assert mv["linkinfo"]["info_data"]["mode"] == "private"
    assert mv["link"] == "v0"


def test_add_vxlan_with_vni_port_local_and_learning_off(ns: NS) -> None:
    ns.client.add_vxlan("vx0", 4242, port=4790, local="192.0.2.1", learning=False)
    data = ns.link("vx0")["linkinfo"]["info_data"]
    assert data["id"] == 4242
    assert data["port"] == 4790
    assert data["local"] == "192.0.2.1"
    assert data["learning"] is False
    mine = ns.client.link("vx0").get("linkinfo")["data"]
    assert mine["id"] == 4242 and mine["port"] == 4790 and mine["learning"] == 0


def test_add_vxlan_learning_is_on_by_default_and_parent_is_set(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_vxlan("vx1", 7, parent="v0", local="2001:db8::1")
    data = ns.link("vx1")["linkinfo"]["info_data"]
    assert data["id"] == 7
    assert data["learning"] is True
    assert data["local6"] == "2001:db8::1"
    assert data["link"] == "v0"


def test_add_vlan_is_refused_by_this_kernel_which_has_no_vlan_driver(ns: NS) -> None:
    # The test kernel is built without 8021q: the honest test is the kernel's refusal.
    veth_up(ns)
    before = ns.link_names()
    with pytest.raises(NetlinkError) as info:
        ns.client.add_vlan("v0.10", "v0", 10)
    assert info.value.errno == errno.EOPNOTSUPP
    assert info.value.kernel_message == "Unknown device type"
    assert "add vlan v0.10" in str(info.value)
    assert ns.link_names() == before


def test_set_link_up_and_down(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    assert "UP" not in ns.link("v0")["flags"]
    ns.client.set_link("v0", up=True)
    assert "UP" in ns.link("v0")["flags"]
    assert ns.client.link("v0").ifi_flags & C.IFF_UP
    ns.client.set_link("v0", up=False)
    assert "UP" not in ns.link("v0")["flags"]
    assert not ns.client.link("v0").ifi_flags & C.IFF_UP


def test_set_link_renames_mtu_and_mac(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    index = ns.client.index("v0")
    ns.client.set_link("v0", name="eth0", mtu=1400, address=MAC.upper())
    link = ns.link("eth0")
    assert link["ifindex"] == index
    assert link["mtu"] == 1400
    assert link["address"] == MAC
    assert "v0" not in ns.link_names()
    mine = ns.client.link(index)
    assert (mine.get("ifname"), mine.get("mtu"), mine.get("address")) == ("eth0", 1400, MAC)


def test_set_link_master_and_nomaster(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    ns.client.add_bridge("br0")
    ns.client.set_link("v0", master="br0")
    assert ns.link("v0")["master"] == "br0"
    assert ns.client.link("v0").get("master") == ns.client.index("br0")
    ns.client.set_link("v0", master=False)
    assert "master" not in ns.link("v0")
    assert ns.client.link("v0").get("master") is None


@pytest.mark.parametrize("how", ["path", "NetNS"])
def test_set_link_netns_moves_the_link(make_ns: MakeNS, how: str) -> None:
    a, b = make_ns("a"), make_ns("b")
    a.client.add_veth("v0", "v1")
    with NetNS.open(b.key) as target:
        a.client.set_link("v1", netns=b.key if how == "path" else target)
    assert "v1" not in a.link_names()
    assert "v1" in b.link_names()
    assert b.client.link("v1").get("ifname") == "v1"


def test_set_link_netns_with_a_new_name(make_ns: MakeNS) -> None:
    a, b = make_ns("a"), make_ns("b")
    a.client.add_veth("v0", "v1")
    a.client.set_link("v1", netns=b.key, name="eth0")
    assert "eth0" in b.link_names() and "v1" not in b.link_names()


def test_delete_link_removes_it_and_its_veth_peer(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    ns.client.add_bridge("br0")
    ns.client.delete_link("v0")
    ns.client.delete_link(ns.client.index("br0"))
    assert ns.link_names() == {"lo"}


def test_delete_group_deletes_every_link_of_the_group_and_no_other(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    ns.client.add_veth("v2", "v3")
    ns.client.add_bridge("br0")
    for name in ("v0", "br0"):
        ns.client.request(R.set_link(ns.client.index(name), group=7))
    ns.client.delete_group(7)
    assert ns.link_names() == {"lo", "v2", "v3"}  # v1 went with its peer v0
    with pytest.raises(NetlinkError) as e:
        ns.client.delete_group(7)
    assert e.value.errno == errno.ENODEV


def test_open_clients_hold_memory_only_for_what_they_received(ns: NS) -> None:
    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = resident()
    clients = [Client(ns.key) for _ in range(64)]  # each with a 1 MiB receive buffer
    try:
        for c in clients:
            c.links()
            c.addresses()
        grown = resident() - before
    finally:
        for c in clients:
            c.close()
    # a zeroed buffer per socket would be 64 MiB resident; touched pages only, a few each
    assert grown < 16 << 20, f"{grown >> 20} MiB resident for 64 open clients"


def test_link_stats_count_real_traffic_and_match_ip(make_ns: MakeNS) -> None:
    a, b = make_ns("a"), make_ns("b")
    a.client.add_veth("v0", "w0", peer_netns=b.key)
    a.client.add_address("v0", "192.0.2.1/24")
    b.client.add_address("w0", "192.0.2.2/24")
    a.client.set_link("v0", up=True)
    b.client.set_link("w0", up=True)
    tx0, rx0 = a.client.link_stats("v0"), b.client.link_stats("w0")

    count, payload = 20, b"x" * 500
    with NetNS.open(b.key) as nb, nb.entered():
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with NetNS.open(a.key) as na, na.entered():
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("192.0.2.2", 0))
        receiver.settimeout(10)
        for _ in range(count):
            sender.sendto(payload, receiver.getsockname())
        got = [receiver.recv(2048) for _ in range(count)]
    assert got == [payload] * count

    tx1, rx1 = a.client.link_stats("v0"), b.client.link_stats("w0")
    assert tx1.tx_packets - tx0.tx_packets >= count
    assert tx1.tx_bytes - tx0.tx_bytes >= count * len(payload)
    assert rx1.rx_packets - rx0.rx_packets >= count
    assert rx1.rx_bytes - rx0.rx_bytes >= count * len(payload)

    # the oracle's reading lies between two of ours (other traffic, e.g. ARP, may happen)
    for side, name, direction in ((a, "v0", "tx"), (b, "w0", "rx")):
        before = side.client.link_stats(name)
        (seen,) = side.ip("-s", "link", "show", "dev", name)
        after = side.client.link_stats(name)
        for counter in ("packets", "bytes"):
            attr = f"{direction}_{counter}"
            assert (
                getattr(before, attr) <= seen["stats64"][direction][counter] <= getattr(after, attr)
            )


# --- addresses ------------------------------------------------------------------------------


def addr_info(ns: NS, dev: str) -> list[dict]:
    (link,) = ns.ip("addr", "show", "dev", dev)
    return link["addr_info"]


def test_add_ipv4_address_with_label_and_broadcast(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "192.0.2.10/24", label="v0:web", broadcast="192.0.2.255")
    (info,) = [a for a in addr_info(ns, "v0") if a["family"] == "inet"]
    assert (info["local"], info["prefixlen"]) == ("192.0.2.10", 24)
    assert info["label"] == "v0:web"
    assert info["broadcast"] == "192.0.2.255"
    (mine,) = ns.client.addresses("v0", family=C.AF_INET)
    assert mine.get("local") == ip_address("192.0.2.10")
    assert mine.get("label") == "v0:web"
    assert mine.get("broadcast") == ip_address("192.0.2.255")


def test_add_ipv6_address_nodad_is_not_tentative(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "2001:db8::10/64", nodad=True)
    (info,) = [a for a in addr_info(ns, "v0") if a["local"] == "2001:db8::10"]
    assert info.get("nodad") is True
    assert "tentative" not in info
    (mine,) = [
        a
        for a in ns.client.addresses("v0", family=C.AF_INET6)
        if a.get("address") == ip_address("2001:db8::10")
    ]
    assert mine.get("flags") & C.IFA_F_NODAD
    assert not mine.get("flags") & C.IFA_F_TENTATIVE


def test_delete_address(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "192.0.2.10/24")
    ns.client.add_address("v0", "2001:db8::10/64", nodad=True)
    ns.client.delete_address("v0", "192.0.2.10/24")
    ns.client.delete_address("v0", "2001:db8::10/64")
    locals_ = {a["local"] for a in addr_info(ns, "v0")}
    assert "192.0.2.10" not in locals_ and "2001:db8::10" not in locals_


def test_addresses_all_per_interface_and_per_family(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "192.0.2.10/24")
    ns.client.add_address("v0", "2001:db8::10/64", nodad=True)
    ns.client.add_address("v1", "198.51.100.10/24")
    ns.client.add_address("v1", "2001:db8:1::10/64", nodad=True)

    def key(a: AddrMessage) -> tuple:
        return (a.index, str(a.get("address")), a.prefixlen)

    def oracle(*opts: str, dev: str | None = None) -> set:
        where = ["dev", dev] if dev else []
        return {
            (link["ifindex"], info["local"], info["prefixlen"])
            for link in ns.ip(*opts, "addr", "show", *where)
            for info in link["addr_info"]
        }

    assert {key(a) for a in ns.client.addresses()} == oracle()
    assert {key(a) for a in ns.client.addresses("v0")} == oracle(dev="v0")
    assert {key(a) for a in ns.client.addresses(family=C.AF_INET)} == oracle("-4")
    assert {key(a) for a in ns.client.addresses("v1", family=C.AF_INET6)} == oracle("-6", dev="v1")
    assert {key(a) for a in ns.client.addresses("v1", family=C.AF_INET)} == {
        (ns.client.index("v1"), "198.51.100.10", 24)
    }


# --- routes ---------------------------------------------------------------------------------


def route_of(ns: NS, dst: str, *args: str) -> dict:
    """The one route to ``dst`` that ``ip [-6] route show [table T]`` lists."""
    family = [a for a in args if a in ("-4", "-6")]
    rest = [a for a in args if a not in ("-4", "-6")]
    (found,) = [r for r in ns.ip(*family, "route", "show", *rest) if r["dst"] == dst]
    return found


def routes_in_table(ns: NS, table: int) -> list[dict]:
    """Routes of one table by ``ip route show table all`` (a missing table: none)."""
    return [r for r in ns.ip("route", "show", "table", "all") if r.get("table") == str(table)]


def test_add_route_via_gateway(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
    r = route_of(ns, "203.0.113.0/24")
    assert (r["gateway"], r["dev"]) == ("192.0.2.2", "v0")


def test_add_default_route_via_gateway(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("default", gateway="192.0.2.2")
    r = route_of(ns, "default")
    assert r["gateway"] == "192.0.2.2"


def test_add_dev_only_route_has_link_scope(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_route("198.51.100.0/24", oif="v0")
    r = route_of(ns, "198.51.100.0/24")
    assert (r["dev"], r["scope"]) == ("v0", "link")
    assert "gateway" not in r


def test_add_route_with_metric_table_and_prefsrc(ns: NS) -> None:
    wired(ns)
    ns.client.add_route(
        "203.0.113.0/24", gateway="192.0.2.2", metric=77, table=100, prefsrc="192.0.2.1"
    )
    r = route_of(ns, "203.0.113.0/24", "table", "100")
    assert (r["gateway"], r["metric"], r["prefsrc"]) == ("192.0.2.2", 77, "192.0.2.1")
    assert not [x for x in ns.ip("route", "show") if x["dst"] == "203.0.113.0/24"]
    (mine,) = [m for m in ns.client.routes(table=100) if m.get("dst") == ip_address("203.0.113.0")]
    assert mine.table_id == 100
    assert mine.get("priority") == 77
    assert mine.get("prefsrc") == ip_address("192.0.2.1")


def test_add_route_in_a_table_above_255(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2", table=1000)
    assert route_of(ns, "203.0.113.0/24", "table", "1000")["gateway"] == "192.0.2.2"
    assert [m.table_id for m in ns.client.routes(table=1000)] == [1000]


def test_add_multipath_route_with_weights(ns: NS) -> None:
    wired(ns)
    ns.client.add_route(
        "203.0.113.0/24", multipath=[("192.0.2.2", "v0", 1), ("192.0.2.3", "v0", 3)]
    )
    r = route_of(ns, "203.0.113.0/24")
    hops = {(h["gateway"], h["dev"], h["weight"]) for h in r["nexthops"]}
    assert hops == {("192.0.2.2", "v0", 1), ("192.0.2.3", "v0", 3)}
    (mine,) = [m for m in ns.client.routes() if m.get("dst") == ip_address("203.0.113.0")]
    assert sorted((str(h.attrs["gateway"]), h.hops + 1) for h in mine.get("multipath")) == [
        ("192.0.2.2", 1),
        ("192.0.2.3", 3),
    ]


def test_add_blackhole_route(ns: NS) -> None:
    ns.client.add_route("203.0.113.0/24", rtm_type="blackhole")
    r = route_of(ns, "203.0.113.0/24")
    assert r["type"] == "blackhole"
    (mine,) = [m for m in ns.client.routes() if m.get("dst") == ip_address("203.0.113.0")]
    assert mine.rtm_type == C.RTN_BLACKHOLE


def test_add_ipv6_route_via_gateway(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "2001:db8::1/64", nodad=True)
    ns.client.add_route("2001:db8:5::/64", gateway="2001:db8::2")
    r = route_of(ns, "2001:db8:5::/64", "-6")
    assert (r["gateway"], r["dev"]) == ("2001:db8::2", "v0")


def test_replace_route_changes_the_gateway_in_place(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
    ns.client.replace_route("203.0.113.0/24", gateway="192.0.2.3")
    r = route_of(ns, "203.0.113.0/24")  # exactly one such route
    assert r["gateway"] == "192.0.2.3"


def test_replace_route_creates_a_missing_route(ns: NS) -> None:
    wired(ns)
    ns.client.replace_route("203.0.113.0/24", gateway="192.0.2.2")
    assert route_of(ns, "203.0.113.0/24")["gateway"] == "192.0.2.2"


def test_delete_route(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
    ns.client.add_route("198.51.100.0/24", oif="v0", table=100)
    ns.client.delete_route("203.0.113.0/24")
    ns.client.delete_route("198.51.100.0/24", oif="v0", table=100)
    assert not [r for r in ns.ip("route", "show") if r["dst"] == "203.0.113.0/24"]
    assert routes_in_table(ns, 100) == []


@pytest.mark.parametrize("dst", ["203.0.113.0/24", "2001:db8:9::/64"])
def test_delete_route_without_a_type_deletes_a_blackhole_route(ns: NS, dst: str) -> None:
    # as `ip route del DST`: a delete that names no type matches a route of any type
    ns.client.add_route(dst, rtm_type="blackhole")
    ns.client.delete_route(dst)
    assert not [r for r in ns.ip("route", "show", "table", "all") if r["dst"] == dst]


def test_delete_route_of_a_given_type_leaves_other_types(ns: NS) -> None:
    ns.client.add_route("203.0.113.0/24", rtm_type="blackhole")
    with pytest.raises(NetlinkError) as info:
        ns.client.delete_route("203.0.113.0/24", rtm_type="unreachable")
    assert info.value.errno == errno.ESRCH
    assert route_of(ns, "203.0.113.0/24")["type"] == "blackhole"
    ns.client.delete_route("203.0.113.0/24", rtm_type="blackhole")
    assert not [r for r in ns.ip("route", "show") if r["dst"] == "203.0.113.0/24"]


def test_get_route_looks_up_the_oif_and_gateway(ns: NS) -> None:
    wired(ns)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
    found = ns.client.get_route("203.0.113.9")
    (oracle,) = ns.ip("route", "get", "203.0.113.9")
    assert isinstance(found, RouteMessage)
    assert found.get("oif") == ns.client.index("v0") == ns.link(oracle["dev"])["ifindex"]
    assert found.get("gateway") == ip_address(oracle["gateway"]) == ip_address("192.0.2.2")
    direct = ns.client.get_route("192.0.2.77")
    assert direct.get("oif") == ns.client.index("v0")
    assert direct.get("gateway") is None


def test_get_route_for_ipv6(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "2001:db8::1/64", nodad=True)
    ns.client.add_route("2001:db8:5::/64", gateway="2001:db8::2")
    found = ns.client.get_route("2001:db8:5::9")
    (oracle,) = ns.ip("-6", "route", "get", "2001:db8:5::9")
    assert found.family == C.AF_INET6
    assert found.get("gateway") == ip_address(oracle["gateway"]) == ip_address("2001:db8::2")
    assert found.get("oif") == ns.link(oracle["dev"])["ifindex"] == ns.client.index("v0")


def test_get_route_to_an_unroutable_destination_is_enetunreach(ns: NS) -> None:
    with pytest.raises(NetlinkError) as info:
        ns.client.get_route("203.0.113.9")
    assert info.value.errno == errno.ENETUNREACH
    assert "look up route to 203.0.113.9" in str(info.value)


def test_routes_per_table_and_family_match_ip(ns: NS) -> None:
    wired(ns)
    ns.client.add_address("v0", "2001:db8::1/64", nodad=True)
    ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
    ns.client.add_route("198.51.100.0/24", gateway="192.0.2.2", table=100)
    ns.client.add_route("2001:db8:5::/64", gateway="2001:db8::2", table=100)

    def key(m: RouteMessage) -> str:
        return "default" if not m.dst_len else f"{m.get('dst')}/{m.dst_len}"

    def oracle(*args: str) -> list[str]:
        return sorted(
            r["dst"] if r["dst"] == "default" or "/" in r["dst"] else f"{r['dst']}/32"
            for r in ns.ip(*args, "route", "show", "table", args and "100" or "main")
        )

    assert sorted(key(m) for m in ns.client.routes(family=C.AF_INET)) == oracle()
    assert sorted(key(m) for m in ns.client.routes(family=C.AF_INET, table=100)) == [
        "198.51.100.0/24"
    ]
    assert sorted(key(m) for m in ns.client.routes(family=C.AF_INET6, table=100)) == [
        "2001:db8:5::/64"
    ]
    both = ns.client.routes(table=100)
    assert {m.family for m in both} == {C.AF_INET, C.AF_INET6}
    assert all(m.table_id == 100 for m in both)
    every = ns.client.routes(table=None)
    assert {m.table_id for m in every} >= {C.RT_TABLE_MAIN, C.RT_TABLE_LOCAL, 100}
    assert all(m.family == C.AF_INET6 for m in ns.client.routes(family=C.AF_INET6))


# --- neighbors ------------------------------------------------------------------------------


def neigh_of(ns: NS, dst: str) -> dict:
    (found,) = [n for n in ns.ip("neigh", "show") if n["dst"] == dst]
    return found


def test_add_neighbors_v4_v6_with_states(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_neighbor("192.0.2.5", "02:00:5E:00:53:05", link="v0")
    ns.client.add_neighbor("192.0.2.6", "02:00:5e:00:53:06", link="v0", state="stale")
    ns.client.add_neighbor("2001:db8::7", "02:00:5e:00:53:07", link="v0", state=C.NUD_REACHABLE)
    assert neigh_of(ns, "192.0.2.5")["lladdr"] == "02:00:5e:00:53:05"
    assert neigh_of(ns, "192.0.2.5")["state"] == ["PERMANENT"]
    assert neigh_of(ns, "192.0.2.6")["state"] == ["STALE"]
    n7 = neigh_of(ns, "2001:db8::7")
    assert (n7["dev"], n7["lladdr"], n7["state"]) == ("v0", "02:00:5e:00:53:07", ["REACHABLE"])
    (mine,) = [n for n in ns.client.neighbors("v0") if n.get("dst") == ip_address("192.0.2.5")]
    assert isinstance(mine, NeighMessage)
    assert (mine.state, mine.get("lladdr")) == (C.NUD_PERMANENT, "02:00:5e:00:53:05")


def test_add_existing_neighbor_is_eexist_and_replace_changes_it(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_neighbor("192.0.2.5", "02:00:5e:00:53:05", link="v0")
    with pytest.raises(NetlinkError) as info:
        ns.client.add_neighbor("192.0.2.5", "02:00:5e:00:53:99", link="v0")
    assert info.value.errno == errno.EEXIST
    assert "add neighbor 192.0.2.5" in str(info.value)
    ns.client.replace_neighbor("192.0.2.5", "02:00:5e:00:53:99", link="v0")
    assert neigh_of(ns, "192.0.2.5")["lladdr"] == "02:00:5e:00:53:99"
    ns.client.replace_neighbor("192.0.2.8", "02:00:5e:00:53:08", link="v0")  # creates
    assert neigh_of(ns, "192.0.2.8")["lladdr"] == "02:00:5e:00:53:08"


def test_delete_neighbor(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_neighbor("192.0.2.5", "02:00:5e:00:53:05", link="v0")
    ns.client.add_neighbor("2001:db8::5", "02:00:5e:00:53:05", link="v0")
    ns.client.delete_neighbor("192.0.2.5", link="v0")
    ns.client.delete_neighbor("2001:db8::5", "02:00:5e:00:53:05", link="v0")
    assert not [n for n in ns.ip("neigh", "show") if n["dst"] in ("192.0.2.5", "2001:db8::5")]
    with pytest.raises(NetlinkError) as info:
        ns.client.delete_neighbor("192.0.2.5", link="v0")
    assert info.value.errno == errno.ENOENT


def test_neighbors_per_link_and_family_match_ip(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_neighbor("192.0.2.5", "02:00:5e:00:53:05", link="v0")
    ns.client.add_neighbor("2001:db8::5", "02:00:5e:00:53:05", link="v0")
    ns.client.add_neighbor("192.0.2.6", "02:00:5e:00:53:06", link="v1")
    ours = ("192.0.2.", "2001:db8:")  # the kernel adds ff02::* entries of its own, any time
    v0, v1 = ns.client.index("v0"), ns.client.index("v1")

    def mine(**kw: object) -> set:
        found = {(n.index, str(n.get("dst"))) for n in ns.client.neighbors(**kw)}
        return {(i, d) for i, d in found if d.startswith(ours)}

    def oracle(*opts: str) -> set:
        found = {(ns.link(n["dev"])["ifindex"], n["dst"]) for n in ns.ip(*opts, "neigh", "show")}
        return {(i, d) for i, d in found if d.startswith(ours)}

    assert mine() == oracle() == {(v0, "192.0.2.5"), (v0, "2001:db8::5"), (v1, "192.0.2.6")}
    assert mine(family=C.AF_INET) == oracle("-4") == {(v0, "192.0.2.5"), (v1, "192.0.2.6")}
    assert mine(family=C.AF_INET6) == oracle("-6") == {(v0, "2001:db8::5")}
    assert mine(link="v0", family=C.AF_INET) == {(v0, "192.0.2.5")}
    assert mine(link="v1") == {(v1, "192.0.2.6")}
    assert {n.index for n in ns.client.neighbors(link="v1")} == {v1}
    assert all(n.family == C.AF_INET6 for n in ns.client.neighbors(family=C.AF_INET6))


def fdb_of(ns: NS, dev: str, mac: str) -> list[dict]:
    return [e for e in ns.bridge("fdb", "show", "dev", dev) if e["mac"] == mac]


def test_fdb_entry_with_ntf_self_on_a_vxlan_with_remote_dst(ns: NS) -> None:
    ns.client.add_vxlan("vx0", 42, local="192.0.2.1", learning=False)
    ns.client.add_neighbor(
        "198.51.100.8", MAC, link="vx0", family=C.AF_BRIDGE, ndm_flags=C.NTF_SELF
    )
    ns.client.add_neighbor(
        "198.51.100.7",
        "00:00:00:00:00:00",
        link="vx0",
        family=C.AF_BRIDGE,
        ndm_flags=C.NTF_SELF,
    )
    (entry,) = fdb_of(ns, "vx0", MAC)
    assert entry["dst"] == "198.51.100.8"
    assert "self" in entry["flags"]
    assert entry["state"] == "permanent"
    (flood,) = fdb_of(ns, "vx0", "00:00:00:00:00:00")
    assert flood["dst"] == "198.51.100.7"
    (mine,) = [n for n in ns.client.neighbors("vx0", family=C.AF_BRIDGE) if n.get("lladdr") == MAC]
    assert mine.get("dst") == ip_address("198.51.100.8")
    assert mine.ndm_flags & C.NTF_SELF

    ns.client.delete_neighbor(
        "198.51.100.8", MAC, link="vx0", family=C.AF_BRIDGE, ndm_flags=C.NTF_SELF
    )
    assert fdb_of(ns, "vx0", MAC) == []


def test_fdb_entry_with_ntf_master_on_a_bridge_port(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_bridge("br0")
    ns.client.set_link("v0", master="br0")
    ns.client.add_neighbor(None, MAC, link="v0", family=C.AF_BRIDGE, ndm_flags=C.NTF_MASTER)
    (entry,) = fdb_of(ns, "v0", MAC)
    assert entry["master"] == "br0"
    assert "self" not in entry["flags"]
    assert entry["state"] == "permanent"
    (mine,) = [n for n in ns.client.neighbors("v0", family=C.AF_BRIDGE) if n.get("lladdr") == MAC]
    assert mine.get("master") == ns.client.index("br0")
    ns.client.delete_neighbor(None, MAC, link="v0", family=C.AF_BRIDGE, ndm_flags=C.NTF_MASTER)
    assert fdb_of(ns, "v0", MAC) == []


# --- events ---------------------------------------------------------------------------------


def test_monitor_sees_link_address_route_and_neighbor_changes(make_ns: MakeNS) -> None:
    ns = make_ns()
    with Monitor(("link", "address", "route", "neighbor"), netns=ns.key) as mon:
        other = Client(ns.key)  # changes come from another socket than the monitor's
        with other:
            other.add_veth("v0", "v1")
            other.set_link("v0", up=True)
            other.set_link("v1", up=True)
            other.add_address("v0", "192.0.2.1/24")
            other.add_route("203.0.113.0/24", gateway="192.0.2.2")
            other.add_neighbor("192.0.2.5", MAC, link="v0")
        wanted = {"link", "address", "route", "neighbor"}
        seen: set[str] = set()
        for event in mon.events(timeout=5):
            if isinstance(event, LinkMessage) and event.get("ifname") == "v0":
                assert event.type == C.RTM_NEWLINK
                seen.add("link")
            elif isinstance(event, AddrMessage) and event.get("local") == ip_address("192.0.2.1"):
                assert event.type == C.RTM_NEWADDR
                seen.add("address")
            elif isinstance(event, RouteMessage) and event.get("dst") == ip_address("203.0.113.0"):
                assert event.type == C.RTM_NEWROUTE
                assert event.get("gateway") == ip_address("192.0.2.2")
                seen.add("route")
            elif isinstance(event, NeighMessage) and event.get("dst") == ip_address("192.0.2.5"):
                assert event.type == C.RTM_NEWNEIGH
                assert event.get("lladdr") == MAC
                seen.add("neighbor")
            if seen == wanted:
                break
    assert seen == wanted


def test_monitor_only_sees_its_groups(make_ns: MakeNS) -> None:
    ns = make_ns()
    with Monitor(("route",), netns=ns.key) as mon:
        wired(ns)
        ns.client.add_route("203.0.113.0/24", gateway="192.0.2.2")
        events = []
        for event in mon.events(timeout=5):
            events.append(event)
            if isinstance(event, RouteMessage) and event.get("dst") == ip_address("203.0.113.0"):
                break
    assert events and all(isinstance(e, RouteMessage) for e in events)


def test_monitor_reports_an_overrun_when_events_were_lost(make_ns: MakeNS) -> None:
    ns = make_ns()
    wired(ns)
    with Monitor(("route",), netns=ns.key) as mon:
        mon._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # overrun quickly
        msgs = [R.route(f"198.51.100.{i}/32", gateway="192.0.2.2") for i in range(200)]
        assert ns.client.batch(msgs) == [None] * 200
        events = list(mon.events(timeout=1))
    assert events[0].type == C.NLMSG_OVERRUN  # ENOBUFS, yielded, not raised
    assert len(events) < 200


def test_monitor_refuses_unknown_groups() -> None:
    with pytest.raises(ValueError, match="unknown event group"):
        Monitor(("links",))


# --- error paths ----------------------------------------------------------------------------


def test_missing_interface_is_enodev_with_the_kernels_text(ns: NS) -> None:
    with pytest.raises(NetlinkError) as info:
        ns.client.add_address(999, "192.0.2.1/24")
    e = info.value
    assert e.errno == errno.ENODEV
    assert e.kernel_message == "ipv4: Device not found"
    assert e.strerror.startswith("add address 192.0.2.1/24 to 999: ")
    assert "ipv4: Device not found" in str(e)
    with pytest.raises(NetlinkError) as info6:
        ns.client.add_address(999, "2001:db8::1/64")
    assert info6.value.errno == errno.ENODEV
    assert info6.value.kernel_message == "ipv6: Unable to find the interface"


@pytest.mark.parametrize(
    "call, what",
    [
        (lambda c: c.link(999), "get link 999"),
        (lambda c: c.set_link(999, up=True), "set link 999"),
        (lambda c: c.delete_link(999), "delete link 999"),
        (lambda c: c.add_route("203.0.113.0/24", oif=999), "add route 203.0.113.0/24"),
        (
            lambda c: c.add_neighbor("192.0.2.5", MAC, link=999),
            "add neighbor 192.0.2.5 on 999",
        ),
    ],
)
def test_missing_interface_index_is_enodev_naming_the_operation(
    ns: NS, call: Callable[[Client], object], what: str
) -> None:
    with pytest.raises(NetlinkError) as info:
        call(ns.client)
    assert info.value.errno == errno.ENODEV
    assert info.value.strerror.startswith(what + ": ")


def test_missing_interface_name_is_enodev_naming_the_link(ns: NS) -> None:
    with pytest.raises(NetlinkError) as info:
        ns.client.link("nope0")
    assert info.value.errno == errno.ENODEV
    assert "'nope0'" in str(info.value)
    assert isinstance(info.value, OSError)


def test_missing_interface_name_error_names_the_callers_operation(ns: NS) -> None:
    with pytest.raises(NetlinkError) as info:
        ns.client.add_address("nope0", "192.0.2.1/24")
    assert info.value.errno == errno.ENODEV
    assert "add address" in str(info.value)


def test_duplicate_address_is_eexist_with_the_kernels_text(ns: NS) -> None:
    veth_up(ns)
    ns.client.add_address("v0", "192.0.2.1/24")
    with pytest.raises(NetlinkError) as info:
        ns.client.add_address("v0", "192.0.2.1/24")
    e = info.value
    assert e.errno == errno.EEXIST
    assert e.kernel_message == "ipv4: Address already assigned"
    assert e.strerror.startswith("add address 192.0.2.1/24 to 'v0': ")
    assert e.request is not None and e.request.type == C.RTM_NEWADDR


def test_deleting_a_missing_address_has_the_kernels_text(ns: NS) -> None:
    veth_up(ns)
    with pytest.raises(NetlinkError) as info:
        ns.client.delete_address("v0", "192.0.2.99/24")
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert info.value.kernel_message == "ipv4: Address not found"
    assert "delete address 192.0.2.99/24" in str(info.value)


@pytest.mark.parametrize(
    "dst, gateway, setup",
    [
        ("203.0.113.0/24", "192.0.2.2", "192.0.2.1/24"),
        ("2001:db8:5::/64", "2001:db8::2", "2001:db8::1/64"),
    ],
)
def test_duplicate_route_is_eexist(ns: NS, dst: str, gateway: str, setup: str) -> None:
    veth_up(ns)
    ns.client.add_address("v0", setup, nodad=True)
    ns.client.add_route(dst, gateway=gateway)
    with pytest.raises(NetlinkError) as info:
        ns.client.add_route(dst, gateway=gateway)
    assert info.value.errno == errno.EEXIST
    assert info.value.strerror.startswith(f"add route {dst}: ")
    assert len([r for r in ns.ip("route", "show", "table", "all") if r["dst"] == dst]) == 1


def test_unreachable_gateway_is_enetunreach_with_the_kernels_text(ns: NS) -> None:
    wired(ns)
    with pytest.raises(NetlinkError) as info:
        ns.client.add_route("203.0.113.0/24", gateway="198.51.100.1")
    e = info.value
    assert e.errno == errno.ENETUNREACH
    assert e.kernel_message == "Nexthop has invalid gateway"
    assert e.strerror.startswith("add route 203.0.113.0/24: ")
    assert not [r for r in ns.ip("route", "show") if r["dst"] == "203.0.113.0/24"]


def test_mtu_below_minimum_names_the_offending_attribute(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    with pytest.raises(NetlinkError) as info:
        ns.client.set_link("v0", mtu=10)
    assert info.value.errno == errno.EINVAL
    assert info.value.kernel_message == "mtu less than device minimum"
    assert ns.link("v0")["mtu"] == 1500


def test_existing_link_name_is_eexist(ns: NS) -> None:
    ns.client.add_veth("v0", "v1")
    with pytest.raises(NetlinkError) as info:
        ns.client.add_bridge("v0")
    assert info.value.errno == errno.EEXIST
    assert info.value.strerror.startswith("add bridge v0: ")


def test_offending_attribute_is_named_from_the_kernels_offset(ns: NS) -> None:
    # a request built by hand, past the builders' checks, with a 19-byte IFLA_IFNAME
    bad = LinkMessage(
        C.RTM_NEWLINK, R.NEW, attrs={"ifname": "a" * 19, "linkinfo": {"kind": "bridge"}}
    )
    with pytest.raises(NetlinkError) as info:
        ns.client.request(bad, "add a bridge by hand")
    e = info.value
    assert e.errno == errno.ERANGE
    assert e.kernel_message == "Attribute failed policy validation"
    assert e.attribute == "IFLA_IFNAME"
    assert e.offset is not None and e.request is bad
    assert "add a bridge by hand" in str(e) and "IFLA_IFNAME" in str(e)


def assert_nothing_sent(ns: NS, before_seq: int, before_links: set[str]) -> None:
    assert ns.client._seq == before_seq  # no request went out
    assert ns.link_names() == before_links


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_veth("a" * 16, "v9"),
        lambda c: c.add_veth("v9", "b" * 16),
        lambda c: c.add_bridge("bridge-name-too-long"),
        lambda c: c.add_vxlan("vxlan-name-too-long", 42),
        lambda c: c.add_macvlan("m" * 16, 1),
        lambda c: c.set_link(1, name="lo-but-much-too-long"),
        lambda c: c.link("l" * 16),
    ],
    ids=["veth", "veth-peer", "bridge", "vxlan", "macvlan", "rename", "get"],
)
def test_name_too_long_is_valueerror_before_anything_is_sent(
    ns: NS, call: Callable[[Client], object]
) -> None:
    seq, links = ns.client._seq, ns.link_names()
    with pytest.raises(ValueError, match="1 to 15 bytes"):
        call(ns.client)
    assert_nothing_sent(ns, seq, links)


def test_name_of_exactly_15_bytes_is_accepted(ns: NS) -> None:
    ns.client.add_veth("a" * 15, "b" * 15)
    assert {"a" * 15, "b" * 15} <= ns.link_names()


@pytest.mark.parametrize(
    "call",
    [
        lambda c, i: c.set_link(i, address="zz:zz"),
        lambda c, i: c.set_link(i, address="02:00:5e:00:53"),  # 5 bytes: no Ethernet MAC
        lambda c, i: c.add_neighbor("192.0.2.5", "not-a-mac", link=i),
        lambda c, i: c.add_neighbor("192.0.2.500", MAC, link=i),
        lambda c, i: c.add_neighbor("192.0.2.5", MAC, link=i, family=C.AF_INET6),
        lambda c, i: c.add_neighbor(None, MAC, link=i),
        lambda c, i: c.add_neighbor("192.0.2.5", MAC, link=i, state="bogus"),
        lambda c, i: c.add_address(i, "192.0.2.300/24"),
        lambda c, i: c.add_address(i, "2001:db8::zz/64"),
        lambda c, i: c.add_route("203.0.113.0/33", oif=i),
        lambda c, i: c.add_route("203.0.113.0/24", gateway="2001:db8::1"),
        lambda c, i: c.add_route("203.0.113.0/24", gateway="192.0.2.2", rtm_type="nope"),
        lambda c, i: c.add_route("203.0.113.0/24", multipath=[("192.0.2.2", i, 0)]),
        lambda c, i: c.delete_address(i, "not an address"),
        lambda c, i: c.add_macvlan("mv0", i, mode="nope"),
        lambda c, i: c.add_vlan("v0.5000", i, 5000),
        lambda c, i: c.add_vxlan("vx0", 1 << 24),
    ],
)
def test_bad_input_is_valueerror_before_anything_is_sent(
    ns: NS, call: Callable[[Client, int], object]
) -> None:
    ns.client.add_veth("v0", "v1")
    index = ns.client.index("v0")
    seq, links = ns.client._seq, ns.link_names()
    with pytest.raises(ValueError):
        call(ns.client, index)
    assert_nothing_sent(ns, seq, links)
    assert addr_info(ns, "v0") == []
    assert [n for n in ns.ip("neigh", "show")] == []


# --- batches --------------------------------------------------------------------------------


def test_batch_maps_each_result_to_its_request(ns: NS) -> None:
    wired(ns)
    msgs = [
        R.route("203.0.113.1/32", gateway="192.0.2.2"),
        R.route("203.0.113.1/32", gateway="192.0.2.2"),  # duplicate of [0]
        R.route("203.0.113.2/32", gateway="192.0.2.2"),
        R.route("203.0.113.3/32", gateway="198.51.100.1"),  # unreachable gateway
        R.route("203.0.113.4/32", gateway="192.0.2.2"),
    ]
    results = ns.client.batch(msgs)
    assert len(results) == 5
    assert results[0] is None and results[2] is None and results[4] is None
    dup, unreach = results[1], results[3]
    assert isinstance(dup, NetlinkError) and dup.errno == errno.EEXIST
    assert dup.request is msgs[1]
    assert isinstance(unreach, NetlinkError) and unreach.errno == errno.ENETUNREACH
    assert unreach.kernel_message == "Nexthop has invalid gateway"
    assert unreach.request is msgs[3]
    assert "203.0.113.3" in str(unreach)
    installed = {r["dst"] for r in ns.ip("route", "show") if r["dst"].startswith("203.0.113.")}
    assert installed == {"203.0.113.1", "203.0.113.2", "203.0.113.4"}


def test_batch_without_errors_applies_everything(ns: NS) -> None:
    wired(ns)
    count = T.BATCH_MESSAGES * 2 + 7  # several datagrams
    msgs = [R.neigh(ns.client.index("v0"), f"192.0.2.{100 + i % 100}", MAC) for i in range(100)]
    msgs += [
        R.route(f"198.51.100.{i % 256}/32", gateway="192.0.2.2", table=100 + i // 256)
        for i in range(count - 100)
    ]
    assert ns.client.batch(msgs) == [None] * count
    routes = sum(len(routes_in_table(ns, 100 + t)) for t in range(3))
    assert routes == count - 100
    assert len(ns.ip("-4", "neigh", "show", "dev", "v0")) == 100


def test_batch_stop_on_error_leaves_later_chunks_not_sent(ns: NS) -> None:
    wired(ns)
    count = T.BATCH_MESSAGES * 3
    msgs = [
        R.route(f"203.0.113.{i % 256}/32", gateway="192.0.2.2", table=100 + i // 256)
        for i in range(count)
    ]
    msgs[5] = R.route("203.0.113.250/32", gateway="198.51.100.1")  # fails in chunk one
    results = ns.client.batch(msgs, stop_on_error=True)
    first = T.BATCH_MESSAGES
    assert isinstance(results[5], NetlinkError) and results[5].errno == errno.ENETUNREACH
    assert all(r is None for k, r in enumerate(results[:first]) if k != 5)
    assert all(r is NOT_SENT for r in results[first:])
    assert len(routes_in_table(ns, 100)) == first - 1
    assert routes_in_table(ns, 101) == routes_in_table(ns, 102) == []


def test_batch_collect_all_goes_on_after_an_error(ns: NS) -> None:
    wired(ns)
    count = T.BATCH_MESSAGES * 2
    msgs = [
        R.route(f"203.0.113.{i % 256}/32", gateway="192.0.2.2", table=100 + i // 256)
        for i in range(count)
    ]
    msgs[5] = R.route("203.0.113.250/32", gateway="198.51.100.1")
    results = ns.client.batch(msgs)
    assert [k for k, r in enumerate(results) if r is not None] == [5]
    assert len(routes_in_table(ns, 101)) == 256


def test_apply_raises_the_first_error_with_all_results(ns: NS) -> None:
    wired(ns)
    msgs = [
        R.route("203.0.113.1/32", gateway="192.0.2.2"),
        R.route("203.0.113.2/32", gateway="198.51.100.1"),
        R.route("203.0.113.1/32", gateway="192.0.2.2"),
    ]
    with pytest.raises(NetlinkError) as info:
        ns.client.apply(msgs)
    assert info.value.errno == errno.ENETUNREACH
    assert info.value.request is msgs[1]
    results = info.value.results
    assert results[0] is None and results[1] is info.value
    assert isinstance(results[2], NetlinkError) and results[2].errno == errno.EEXIST


def test_apply_without_stop_returns_the_results(ns: NS) -> None:
    wired(ns)
    msgs = [
        R.route("203.0.113.1/32", gateway="192.0.2.2"),
        R.route("203.0.113.1/32", gateway="192.0.2.2"),
    ]
    results = ns.client.apply(msgs, stop_on_error=False)
    assert results[0] is None
    assert isinstance(results[1], NetlinkError) and results[1].errno == errno.EEXIST


def test_batch_of_nothing_sends_nothing(ns: NS) -> None:
    seq = ns.client._seq
    assert ns.client.batch([]) == []
    assert ns.client._seq == seq


# --- reply checks (security) ----------------------------------------------------------------

_NLHDR = struct.Struct("=IHHII")


def forger_in(ns: NS) -> socket.socket:
    """A second NETLINK_ROUTE socket of this process, in the client's namespace (netlink
    port ids are per namespace)."""
    with NetNS.open(ns.key) as target, target.entered():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, C.NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock


def forged_error(seq: int, pid: int, code: int) -> bytes:
    echoed = _NLHDR.pack(_NLHDR.size, C.RTM_GETLINK, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, pid)
    body = struct.pack("=i", -code) + echoed
    return _NLHDR.pack(_NLHDR.size + len(body), C.NLMSG_ERROR, 0, seq, pid) + body


# Forged answers from other sockets: the client's socket is connected to the kernel, so
# they are refused (ECONNREFUSED); tests/test_transport_hostile.py checks that, and the
# sender check behind it with an unconnected socket.


def test_kernel_message_with_a_wrong_sequence_number_is_dropped(ns: NS) -> None:
    client = ns.client
    stale_seq = client._seq + 1000
    # a request sent behind the client's back: its answer (a link and an ack) comes from the
    # kernel but carries a sequence number that is in flight for nobody
    stale = LinkMessage(C.RTM_GETLINK, index=1).encode_as(
        C.NLM_F_REQUEST | C.NLM_F_ACK, stale_seq, 0
    )
    client._sock.send(stale)
    dropped = client.dropped
    real = client.link("lo")
    assert real.seq == client._seq != stale_seq
    assert real.get("ifname") == "lo"
    assert client.dropped == dropped + 2  # the stale RTM_NEWLINK and its ack


def test_stale_error_for_an_old_sequence_number_does_not_fail_the_next_request(ns: NS) -> None:
    client = ns.client
    old = R.del_link(999).encode_as(C.NLM_F_REQUEST | C.NLM_F_ACK, client._seq + 500, 0)
    client._sock.send(old)  # the kernel answers ENODEV for a sequence number nobody waits on
    veth_up(ns)
    assert "v0" in ns.link_names()
    assert client.dropped >= 1


def test_one_client_shared_by_many_threads(ns: NS) -> None:
    wired(ns)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                ns.client.add_route(f"198.51.{100 + t}.{i}/32", gateway="192.0.2.2", table=100)
                assert ns.client.link("v0").get("ifname") == "v0"
                assert len(ns.client.routes(table=100)) >= i + 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(routes_in_table(ns, 100)) == 100
    assert ns.client.dropped == 0


# --- lifecycle ------------------------------------------------------------------------------


def test_client_lives_in_its_namespace_and_close_is_idempotent(make_ns: MakeNS) -> None:
    a = make_ns()
    with Client(a.key) as other:
        other.add_bridge("br0")
        assert not other.closed
    assert other.closed
    other.close()
    with pytest.raises(ValueError, match="closed"):
        other.links()
    assert "br0" in a.link_names()
    # the suite's own namespace was not touched
    here = {link["ifname"] for link in run_json("ip", "-j", "link", "show")}
    assert "br0" not in here


def test_client_accepts_a_netns_object_or_fd(make_ns: MakeNS) -> None:
    a = make_ns()
    with NetNS.open(a.key) as target:
        with Client(target) as by_object:
            by_object.add_bridge("br0")
        with Client(target.fd) as by_fd:
            by_fd.add_bridge("br1")
        assert not target.closed
    assert {"br0", "br1"} <= a.link_names()
