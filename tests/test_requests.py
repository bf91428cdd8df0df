"""The request builders (osl.netlink.requests): the messages they make, and the bad input
they refuse before anything could be sent. No kernel needed."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_interface, ip_network

import pytest

from osl import netlink as nl
from osl.netlink import consts as C
from osl.netlink import requests as R


def test_route_via_gateway() -> None:
    msg = R.route("198.51.100.0/24", gateway="192.0.2.1", oif=3, metric=100)
    assert (msg.type, msg.family, msg.dst_len, msg.scope) == (
        C.RTM_NEWROUTE,
        C.AF_INET,
        24,
        C.RT_SCOPE_UNIVERSE,
    )
    assert msg.flags == C.NLM_F_REQUEST | C.NLM_F_CREATE | C.NLM_F_EXCL
    assert (msg.get("dst"), msg.get("gateway"), msg.get("oif"), msg.get("priority")) == (
        IPv4Address("198.51.100.0"),
        IPv4Address("192.0.2.1"),
        3,
        100,
    )
    assert nl.decode(msg.encode()) == [msg]


def test_route_text_and_objects_build_the_same_message() -> None:
    a = R.route("2001:db8:1::/48", gateway="2001:db8::1")
    b = R.route(ip_network("2001:db8:1::/48"), gateway=IPv6Address("2001:db8::1"))
    assert a == b and a.family == C.AF_INET6


def test_default_route_takes_the_gateways_family() -> None:
    msg = R.route("default", gateway="2001:db8::1")
    assert msg.family == C.AF_INET6 and msg.dst_len == 0 and "dst" not in msg.attrs


def test_device_route_is_link_scope() -> None:
    assert R.route("198.51.100.0/24", oif=2).scope == C.RT_SCOPE_LINK


def test_table_above_255_goes_in_rta_table() -> None:
    msg = R.route("198.51.100.0/24", gateway="192.0.2.1", table=1000)
    assert msg.table == C.RT_TABLE_UNSPEC and msg.get("table") == 1000 and msg.table_id == 1000


def test_multipath_weights_become_hops() -> None:
    msg = R.route("198.51.100.0/24", multipath=[("192.0.2.2", 3, 1), ("192.0.2.3", 3, 2)])
    assert [(h.hops, h.attrs["gateway"]) for h in msg.get("multipath")] == [
        (0, IPv4Address("192.0.2.2")),
        (1, IPv4Address("192.0.2.3")),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("198.51.100.1/24",), {}),  # host bits set
        (("198.51.100.0/33",), {}),
        (("198.51.100.0/",), {}),
        (("not-a-network",), {}),
        (("198.51.100.0/24",), {"gateway": "2001:db8::1"}),  # wrong family
        (("198.51.100.0/24",), {"rtm_type": "no-such-type"}),
        (("198.51.100.0/24",), {"oif": 0}),
        (("198.51.100.0/24",), {"multipath": [("192.0.2.2", 3, 0)]}),  # weight 0
    ],
)
def test_bad_route_arguments_raise_value_error(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        R.route(*args, **kwargs)


def test_address_with_nodad_sets_the_32_bit_flags() -> None:
    msg = R.new_addr(2, "2001:db8::10/64", nodad=True)
    assert msg.family == C.AF_INET6 and msg.prefixlen == 64
    assert msg.get("flags") & C.IFA_F_NODAD and msg.ifa_flags & C.IFA_F_NODAD
    v4 = R.new_addr(2, "192.0.2.10/24", label="eth0:1", broadcast="192.0.2.255")
    assert v4.get("local") == v4.get("address") == IPv4Address("192.0.2.10")
    assert v4.get("label") == "eth0:1" and v4.get("broadcast") == IPv4Address("192.0.2.255")


@pytest.mark.parametrize("text", ["192.0.2.10/24", "2001:db8::10/64", "198.51.100.7"])
def test_an_address_given_parsed_encodes_as_its_text_does(text: str) -> None:
    for build in (R.new_addr, R.del_addr):
        assert build(3, ip_interface(text)).encode() == build(3, text).encode()


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b", "a\tb", "a\0b", "a:b", ".", ".."])
def test_bad_interface_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        R.check_ifname(name)


def test_fifteen_byte_name_is_the_longest() -> None:
    assert R.check_ifname("a" * 15) == "a" * 15
    with pytest.raises(ValueError, match="1 to 15 bytes"):
        R.new_veth("a" * 15, "b" * 16)


def test_veth_peer_is_nested_with_its_own_namespace() -> None:
    msg = R.new_veth("v0", "v1", peer_netns_fd=7)
    peer = msg.get("linkinfo")["data"]["peer"]
    assert peer.get("ifname") == "v1" and peer.get("net_ns_fd") == 7
    assert msg.flags & C.NLM_F_EXCL


def test_set_link_changes_only_what_is_asked() -> None:
    msg = R.set_link(4, up=True, mtu=1400)
    assert (msg.ifi_flags, msg.change) == (C.IFF_UP, C.IFF_UP)
    assert msg.attrs.keys() == ["mtu"]
    down = R.set_link(4, up=False, master=0)
    assert (down.ifi_flags, down.change, down.get("master")) == (0, C.IFF_UP, 0)
    with pytest.raises(ValueError, match="MAC"):
        R.set_link(4, address="02:42:c0:00:02")


def test_link_group_requests() -> None:
    msg = R.del_link_group(7)
    assert (msg.type, msg.index, msg.get("group")) == (C.RTM_DELLINK, 0, 7)
    assert msg.encode()[-8:] == bytes.fromhex("08001b00") + (7).to_bytes(4, "little")
    assert R.set_link(3, group=(1 << 32) - 1).get("group") == (1 << 32) - 1
    for bad in (0, -1, 1 << 32, "7", True):
        with pytest.raises(ValueError):
            R.del_link_group(bad)
    with pytest.raises(ValueError):
        R.set_link(3, group=-1)


def test_neighbor_family_follows_the_address() -> None:
    msg = R.neigh(3, "2001:db8::20", "02:42:C0:00:02:14")
    assert msg.family == C.AF_INET6 and msg.state == C.NUD_PERMANENT
    assert msg.get("lladdr") == "02:42:c0:00:02:14"
    fdb = R.neigh(3, "198.51.100.7", "02:42:c0:00:02:14", family=C.AF_BRIDGE, ndm_flags=C.NTF_SELF)
    assert fdb.family == C.AF_BRIDGE and fdb.ndm_flags == C.NTF_SELF
    with pytest.raises(ValueError):
        R.neigh(3, None, None)
    with pytest.raises(ValueError):
        R.neigh(3, "192.0.2.1", "02:42:zz", state="permanent")
    with pytest.raises(ValueError):
        R.neigh(3, "192.0.2.1", "02:42:c0:00:02:14", state="bogus")


def test_vxlan_and_macvlan_and_vlan_data() -> None:
    vx = R.new_vxlan("vx0", 42, local="192.0.2.1", learning=False)
    data = vx.get("linkinfo")["data"]
    assert (data["id"], data["port"], data["local"], data["learning"]) == (
        42,
        4789,
        IPv4Address("192.0.2.1"),
        0,
    )
    assert R.new_macvlan("mv0", 2).get("linkinfo")["data"]["mode"] == 4
    assert R.new_vlan("v.10", 2, 10).get("linkinfo")["data"]["id"] == 10
    with pytest.raises(ValueError):
        R.new_vlan("v.0", 2, 4095)
    with pytest.raises(ValueError):
        R.new_vxlan("vx1", 1 << 24)
